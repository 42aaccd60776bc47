"""Customer 360: everything about a customer an agent needs on one screen.

Policies and their members, claims with their history, advance payments, complaints,
callbacks, follow-ups, the channels the customer verified on and their recent
conversations; only for an agent who may see the customer (403 otherwise)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from desk.analytics.tags import behaviour_tags
from desk.casework.access import _callback_team, _with_team, viewer_for
from desk.casework.errors import _forbidden, _not_found
from desk.casework.views import _callback_view, _complaint_view, _follow_up_view, _names
from desk.clock import aware, iso
from store.identifiers import mask_id_card, mask_mobile
from store.models import (
    AdvancePayment,
    Agent,
    Callback,
    ChannelIdentity,
    Claim,
    Complaint,
    Conversation,
    Customer,
    FollowUp,
    Policy,
)


def _money(value) -> str | None:
    return str(value) if value is not None else None


def _day(value) -> str | None:
    return value.isoformat() if value is not None else None


async def customer_360(
    session: AsyncSession, agent: Agent, customer_id: int, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """Everything about a customer an agent needs on one screen (403 unless they may see them)."""
    viewer = await viewer_for(session, agent)
    if not viewer.sees(customer_id):
        raise _forbidden("You have no case with this customer.")
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise _not_found("customer")
    policies = (
        await session.scalars(
            select(Policy)
            .where(Policy.holder_id == customer_id)
            .options(
                selectinload(Policy.members),
                selectinload(Policy.claims).selectinload(Claim.history),
            )
            .order_by(Policy.effective_date.desc())
        )
    ).all()
    advance_payments = (
        await session.execute(
            select(AdvancePayment, Policy.number)
            .join(Policy, Policy.id == AdvancePayment.policy_id)
            .where(AdvancePayment.customer_id == customer_id)
            .order_by(AdvancePayment.id.desc())
        )
    ).all()
    complaints = (
        await session.scalars(
            select(Complaint).where(Complaint.customer_id == customer_id).order_by(Complaint.id)
        )
    ).all()
    callbacks = (
        await session.execute(
            _with_team(select(Callback, _callback_team()))
            .where(Callback.customer_id == customer_id)
            .order_by(Callback.window_start)
        )
    ).all()
    follow_ups = (
        await session.scalars(
            select(FollowUp).where(FollowUp.customer_id == customer_id).order_by(FollowUp.due_at)
        )
    ).all()
    conversations = (
        await session.scalars(
            select(Conversation)
            .where(Conversation.customer_id == customer_id)
            .options(selectinload(Conversation.assigned_agent))
            .order_by(Conversation.id.desc())
            .limit(50)
        )
    ).all()
    identities = (
        await session.scalars(
            select(ChannelIdentity)
            .where(ChannelIdentity.customer_id == customer_id)
            .order_by(ChannelIdentity.last_seen_at.desc())
        )
    ).all()
    names = await _names(session, [*complaints, *follow_ups, *(c for c, _ in callbacks)])
    claims = sorted(
        (claim for policy in policies for claim in policy.claims),
        key=lambda c: aware(c.submitted_at),
        reverse=True,
    )
    return {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "gender": customer.gender,
            "birth_date": _day(customer.birth_date),
            "province": customer.province,
            "city": customer.city,
            "city_tier": customer.city_tier,
            "mobile": mask_mobile(customer.mobile),
            "id_card_number": mask_id_card(customer.id_card_number),
            "has_social_insurance": customer.has_social_insurance,
            "tags": list(customer.tags or []),
            # What they did (claims, complaints, channels, ratings...), worked out now.
            "behaviour": (await behaviour_tags(session, [customer.id], now))[customer.id],
        },
        "policies": [
            {
                "number": p.number,
                "product_name": p.product_name,
                "kind": p.kind.value,
                "status": p.status.value,
                "sum_insured": _money(p.sum_insured),
                "premium": _money(p.premium),
                "effective_date": _day(p.effective_date),
                "expiry_date": _day(p.expiry_date),
                "members": [{"name": m.name, "relation": m.relation} for m in p.members],
            }
            for p in policies
        ],
        "claims": [
            {
                "number": c.number,
                "policy_number": next(p.number for p in policies if p.id == c.policy_id),
                "kind": c.kind.value,
                "stage": c.stage.value,
                "incident_date": _day(c.incident_date),
                "hospital": c.hospital,
                "amount_claimed": _money(c.amount_claimed),
                "amount_approved": _money(c.amount_approved),
                "amount_paid": _money(c.amount_paid),
                "missing_documents": list(c.missing_documents or []),
                "submitted_at": iso(c.submitted_at),
                "history": [
                    {"stage": h.stage.value, "at": iso(h.at), "note": h.note} for h in c.history
                ],
            }
            for c in claims
        ],
        "advance_payments": [
            {
                "number": a.number,
                "policy_number": policy_number,
                "hospital": a.hospital,
                "admission_date": _day(a.admission_date),
                "estimated_amount": _money(a.estimated_amount),
                "status": a.status.value,
                "created_at": iso(a.created_at),
            }
            for a, policy_number in advance_payments
        ],
        "complaints": [_complaint_view(c, names, viewer, now) for c in complaints],
        "callbacks": [_callback_view(c, team, names, viewer, now, tz) for c, team in callbacks],
        "follow_ups": [_follow_up_view(f, names, viewer, now) for f in follow_ups],
        # Where the customer has verified: one customer across channels.
        "channels": [
            {
                "channel": i.channel,
                "verified_at": iso(i.verified_at),
                "last_seen_at": iso(i.last_seen_at),
            }
            for i in identities
        ],
        "conversations": [
            {
                "id": c.id,
                "channel": c.channel,
                "state": c.state.value,
                "created_at": iso(c.created_at),
                "resolved_at": iso(c.resolved_at),
                "resolution_reason": c.resolution_reason,
                "labels": list(c.labels or []),
                "assigned_agent_name": c.assigned_agent.display_name if c.assigned_agent else None,
            }
            for c in conversations
        ],
    }
