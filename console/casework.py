"""Casework around conversations: customer 360, callbacks, follow-ups and complaints.

Who may see what (the console's contract):
- supervisors and admins see and act on everything; trainers see no customer data;
- an agent works on what is theirs (assigned to them) or waiting in their team's pool
  (a conversation queued for their team, an unassigned callback or follow-up of their
  team, an unowned complaint when they are on the complaints team). Those items are what
  let them see a customer's personal data and 360; elsewhere names and numbers are masked.

Every function takes the caller's session (the caller commits) and the acting agent;
a refusal raises `CaseworkError`, which the HTTP API turns into a JSON error. Times are
stored in UTC; input without an offset is read in the service time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from console.conversations import ConversationError, aware, iso, supervises
from store.identifiers import mask_id_card, mask_mobile
from store.models import (
    AdvancePayment,
    Agent,
    AgentRole,
    Callback,
    ChannelIdentity,
    Claim,
    Complaint,
    Conversation,
    ConversationState,
    Customer,
    Event,
    FollowUp,
    Policy,
    TaskStatus,
    Team,
)

SERVICE_ZONE = ZoneInfo("Asia/Shanghai")
ACTIVE = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)
CALLBACK_SCOPES = ("mine", "due_today", "overdue", "open", "all")
FOLLOW_UP_SCOPES = ("mine", "team", "all")
OUTCOMES = ("reached", "no_answer", "rescheduled")
# Status filters of the lists: one status, "active" (open or in progress) or "all".
STATUS_FILTERS = ("active", "all", *(s.value for s in TaskStatus))
COMPLAINTS_TEAM = "complaints"
# A callback reminder goes out this long before its window opens.
REMIND_AHEAD = timedelta(minutes=5)
MAX_TEXT = 1000
MAX_TITLE = 200
LIST_LIMIT = 500
PHONE = re.compile(r"\+?\d{6,15}")


class UnsetType:
    """A field the request left out (as opposed to one sent as null)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = UnsetType()


class CaseworkError(ConversationError):
    """A casework request that is malformed (400) or not allowed (403, 404, 409)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(code, message, status)


def _forbidden(message: str = "This is not yours to see.") -> CaseworkError:
    return CaseworkError("forbidden", message, 403)


def _not_found(what: str) -> CaseworkError:
    return CaseworkError("not_found", f"No such {what}.", 404)


# ---- who sees what ---------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The acting agent and the customers whose personal data they may see."""

    agent: Agent
    customers: frozenset[int] | None  # None: every customer

    def sees(self, customer_id: int | None) -> bool:
        return customer_id is not None and (self.customers is None or customer_id in self.customers)


def _callback_team() -> ColumnElement[str]:
    """The team whose pool a callback is in: complaints for a complaint's callback,
    else its conversation's team (needs the outer join to Conversation)."""
    return case(
        (Callback.complaint_id.is_not(None), COMPLAINTS_TEAM),
        else_=func.coalesce(Conversation.team, "general"),
    )


def _with_team(query):
    return query.select_from(Callback).outerjoin(
        Conversation, Conversation.id == Callback.conversation_id
    )


def _workable_customers(agent: Agent):
    """Customer ids of everything the agent works on or may pick up from their team's pool."""
    me, team = agent.id, agent.team
    complaints = Complaint.owner_agent_id == me
    if team == COMPLAINTS_TEAM:
        complaints = or_(complaints, Complaint.owner_agent_id.is_(None))
    return union(
        select(Conversation.customer_id).where(
            or_(
                Conversation.assigned_agent_id == me,
                and_(Conversation.state == ConversationState.QUEUED, Conversation.team == team),
            )
        ),
        _with_team(select(Callback.customer_id)).where(
            or_(
                Callback.assigned_agent_id == me,
                and_(Callback.assigned_agent_id.is_(None), _callback_team() == team),
            )
        ),
        select(FollowUp.customer_id).where(
            or_(
                FollowUp.assignee_agent_id == me,
                and_(FollowUp.assignee_agent_id.is_(None), FollowUp.team == team),
            )
        ),
        select(Complaint.customer_id).where(complaints),
    )


async def viewer_for(session: AsyncSession, agent: Agent) -> Viewer:
    """The agent as a viewer of casework; trainers are refused (403)."""
    if agent.role == AgentRole.TRAINER:
        raise _forbidden("Trainers do not see customer data.")
    if supervises(agent):
        return Viewer(agent, None)
    ids = await session.scalars(_workable_customers(agent))
    return Viewer(agent, frozenset(i for i in ids if i is not None))


async def may_see_customer(session: AsyncSession, agent: Agent, customer_id: int) -> bool:
    """Whether the agent may see this customer's 360 and personal data."""
    if agent.role == AgentRole.TRAINER:
        return False
    return (await viewer_for(session, agent)).sees(customer_id)


def _may_work_callback(agent: Agent, callback: Callback, team: str) -> bool:
    if supervises(agent) or callback.assigned_agent_id == agent.id:
        return True
    return callback.assigned_agent_id is None and team == agent.team


def _may_work_follow_up(agent: Agent, follow_up: FollowUp) -> bool:
    return (
        supervises(agent) or follow_up.assignee_agent_id == agent.id or follow_up.team == agent.team
    )


def _complaint_visible(agent: Agent) -> ColumnElement[bool] | None:
    """The complaints an agent sees (None: all): their own, or all on the complaints team."""
    if supervises(agent) or agent.team == COMPLAINTS_TEAM:
        return None
    return Complaint.owner_agent_id == agent.id


def _may_work_complaint(agent: Agent, complaint: Complaint) -> bool:
    return (
        supervises(agent) or agent.team == COMPLAINTS_TEAM or complaint.owner_agent_id == agent.id
    )


def _may_work_conversation(agent: Agent, conversation: Conversation) -> bool:
    if supervises(agent) or conversation.assigned_agent_id == agent.id:
        return True
    return conversation.state == ConversationState.QUEUED and conversation.team == agent.team


# ---- input -----------------------------------------------------------------------------


def parse_time(value: Any, name: str, tz: ZoneInfo = SERVICE_ZONE) -> datetime:
    """ISO 8601 (a datetime-local input's value too); without an offset it is local time."""
    if not isinstance(value, str) or not value.strip():
        raise CaseworkError("bad_time", f"{name} is required (ISO 8601, e.g. 2026-11-05T10:00).")
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise CaseworkError(
            "bad_time", f"{name} is not a date and time (ISO 8601, e.g. 2026-11-05T10:00)."
        ) from exc
    return (at if at.tzinfo else at.replace(tzinfo=tz)).astimezone(UTC)


def _window(start: Any, end: Any, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    window_start = parse_time(start, "window_start", tz)
    window_end = parse_time(end, "window_end", tz)
    if window_end <= window_start:
        raise CaseworkError("bad_window", "window_end must be after window_start.")
    if window_end <= now:
        raise CaseworkError("window_in_past", "The callback window has already passed.")
    return window_start, window_end


def _id(value: Any, name: str) -> int | None:
    """An id from JSON (int) or a form (digits); None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CaseworkError("bad_id", f"{name} must be a number.")
    try:
        return int(value)
    except ValueError as exc:
        raise CaseworkError("bad_id", f"{name} must be a number.") from exc


def _text(value: Any, name: str, limit: int = MAX_TEXT, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise CaseworkError(f"{name}_required", f"{name} is required.")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise CaseworkError(f"bad_{name}", f"{name} must be text of at most {limit} characters.")
    return value.strip()


def _status(value: Any) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError as exc:
        raise CaseworkError(
            "bad_status", "status must be one of open, in_progress, done, cancelled."
        ) from exc


def _status_filter(value: str | None, column) -> ColumnElement[bool] | None:
    if value in (None, "", "all"):
        return None
    if value == "active":
        return column.in_(ACTIVE)
    return column == _status(value)


async def _assignee(session: AsyncSession, value: Any, name: str) -> Agent | None:
    """The agent a task goes to: an active colleague who works cases (not a trainer)."""
    agent_id = _id(value, name)
    if agent_id is None:
        return None
    agent = await session.get(Agent, agent_id)
    if agent is None or not agent.is_active or agent.role == AgentRole.TRAINER:
        raise CaseworkError("unknown_agent", f"{name}: no such active agent.")
    return agent


def _event(
    session: AsyncSession,
    kind: str,
    agent: Agent,
    *,
    customer_id: int | None,
    conversation_id: int | None = None,
    **data: Any,
) -> None:
    session.add(
        Event(
            kind=kind,
            agent_id=agent.id,
            customer_id=customer_id,
            conversation_id=conversation_id,
            data=data,
        )
    )


def _entry(agent: Agent, now: datetime, **details: Any) -> dict[str, Any]:
    """One line of a row's history: when, who, and what changed."""
    return {
        "at": now.isoformat(),
        "by": agent.username,
        "by_name": agent.display_name,
        "agent_id": agent.id,
        **details,
    }


# ---- views -----------------------------------------------------------------------------


def _mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if name else name


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
        "complaint_number": names.complaints.get(callback.complaint_id),
        "phone": callback.phone if full else mask_mobile(callback.phone),
        "window_start": iso(start),
        "window_end": iso(end),
        "reason": callback.reason,
        "status": callback.status.value,
        "team": team,
        "assigned_agent_id": callback.assigned_agent_id,
        "assigned_agent_name": names.agents.get(callback.assigned_agent_id),
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
        "complaint_number": names.complaints.get(follow_up.complaint_id),
        "claim_id": follow_up.claim_id,
        "claim_number": names.claims.get(follow_up.claim_id),
        "advance_payment_id": follow_up.advance_payment_id,
        "advance_payment_number": names.advance_payments.get(follow_up.advance_payment_id),
        "team": follow_up.team,
        "assignee_agent_id": follow_up.assignee_agent_id,
        "assignee_agent_name": names.agents.get(follow_up.assignee_agent_id),
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
        "owner_agent_name": names.agents.get(complaint.owner_agent_id),
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


# ---- customer 360 ----------------------------------------------------------------------


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


# ---- callbacks -------------------------------------------------------------------------


def _local_day(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Today in the service time zone, as a UTC range."""
    start = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def list_callbacks(
    session: AsyncSession, agent: Agent, scope: str, now: datetime, tz: ZoneInfo = SERVICE_ZONE
) -> list[dict[str, Any]]:
    """Callbacks by scope (mine, due_today, overdue, open, all), soonest window first.

    An agent sees the callbacks assigned to them and their team's unassigned ones."""
    if scope not in CALLBACK_SCOPES:
        raise CaseworkError("bad_scope", f"scope must be one of {', '.join(CALLBACK_SCOPES)}.")
    viewer = await viewer_for(session, agent)
    team = _callback_team()
    query = _with_team(select(Callback, team))
    if not supervises(agent):
        query = query.where(
            or_(
                Callback.assigned_agent_id == agent.id,
                and_(Callback.assigned_agent_id.is_(None), team == agent.team),
            )
        )
    if scope != "all":
        query = query.where(Callback.status.in_(ACTIVE))
    if scope == "mine":
        query = query.where(Callback.assigned_agent_id == agent.id)
    elif scope == "due_today":
        start, end = _local_day(now, tz)
        query = query.where(Callback.window_start >= start, Callback.window_start < end)
    elif scope == "overdue":
        query = query.where(Callback.window_end < now)
    rows = (
        await session.execute(query.order_by(Callback.window_start, Callback.id).limit(LIST_LIMIT))
    ).all()
    return await callback_views(session, [tuple(row) for row in rows], viewer, now, tz)


async def schedule_callback(
    session: AsyncSession,
    agent: Agent,
    *,
    window_start: Any = None,
    window_end: Any = None,
    reason: Any = None,
    conversation_id: Any = None,
    complaint_id: Any = None,
    phone: Any = None,
    assigned_agent_id: Any = UNSET,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """A callback from a conversation or a complaint. The number defaults to the
    customer's mobile on file; it goes to the scheduling agent unless another agent
    (or null: the team's pool) is named."""
    viewer = await viewer_for(session, agent)
    conversation_id = _id(conversation_id, "conversation_id")
    complaint_id = _id(complaint_id, "complaint_id")
    if conversation_id is None and complaint_id is None:
        raise CaseworkError("link_required", "Give the conversation_id or the complaint_id.")
    customer_ids: set[int | None] = set()
    if conversation_id is not None:
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise _not_found("conversation")
        if not _may_work_conversation(agent, conversation):
            raise _forbidden("This conversation is not yours.")
        customer_ids.add(conversation.customer_id)
    if complaint_id is not None:
        complaint = await session.get(Complaint, complaint_id)
        if complaint is None:
            raise _not_found("complaint")
        if not _may_work_complaint(agent, complaint):
            raise _forbidden("This complaint is not yours.")
        customer_ids.add(complaint.customer_id)
    if len(customer_ids) > 1:
        raise CaseworkError(
            "mismatch", "The conversation and the complaint are not one customer's."
        )
    customer_id = next(iter(customer_ids), None)
    start, end = _window(window_start, window_end, now, tz)
    reason = _text(reason, "reason", required=True)
    number = _text(phone, "phone", limit=32)
    if number is None:
        customer = await session.get(Customer, customer_id) if customer_id else None
        if customer is None:
            raise CaseworkError("phone_required", "The customer is not verified: give a phone.")
        number = customer.mobile
    number = re.sub(r"[\s-]", "", number)
    if not PHONE.fullmatch(number):
        raise CaseworkError("bad_phone", "phone must be 6 to 15 digits.")
    assignee = (
        agent
        if assigned_agent_id is UNSET
        else await _assignee(session, assigned_agent_id, "assigned_agent_id")
    )
    callback = Callback(
        customer_id=customer_id,
        conversation_id=conversation_id,
        complaint_id=complaint_id,
        phone=number,
        window_start=start,
        window_end=end,
        reason=reason,
        status=TaskStatus.OPEN,
        assigned_agent_id=assignee.id if assignee else None,
        attempts=[],
        created_by_agent_id=agent.id,
    )
    session.add(callback)
    await session.flush()
    _event(
        session,
        "callback_scheduled",
        agent,
        customer_id=customer_id,
        conversation_id=conversation_id,
        callback_id=callback.id,
        complaint_id=complaint_id,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        assigned_agent_id=callback.assigned_agent_id,
    )
    return await callback_view(session, callback, viewer, now, tz)


async def log_attempt(
    session: AsyncSession,
    agent: Agent,
    callback_id: int,
    *,
    outcome: Any,
    note: Any = None,
    window_start: Any = None,
    window_end: Any = None,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """One call attempt: reached closes the callback, no_answer keeps it open (the
    agent tries again; how often shows in the history), rescheduled moves the window
    (and re-arms the reminder). An unassigned callback goes to whoever calls."""
    viewer = await viewer_for(session, agent)
    row = (
        await session.execute(
            _with_team(select(Callback, _callback_team())).where(Callback.id == callback_id)
        )
    ).first()
    if row is None:
        raise _not_found("callback")
    callback, team = row
    if not _may_work_callback(agent, callback, team):
        raise _forbidden("This callback is someone else's.")
    if callback.status not in ACTIVE:
        raise CaseworkError("closed", f"The callback is already {callback.status.value}.", 409)
    if outcome not in OUTCOMES:
        raise CaseworkError("unknown_outcome", f"outcome must be one of {', '.join(OUTCOMES)}.")
    entry = _entry(agent, now, outcome=outcome, note=_text(note, "note"))
    if outcome == "rescheduled":
        if not window_start or not window_end:
            raise CaseworkError("window_required", "A rescheduled callback needs a new window.")
        start, end = _window(window_start, window_end, now, tz)
        entry |= {
            "previous_window": [iso(callback.window_start), iso(callback.window_end)],
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
        }
        callback.window_start, callback.window_end = start, end
        callback.reminded_at = None
    elif outcome == "reached":
        callback.status = TaskStatus.DONE
    if callback.assigned_agent_id is None:
        callback.assigned_agent_id = agent.id
    # A new list, so that SQLAlchemy sees the JSON column change.
    callback.attempts = [*(callback.attempts or []), entry]
    _event(
        session,
        "callback_attempt",
        agent,
        customer_id=callback.customer_id,
        conversation_id=callback.conversation_id,
        callback_id=callback.id,
        outcome=outcome,
        attempt=len(callback.attempts),
    )
    await session.flush()
    return (await callback_views(session, [(callback, team)], viewer, now, tz))[0]


async def due_callbacks(session: AsyncSession, now: datetime) -> list[Callback]:
    """Open callbacks whose window opens within REMIND_AHEAD and that have not been
    reminded yet; marks them reminded (the caller commits and pushes `reminder`)."""
    rows = (
        await session.scalars(
            select(Callback)
            .where(
                Callback.status.in_(ACTIVE),
                Callback.reminded_at.is_(None),
                Callback.window_start <= now + REMIND_AHEAD,
            )
            .order_by(Callback.window_start, Callback.id)
            # Several console processes may run the scheduler: each callback once.
            .with_for_update(skip_locked=True)
        )
    ).all()
    for callback in rows:
        callback.reminded_at = now
    await session.flush()
    return list(rows)


# ---- follow-ups ------------------------------------------------------------------------


async def list_follow_ups(
    session: AsyncSession,
    agent: Agent,
    scope: str,
    status: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Follow-ups by scope (mine: assigned to me; team: my team's; all: everything I may
    see), soonest due first; `status` is one status, active or all."""
    if scope not in FOLLOW_UP_SCOPES:
        raise CaseworkError("bad_scope", f"scope must be one of {', '.join(FOLLOW_UP_SCOPES)}.")
    viewer = await viewer_for(session, agent)
    query = select(FollowUp)
    if scope == "mine":
        query = query.where(FollowUp.assignee_agent_id == agent.id)
    elif scope == "team":
        query = query.where(FollowUp.team == agent.team)
    elif not supervises(agent):
        query = query.where(
            or_(FollowUp.assignee_agent_id == agent.id, FollowUp.team == agent.team)
        )
    if (condition := _status_filter(status, FollowUp.status)) is not None:
        query = query.where(condition)
    rows = (
        await session.scalars(query.order_by(FollowUp.due_at, FollowUp.id).limit(LIST_LIMIT))
    ).all()
    names = await _names(session, list(rows))
    return [_follow_up_view(f, names, viewer, now) for f in rows]


async def _team(session: AsyncSession, code: Any) -> str:
    if not isinstance(code, str) or not await session.scalar(
        select(Team.id).where(Team.code == code)
    ):
        raise CaseworkError("unknown_team", "team: no such team.")
    return code


async def create_follow_up(
    session: AsyncSession,
    agent: Agent,
    *,
    title: Any = None,
    due_at: Any = None,
    team: Any = None,
    assignee_agent_id: Any = UNSET,
    conversation_id: Any = None,
    complaint_id: Any = None,
    claim_number: Any = None,
    advance_payment_number: Any = None,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """A task linked to one conversation, complaint, claim or advance payment. It goes
    to the creating agent unless another (or null: the team's pool) is named; the team
    defaults to the assignee's, else the creator's."""
    viewer = await viewer_for(session, agent)
    links = {
        "conversation_id": conversation_id,
        "complaint_id": complaint_id,
        "claim_number": claim_number,
        "advance_payment_number": advance_payment_number,
    }
    given = [name for name, value in links.items() if value not in (None, "")]
    if len(given) != 1:
        raise CaseworkError(
            "link_required",
            "Link exactly one of conversation_id, complaint_id, claim_number, "
            "advance_payment_number.",
        )
    follow_up = FollowUp(status=TaskStatus.OPEN)
    match given[0]:
        case "conversation_id":
            conversation = await session.get(Conversation, _id(conversation_id, given[0]))
            if conversation is None:
                raise _not_found("conversation")
            if not _may_work_conversation(agent, conversation):
                raise _forbidden("This conversation is not yours.")
            follow_up.kind, follow_up.conversation_id = "conversation", conversation.id
            follow_up.customer_id = conversation.customer_id
        case "complaint_id":
            complaint = await session.get(Complaint, _id(complaint_id, given[0]))
            if complaint is None:
                raise _not_found("complaint")
            if not _may_work_complaint(agent, complaint):
                raise _forbidden("This complaint is not yours.")
            follow_up.kind, follow_up.complaint_id = "complaint", complaint.id
            follow_up.customer_id = complaint.customer_id
            follow_up.conversation_id = complaint.conversation_id
        case "claim_number":
            found = (
                await session.execute(
                    select(Claim.id, Policy.holder_id)
                    .join(Policy, Policy.id == Claim.policy_id)
                    .where(Claim.number == str(claim_number).strip().upper())
                )
            ).first()
            if found is None:
                raise _not_found("claim")
            if not viewer.sees(found.holder_id):
                raise _forbidden("You have no case with this customer.")
            follow_up.kind = "claim"
            follow_up.claim_id, follow_up.customer_id = found
        case _:
            found = (
                await session.execute(
                    select(AdvancePayment.id, AdvancePayment.customer_id).where(
                        AdvancePayment.number == str(advance_payment_number).strip().upper()
                    )
                )
            ).first()
            if found is None:
                raise _not_found("advance payment")
            if not viewer.sees(found.customer_id):
                raise _forbidden("You have no case with this customer.")
            follow_up.kind = "advance_payment"
            follow_up.advance_payment_id, follow_up.customer_id = found
    follow_up.title = _text(title, "title", limit=MAX_TITLE, required=True)
    follow_up.due_at = parse_time(due_at, "due_at", tz)
    if follow_up.due_at <= now:
        raise CaseworkError("due_in_past", "due_at must be in the future.")
    assignee = (
        agent
        if assignee_agent_id is UNSET
        else await _assignee(session, assignee_agent_id, "assignee_agent_id")
    )
    follow_up.assignee_agent_id = assignee.id if assignee else None
    follow_up.team = await _team(session, team) if team else (assignee or agent).team
    follow_up.history = [
        _entry(
            agent, now, status="open", note="created", assignee_agent_id=assignee and assignee.id
        )
    ]
    session.add(follow_up)
    await session.flush()
    _event(
        session,
        "follow_up_created",
        agent,
        customer_id=follow_up.customer_id,
        conversation_id=follow_up.conversation_id,
        follow_up_id=follow_up.id,
        follow_up_kind=follow_up.kind,
        team=follow_up.team,
        assignee_agent_id=follow_up.assignee_agent_id,
    )
    return _follow_up_view(follow_up, await _names(session, [follow_up]), viewer, now)


async def update_follow_up(
    session: AsyncSession,
    agent: Agent,
    follow_up_id: int,
    *,
    status: Any = None,
    assignee_agent_id: Any = UNSET,
    due_at: Any = None,
    note: Any = None,
    now: datetime,
    tz: ZoneInfo = SERVICE_ZONE,
) -> dict[str, Any]:
    """Change a follow-up's status, assignee (null: back to the team) or due date, with
    a note; the history keeps every change."""
    viewer = await viewer_for(session, agent)
    follow_up = await session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise _not_found("follow-up")
    if not _may_work_follow_up(agent, follow_up):
        raise _forbidden("This follow-up is another team's.")
    changes: dict[str, Any] = {}
    if status not in (None, ""):
        if (new_status := _status(status)) != follow_up.status:
            follow_up.status = changes["status"] = new_status
    if assignee_agent_id is not UNSET:
        assignee = await _assignee(session, assignee_agent_id, "assignee_agent_id")
        if (new_id := assignee.id if assignee else None) != follow_up.assignee_agent_id:
            follow_up.assignee_agent_id = changes["assignee_agent_id"] = new_id
    if due_at not in (None, ""):
        due = parse_time(due_at, "due_at", tz)
        if due != aware(follow_up.due_at):
            if due <= now:
                raise CaseworkError("due_in_past", "due_at must be in the future.")
            follow_up.due_at, changes["due_at"] = due, due.isoformat()
    note = _text(note, "note")
    if not changes and note is None:
        raise CaseworkError("nothing_to_change", "Give a status, assignee, due_at or note.")
    follow_up.history = [
        *(follow_up.history or []),
        _entry(agent, now, **{**changes, "status": follow_up.status.value, "note": note}),
    ]
    _event(
        session,
        "follow_up_updated",
        agent,
        customer_id=follow_up.customer_id,
        conversation_id=follow_up.conversation_id,
        follow_up_id=follow_up.id,
        changes=sorted(changes),
        status=follow_up.status.value,
    )
    await session.flush()
    return _follow_up_view(follow_up, await _names(session, [follow_up]), viewer, now)


# ---- complaints ------------------------------------------------------------------------


async def list_complaints(
    session: AsyncSession, agent: Agent, status: str | None, now: datetime
) -> list[dict[str, Any]]:
    """The complaints board: overdue first, then by due date. Agents on the complaints
    team see every complaint, other agents the ones they own."""
    viewer = await viewer_for(session, agent)
    query = select(Complaint)
    if (visible := _complaint_visible(agent)) is not None:
        query = query.where(visible)
    if (condition := _status_filter(status, Complaint.status)) is not None:
        query = query.where(condition)
    overdue_first = case((and_(Complaint.status.in_(ACTIVE), Complaint.due_at < now), 0), else_=1)
    rows = (
        await session.scalars(
            query.order_by(overdue_first, Complaint.due_at, Complaint.id).limit(LIST_LIMIT)
        )
    ).all()
    names = await _names(session, list(rows))
    return [_complaint_view(c, names, viewer, now) for c in rows]


async def update_complaint(
    session: AsyncSession,
    agent: Agent,
    complaint_id: int,
    *,
    status: Any = None,
    owner_agent_id: Any = UNSET,
    note: Any = None,
    now: datetime,
) -> dict[str, Any]:
    """Change a complaint's status or owner (null: unowned), with a note for the history."""
    viewer = await viewer_for(session, agent)
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None:
        raise _not_found("complaint")
    if not _may_work_complaint(agent, complaint):
        raise _forbidden("This complaint is not yours.")
    changes: dict[str, Any] = {}
    if status not in (None, ""):
        if (new_status := _status(status)) != complaint.status:
            complaint.status = changes["status"] = new_status
    if owner_agent_id is not UNSET:
        owner = await _assignee(session, owner_agent_id, "owner_agent_id")
        if (new_id := owner.id if owner else None) != complaint.owner_agent_id:
            complaint.owner_agent_id = changes["owner_agent_id"] = new_id
    note = _text(note, "note")
    if not changes and note is None:
        raise CaseworkError("nothing_to_change", "Give a status, owner_agent_id or note.")
    complaint.history = [
        *(complaint.history or []),
        _entry(
            agent,
            now,
            status=complaint.status.value,
            owner_agent_id=complaint.owner_agent_id,
            note=note,
        ),
    ]
    _event(
        session,
        "complaint_updated",
        agent,
        customer_id=complaint.customer_id,
        conversation_id=complaint.conversation_id,
        complaint_id=complaint.id,
        changes=sorted(changes),
        status=complaint.status.value,
        owner_agent_id=complaint.owner_agent_id,
    )
    await session.flush()
    return _complaint_view(complaint, await _names(session, [complaint]), viewer, now)


async def assignable_agents(session: AsyncSession) -> list[Agent]:
    """Active colleagues a task can go to (everyone but trainers)."""
    return list(
        await session.scalars(
            select(Agent)
            .where(Agent.is_active.is_(True), Agent.role != AgentRole.TRAINER)
            .order_by(Agent.team, Agent.display_name)
        )
    )
