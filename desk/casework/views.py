"""What the console shows of callbacks, follow-ups and complaints (their *View dicts).

Names and numbers are shown in full only to a viewer who may see the customer or work
the item; everyone else sees them masked. Ids come with the names they stand for,
loaded once per list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.casework.access import Viewer, _callback_team, _may_work_callback, _with_team
from desk.casework.inputs import ACTIVE, SERVICE_ZONE
from desk.clock import aware, iso
from store.identifiers import mask_mobile
from store.models import AdvancePayment, Agent, Callback, Claim, Complaint, Customer, FollowUp

# The most rows a list answers with.
LIST_LIMIT = 500


def _mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if name else name


def _named(names: dict[int, str], key: int | None) -> str | None:
    """The name an id stands for; None when there is no id."""
    return names.get(key) if key is not None else None


@dataclass
class _Names:
    """What the views show instead of bare ids, loaded once per list."""

    customers: dict[int, Customer] = field(default_factory=dict)
    agents: dict[int, str] = field(default_factory=dict)
    complaints: dict[int, str] = field(default_factory=dict)
    claims: dict[int, str] = field(default_factory=dict)
    advance_payments: dict[int, str] = field(default_factory=dict)

    def customer_name(self, customer_id: int | None, full: bool) -> str | None:
        customer = self.customers.get(customer_id) if customer_id else None
        if customer is None:
            return None
        return customer.name if full else _mask_name(customer.name)


async def _names(session: AsyncSession, rows: list[Any]) -> _Names:
    def ids(*attributes: str) -> set[int]:
        return {
            value
            for row in rows
            for attribute in attributes
            if (value := getattr(row, attribute, None)) is not None
        }

    async def pairs(column_id, column_value, wanted: set[int]) -> dict[int, Any]:
        if not wanted:
            return {}
        query = select(column_id, column_value).where(column_id.in_(wanted))
        return {key: value for key, value in (await session.execute(query)).all()}

    names = _Names()
    wanted = ids("customer_id")
    if wanted:
        found = await session.scalars(select(Customer).where(Customer.id.in_(wanted)))
        names.customers = {c.id: c for c in found}
    agent_ids = ids("assigned_agent_id", "assignee_agent_id", "owner_agent_id")
    names.agents = await pairs(Agent.id, Agent.display_name, agent_ids)
    names.complaints = await pairs(Complaint.id, Complaint.number, ids("complaint_id"))
    names.claims = await pairs(Claim.id, Claim.number, ids("claim_id"))
    names.advance_payments = await pairs(
        AdvancePayment.id, AdvancePayment.number, ids("advance_payment_id")
    )
    return names


def _callback_view(
    callback: Callback,
    team: str,
    names: _Names,
    viewer: Viewer | None,
    now: datetime,
    tz: ZoneInfo,
) -> dict[str, Any]:
    # Whoever may make the call needs the real number; everyone else sees it masked.
    full = viewer is not None and (
        viewer.sees(callback.customer_id) or _may_work_callback(viewer.agent, callback, team)
    )
    start, end = aware(callback.window_start), aware(callback.window_end)
    active = callback.status in ACTIVE
    return {
        "id": callback.id,
        "customer_id": callback.customer_id,
        "customer_name": names.customer_name(callback.customer_id, full),
        "conversation_id": callback.conversation_id,
        "complaint_id": callback.complaint_id,
        "complaint_number": _named(names.complaints, callback.complaint_id),
        "phone": callback.phone if full else mask_mobile(callback.phone),
        "window_start": iso(start),
        "window_end": iso(end),
        "reason": callback.reason,
        "status": callback.status.value,
        "team": team,
        "assigned_agent_id": callback.assigned_agent_id,
        "assigned_agent_name": _named(names.agents, callback.assigned_agent_id),
        "created_by_agent_id": callback.created_by_agent_id,
        "attempts": list(callback.attempts or []),
        "overdue": active and end < now,
        "due_today": start.astimezone(tz).date() == now.astimezone(tz).date(),
        "reminded_at": iso(callback.reminded_at),
        "created_at": iso(callback.created_at),
    }


def _follow_up_view(
    follow_up: FollowUp, names: _Names, viewer: Viewer, now: datetime
) -> dict[str, Any]:
    return {
        "id": follow_up.id,
        "kind": follow_up.kind,
        "title": follow_up.title,
        "customer_id": follow_up.customer_id,
        "customer_name": names.customer_name(
            follow_up.customer_id, viewer.sees(follow_up.customer_id)
        ),
        "conversation_id": follow_up.conversation_id,
        "complaint_id": follow_up.complaint_id,
        "complaint_number": _named(names.complaints, follow_up.complaint_id),
        "claim_id": follow_up.claim_id,
        "claim_number": _named(names.claims, follow_up.claim_id),
        "advance_payment_id": follow_up.advance_payment_id,
        "advance_payment_number": _named(names.advance_payments, follow_up.advance_payment_id),
        "team": follow_up.team,
        "assignee_agent_id": follow_up.assignee_agent_id,
        "assignee_agent_name": _named(names.agents, follow_up.assignee_agent_id),
        "due_at": iso(follow_up.due_at),
        "status": follow_up.status.value,
        "overdue": follow_up.status in ACTIVE and aware(follow_up.due_at) < now,
        "history": list(follow_up.history or []),
        "created_at": iso(follow_up.created_at),
    }


def _complaint_view(
    complaint: Complaint, names: _Names, viewer: Viewer, now: datetime
) -> dict[str, Any]:
    customer = names.customers.get(complaint.customer_id) if complaint.customer_id else None
    return {
        "id": complaint.id,
        "number": complaint.number,
        "customer_id": complaint.customer_id,
        "customer_name": names.customer_name(
            complaint.customer_id, viewer.sees(complaint.customer_id)
        ),
        # Shown masked, as the default number of a callback scheduled from the board.
        "customer_mobile": mask_mobile(customer.mobile) if customer else None,
        "conversation_id": complaint.conversation_id,
        "category": complaint.category,
        "description": complaint.description,
        "desired_outcome": complaint.desired_outcome,
        "status": complaint.status.value,
        "owner_agent_id": complaint.owner_agent_id,
        "owner_agent_name": _named(names.agents, complaint.owner_agent_id),
        "due_at": iso(complaint.due_at),
        "overdue": complaint.status in ACTIVE and aware(complaint.due_at) < now,
        "history": list(complaint.history or []),
        "created_at": iso(complaint.created_at),
    }


async def callback_views(
    session: AsyncSession,
    rows: list[tuple[Callback, str]],
    viewer: Viewer | None,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> list[dict[str, Any]]:
    """CallbackViews of (callback, team) rows; `viewer=None` masks names and numbers
    (for pushes to a room of several agents)."""
    names = await _names(session, [callback for callback, _ in rows])
    return [_callback_view(c, team, names, viewer, now, tz) for c, team in rows]


async def callback_view(
    session: AsyncSession,
    callback: Callback,
    viewer: Viewer | None = None,
    now: datetime | None = None,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """One CallbackView. Without a viewer (a `reminder` pushed to a room) names and
    numbers are masked; `team` names the pool whose room gets it when unassigned."""
    team = await session.scalar(
        _with_team(select(_callback_team())).where(Callback.id == callback.id)
    )
    rows = [(callback, team)]
    return (await callback_views(session, rows, viewer, now or datetime.now(UTC), tz))[0]
