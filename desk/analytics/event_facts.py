"""The rollups' rows read from a conversation's events alone, walked in order: its
queue episodes, resolves (with the rating asked for and the handle time), the agents'
holds and its contacts; and, per agent, the status timeline (see `store.rollups` and
docs/metrics.md, where the figures that read them are defined)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.analytics.episodes import ABANDONED, FIRST_REPLY, HANDOFF
from desk.analytics.ranges import rows_in
from desk.clock import aware
from desk.routing import PRESENCE
from store.models import Conversation, Event
from store.rollups import ContactFact, EpisodeFact, HoldFact, PresenceFact, ResolveFact

CONTACTS = ("created", "reopened")
VERIFIED = "customer_verified"
TRANSFERRED = "transferred"
CSAT = "csat"
SCORES = range(1, 6)
WRAP_UP_DONE = "wrap_up_done"
HOLD_ENDS = ("resolved", TRANSFERRED, "requeued", ABANDONED)
KINDS = (
    *CONTACTS,
    VERIFIED,
    HANDOFF,
    TRANSFERRED,
    FIRST_REPLY,
    CSAT,
    "assigned",
    WRAP_UP_DONE,
    *HOLD_ENDS,
)


class Row(NamedTuple):
    id: int
    kind: str
    conversation_id: int
    agent_id: int | None
    customer_id: int | None
    at: datetime
    data: dict[str, Any]


class Conversations(NamedTuple):
    """Each conversation's channel, language and customer now."""

    channel: dict[int, str]
    language: dict[int, str | None]
    customer: dict[int, int | None]


async def events_of(
    session: AsyncSession, conversations: set[int]
) -> tuple[dict[int, list[Row]], Conversations]:
    """The events these rows read, per conversation in id order."""
    found: dict[int, list[Row]] = defaultdict(list)
    for row in await rows_in(
        session,
        conversations,
        lambda part: (
            select(
                Event.id,
                Event.kind,
                Event.conversation_id,
                Event.agent_id,
                Event.customer_id,
                Event.at,
                Event.data,
            )
            .where(Event.kind.in_(KINDS), Event.conversation_id.in_(part))
            .order_by(Event.id)
        ),
    ):
        found[row.conversation_id].append(
            Row(
                row.id,
                row.kind,
                row.conversation_id,
                row.agent_id,
                row.customer_id,
                aware(row.at),
                row.data or {},
            )
        )
    shown = Conversations({}, {}, {})
    for conversation, channel, language, customer in await rows_in(
        session,
        conversations,
        lambda part: select(
            Conversation.id, Conversation.channel, Conversation.language, Conversation.customer_id
        ).where(Conversation.id.in_(part)),
    ):
        shown.channel[conversation] = channel
        shown.language[conversation] = language
        shown.customer[conversation] = customer
    return found, shown


def episodes(rows: list[Row]) -> list[EpisodeFact]:
    """Each handoff with what ended its episode: the first agent reply or abandon that
    names it."""
    ends: dict[int, Row] = {}
    for row in rows:
        if row.kind in (FIRST_REPLY, ABANDONED):
            ends.setdefault(int(row.data.get("handoff_id") or 0), row)
    found = []
    for row in rows:
        if row.kind != HANDOFF:
            continue
        end = ends.get(row.id)
        answered = end is not None and end.kind == FIRST_REPLY
        found.append(
            EpisodeFact(
                handoff_id=row.id,
                conversation_id=row.conversation_id,
                at=row.at,
                team=row.data.get("team"),
                channel=row.data.get("channel"),
                outcome=None if end is None else "answered" if answered else "abandoned",
                wait=None if end is None else float(end.data.get("wait_seconds") or 0),
                how=end.data.get("how") if end is not None and not answered else None,
                agent_id=end.agent_id if end is not None and answered else None,
                answered_at=end.at if end is not None and answered else None,
            )
        )
    return found


def resolves(rows: list[Row], channel: str) -> list[ResolveFact]:
    """Each resolve with the team that had its contact (its last handoff's or
    transfer's), the score of the first rating after it (before the next resolve),
    the time from the contact's first agent reply, and the agent's wrap-up after it
    (its `wrap_up_done` event, which names the resolve: the customer may have come
    back, even been resolved again, before it was finished). The caller adds when the
    customer came back."""
    found: list[ResolveFact] = []
    by_event: dict[int, ResolveFact] = {}
    team: str | None = None
    replied: datetime | None = None
    pending: ResolveFact | None = None
    for row in rows:
        if row.kind in CONTACTS:
            team, replied = None, None
        elif row.kind == HANDOFF:
            team = row.data.get("team")
        elif row.kind == TRANSFERRED:
            team = row.data.get("to_team")
        elif row.kind == FIRST_REPLY:
            replied = row.at
        elif row.kind == "resolved":
            pending = ResolveFact(
                event_id=row.id,
                conversation_id=row.conversation_id,
                at=row.at,
                channel=channel,
                by=row.data.get("by"),
                reason=row.data.get("reason"),
                agent_id=row.agent_id,
                team=team,
                handle_seconds=(row.at - replied).total_seconds() if replied else None,
            )
            found.append(pending)
            by_event[row.id] = pending
        elif row.kind == WRAP_UP_DONE:
            wrapped = by_event.get(int(row.data.get("resolve_id") or 0))
            if wrapped is not None:
                wrapped.wrap_up_seconds = float(row.data.get("seconds") or 0)
        elif row.kind == CSAT and pending is not None:
            score = row.data.get("score")
            pending.score = score if isinstance(score, int) and score in SCORES else None
            pending = None
    return found


def holds(rows: list[Row]) -> list[HoldFact]:
    """Who held the conversation when: from each `assigned` to the next end or
    assignment."""
    found: list[HoldFact] = []
    held: HoldFact | None = None
    for row in rows:
        if row.kind != "assigned" and row.kind not in HOLD_ENDS:
            continue
        if held is not None:
            held.ended = row.at
            held = None
        if row.kind == "assigned" and row.agent_id is not None:
            held = HoldFact(
                conversation_id=row.conversation_id, agent_id=row.agent_id, start=row.at
            )
            found.append(held)
    return found


def contacts(rows: list[Row], shown: Conversations) -> list[ContactFact]:
    """Each contact with its customer (the event's, or the first verified during it)
    and the team of its first handoff."""
    found: list[ContactFact] = []
    current: ContactFact | None = None
    for row in rows:
        if row.kind in CONTACTS:
            conversation = row.conversation_id
            current = ContactFact(
                event_id=row.id,
                conversation_id=conversation,
                at=row.at,
                hour=row.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0),
                kind=row.kind,
                channel=shown.channel[conversation],
                language=shown.language[conversation],
                customer_id=row.customer_id,
            )
            found.append(current)
        elif current is None:
            continue
        elif row.kind == VERIFIED and current.customer_id is None:
            current.customer_id = row.customer_id
        elif row.kind == HANDOFF and current.team is None:
            current.team = row.data.get("team")
    return found


async def presence(session: AsyncSession, agents: set[int]) -> list[PresenceFact]:
    """Each agent's statuses, from one change of their timeline to the next."""
    found: list[PresenceFact] = []
    current: dict[int, PresenceFact] = {}
    for agent_id, at, data in await rows_in(
        session,
        agents,
        lambda part: (
            select(Event.agent_id, Event.at, Event.data)
            .where(Event.kind == PRESENCE, Event.agent_id.in_(part))
            .order_by(Event.at, Event.id)
        ),
    ):
        moment = aware(at)
        if agent_id in current:
            current[agent_id].ended = moment
        current[agent_id] = PresenceFact(
            agent_id=agent_id, status=str((data or {}).get("presence")), start=moment
        )
        found.append(current[agent_id])
    return found
