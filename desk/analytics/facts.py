"""The rollups' rows for a set of conversations, computed from the raw rows: their bot
sessions (with the forms they began and the funnel's steps after them), the intents
they parsed, their queue episodes and their resolves (see `store.rollups` and
docs/metrics.md, where each figure that reads them is defined).

A row depends on its conversation's rows and on the same customer's other
conversations (a customer coming back, on any channel, changes whether an earlier
session was durably contained or a resolve first-contact), so the conversations
asked for are widened to every conversation of their customers. Nothing here
depends on the time it runs: what changes with time alone (a quiet session becoming
"left", a resolve's window passing) is decided when the figures are read."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.analytics import event_facts
from desk.analytics.episodes import FIRST_REPLY, HANDOFF
from desk.analytics.event_facts import Row, events_of
from desk.analytics.ranges import rows_in, scalars_in
from desk.analytics.sessions import DEFAULT_WINDOWS, Session, SessionIndex, read_sessions
from desk.clock import aware
from store.models import AdvancePayment, Callback, Complaint, Conversation, Event, FollowUp
from store.rollups import (
    ContactFact,
    EpisodeFact,
    HoldFact,
    ResolveFact,
    SessionFact,
    SessionIntent,
)

# Before and after any row: the sessions are read whole.
EVER = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = datetime(9999, 1, 1, tzinfo=UTC)

# The intent that starts each form, as the bot's rules have it.
TRIGGERS = {
    "file_claim": "claim",
    "ask_advance_payment": "advance_payment",
    "complain": "complaint",
    "request_callback": "callback",
}
FORMS = ("claim", "advance_payment", "complaint", "callback")
# How long after a session began what follows still counts as its outcome (the funnel).
FOLLOWS = timedelta(days=7)
BRANCHES = {Callback: "callback", FollowUp: "follow_up", Complaint: "complaint"}


@dataclass
class Facts:
    """The rollups' rows of some conversations, to replace what they had."""

    conversations: set[int]
    sessions: list[SessionFact] = field(default_factory=list)
    intents: list[SessionIntent] = field(default_factory=list)
    episodes: list[EpisodeFact] = field(default_factory=list)
    resolves: list[ResolveFact] = field(default_factory=list)
    holds: list[HoldFact] = field(default_factory=list)
    contacts: list[ContactFact] = field(default_factory=list)


async def widen(session: AsyncSession, conversations: set[int]) -> set[int]:
    """The conversations and every other conversation of their customers."""
    customers = {
        customer
        for customer in await scalars_in(
            session,
            conversations,
            lambda part: select(Conversation.customer_id).where(Conversation.id.in_(part)),
        )
        if customer is not None
    }
    return conversations | set(
        await scalars_in(
            session,
            customers,
            lambda part: select(Conversation.id).where(Conversation.customer_id.in_(part)),
        )
    )


async def facts_of(session: AsyncSession, conversations: set[int]) -> Facts:
    """The rollups' rows of `conversations` (already widened to their customers')."""
    found = Facts(conversations)
    if not conversations:
        return found
    everything: list[Session] = []
    for part in _parts(conversations):
        # Each part's own sessions: its customers' others are read with their part.
        seed = select(Conversation.id).where(Conversation.id.in_(part))
        chosen = set(part)
        everything += [
            one
            for one in await read_sessions(session, seed, None, EVER, NEVER, DEFAULT_WINDOWS, NEVER)
            if one.conversation_id in chosen
        ]
    index = SessionIndex(everything)
    events, shown = await events_of(session, conversations)
    made = await _made(session, conversations)
    following = await _following(session, conversations, events)
    for one in everything:
        _session_rows(found, one, index, made, following)
    by_conversation: dict[int, list[Session]] = defaultdict(list)
    for one in everything:
        by_conversation[one.conversation_id].append(one)
    for conversation, rows in events.items():
        own = by_conversation[conversation]
        found.episodes += _labelled_episodes(rows, own, shown.language[conversation])
        found.holds += event_facts.holds(rows)
        found.contacts += _labelled_contacts(rows, shown, own)
        customer = shown.customer[conversation]
        who = f"customer:{customer}" if customer else f"conversation:{conversation}"
        for resolve in event_facts.resolves(rows, shown.channel[conversation]):
            resolve.back_after = _returned(resolve, own, who, index)
            within = _session_at(own, resolve.at)
            resolve.topic = within.topic() if within else None
            resolve.language = within.language if within else shown.language[conversation]
            found.resolves.append(resolve)
    return found


def _session_at(sessions: list[Session], at: datetime) -> Session | None:
    """The conversation's last bot session begun at or before `at`: the one a handoff
    or a resolve then belongs to."""
    before = [s for s in sessions if s.start <= at]
    return max(before, key=lambda s: s.start) if before else None


def _labelled_episodes(
    rows: list[Row], sessions: list[Session], language: str | None
) -> list[EpisodeFact]:
    """The conversation's queue episodes with what the filters read: the handoff's
    language (the conversation's now, for a handoff that did not record it) and the
    topic of the bot session that handed over."""
    handoffs = {row.id: row for row in rows if row.kind == HANDOFF}
    found = event_facts.episodes(rows)
    for episode in found:
        episode.language = handoffs[episode.handoff_id].data.get("language") or language
        within = _session_at(sessions, episode.at)
        episode.topic = within.topic() if within else None
    return found


def _labelled_contacts(
    rows: list[Row], shown: event_facts.Conversations, sessions: list[Session]
) -> list[ContactFact]:
    """The conversation's contacts, each with the topic of the bot session it began
    (which begins with the same event)."""
    topics = {one.start: one.topic() for one in sessions}
    found = event_facts.contacts(rows, shown)
    for contact in found:
        contact.topic = topics.get(contact.at)
    return found


def _parts(conversations: set[int], size: int = 1000) -> list[list[int]]:
    ordered = sorted(conversations)
    return [ordered[first : first + size] for first in range(0, len(ordered), size)]


def label(intent: str, faq_topic: str | None) -> str:
    return faq_topic if intent == "faq" and faq_topic else intent


def _session_rows(
    found: Facts,
    one: Session,
    index: SessionIndex,
    made: dict[tuple[int, str], list[datetime]],
    following: dict[int, list[tuple[datetime, str]]],
) -> None:
    # Read whole, a session no event ended is "left" at its quiet time: kept as idle,
    # since whether that time has come is a question for the reader's clock.
    idle = one.outcome == "left"
    end = one.end or one.start
    until = index.next_start(one.conversation_id, one.start)
    form, step = _form(one, made, until)
    steps = _steps(one, following.get(one.conversation_id, []), until or NEVER)
    found.sessions.append(
        SessionFact(
            conversation_id=one.conversation_id,
            channel=one.channel,
            start=one.start,
            outcome="idle" if idle else one.outcome,
            ended=None if idle else one.end,
            idle_at=end,
            reason=one.reason,
            team=one.team,
            topic=one.topic(),
            language=one.language,
            mid_form=one.mid_form(),
            back_after=_back_after(one, end, index),
            parsed=len(one.parsed),
            fallbacks=sum(1 for row in one.parsed if row.fallback),
            form=form,
            form_step=step,
            queued=one.queued,
            **{name: name in steps for name in ("answered", "resolved", *BRANCHES.values())},
        )
    )
    counted = Counter(label(row.intent, row.faq_topic) for row in one.parsed if not row.fallback)
    found.intents += [
        SessionIntent(
            conversation_id=one.conversation_id,
            channel=one.channel,
            start=one.start,
            intent=intent,
            count=count,
            language=one.language,
            topic=one.topic(),
        )
        for intent, count in sorted(counted.items())
    ]


def _back_after(one: Session, end: datetime, index: SessionIndex) -> float | None:
    """Seconds from the session's end to the same customer's next session on its
    topic (durable containment's "came back")."""
    topic = one.topic()
    if topic is None:
        return None
    for other in index.began(one.who, end, NEVER):
        if other is not one and other.topic() == topic:
            return (other.start - end).total_seconds()
    return None


def _form(
    one: Session, made: dict[tuple[int, str], list[datetime]], until: datetime | None
) -> tuple[str | None, str | None]:
    """The form the session began (the first trigger the bot then asked a question
    after) and whether it was completed (what it makes was made before the
    conversation's next session) or cancelled (a "no" while the bot waited)."""
    began = next(
        (
            (position, row)
            for position, row in enumerate(one.parsed)
            if row.intent in TRIGGERS and row.awaiting
        ),
        None,
    )
    if began is None:
        return None, None
    position, row = began
    form, when = TRIGGERS[row.intent], aware(row.at)
    if any(when <= t and (until is None or t < until) for t in made[(one.conversation_id, form)]):
        return form, "completed"
    rows = one.parsed
    if any(
        rows[n].intent == "deny" and rows[n - 1].awaiting for n in range(position + 1, len(rows))
    ):
        return form, "cancelled"
    return form, None


def _steps(one: Session, following: list[tuple[datetime, str]], until: datetime) -> set[str]:
    """What followed the session in its conversation, before the next session and
    within `FOLLOWS`: an agent's first reply and resolve (if handed over), a callback,
    a follow-up or a complaint."""
    reached: set[str] = set()
    end = min(until, one.start + FOLLOWS)
    for at, step in following:
        if one.start <= at < end:
            if step in ("answered", "resolved") and one.outcome != "handed_over":
                continue
            reached.add(step)
    return reached


def _created(model: Any, part: list[int]) -> Any:
    return select(model.conversation_id, model.created_at).where(model.conversation_id.in_(part))


async def _made(session: AsyncSession, conversations: set[int]) -> dict[tuple[int, str], list]:
    """When each conversation's claims, advance payments, complaints and callbacks
    were made."""
    made: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for conversation, at in await rows_in(
        session,
        conversations,
        lambda part: select(Event.conversation_id, Event.at).where(
            Event.kind == "claim_filed", Event.conversation_id.in_(part)
        ),
    ):
        made[(conversation or 0, "claim")].append(aware(at))
    for model, form in (
        (AdvancePayment, "advance_payment"),
        (Complaint, "complaint"),
        (Callback, "callback"),
    ):
        for conversation, at in await rows_in(session, conversations, partial(_created, model)):
            made[(conversation or 0, form)].append(aware(at))
    return made


async def _following(
    session: AsyncSession, conversations: set[int], events: dict[int, list[Row]]
) -> dict[int, list[tuple[datetime, str]]]:
    """What happened in each conversation after its bot sessions: first replies,
    resolves by agents, callbacks, follow-ups and complaints, in time order."""
    found: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for conversation, rows in events.items():
        for row in rows:
            if row.kind == FIRST_REPLY:
                found[conversation].append((row.at, "answered"))
            elif row.kind == "resolved" and row.data.get("by") == "agent":
                found[conversation].append((row.at, "resolved"))
    for model, step in BRANCHES.items():
        for conversation, created in await rows_in(
            session, conversations, partial(_created, model)
        ):
            found[conversation or 0].append((aware(created), step))
    for steps in found.values():
        steps.sort()
    return found


def _returned(
    resolve: ResolveFact, sessions: list[Session], who: str, index: SessionIndex
) -> float | None:
    """Seconds from the resolve to the customer's next session on the topic of the
    session it was resolved in (the conversation's last begun before it), or on any
    topic when that is unknown."""
    within = _session_at(sessions, resolve.at)
    topic = within.topic() if within else None
    return next(
        (
            (other.start - resolve.at).total_seconds()
            for other in index.began(who, resolve.at, NEVER)
            if resolve.at < other.start and (topic is None or other.topic() == topic)
        ),
        None,
    )
