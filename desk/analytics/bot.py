"""Bot figures: containment and durable containment of bot sessions, handoffs by
reason, the fallback rate and the top intents (see docs/metrics.md, where each is
defined next to this query).

A **bot session** begins with a conversation's `created` or `reopened` event and
ends with the first of: a `handoff` or `handoff_deferred` (handed over), a
`resolved` by the bot (seen off), or the customer's silence for `idle` after their
last message in it (left). Its **topic** is the first intent it parsed that is not
small talk (a FAQ question's topic is `faq/<topic>`)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.queue import QueueQuery, check_filters, check_reader
from desk.analytics.ranges import ratio, rows_in, scalars_in
from desk.clock import aware, now
from desk.errors import DeskError
from store.models import Agent, Conversation, Event, Message, SenderKind
from store.workbench import ParsedMessage

STARTS = ("created", "reopened")
HANDED_OVER = ("handoff", "handoff_deferred")
SMALL_TALK = {
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "bot_challenge",
    "inform",
    "out_of_scope",
    "nlu_fallback",
}
TOP_INTENTS = 10


@dataclass(frozen=True)
class Windows:
    """How long a customer's silence ends a bot session, and how soon coming back on
    the same topic undoes its containment."""

    idle: timedelta = timedelta(minutes=30)
    durable: timedelta = timedelta(hours=24)


DEFAULT_WINDOWS = Windows()


class Parsed(NamedTuple):
    """What the figures read of a parsed customer message (columns, not whole rows:
    a season's history has hundreds of thousands)."""

    intent: str
    faq_topic: str | None
    fallback: bool
    awaiting: str | None
    at: datetime


@dataclass
class Session:
    conversation_id: int
    who: str  # the verified customer, or else the conversation
    start: datetime
    channel: str = ""
    end: datetime | None = None
    outcome: str = "open"  # handed_over, seen_off, left or open
    reason: str | None = None
    queued: bool = False
    said: list[datetime] = field(default_factory=list)
    parsed: list[Parsed] = field(default_factory=list)

    def topic(self) -> str | None:
        for row in self.parsed:
            label = row.faq_topic if row.intent == "faq" and row.faq_topic else row.intent
            if not row.fallback and label not in SMALL_TALK:
                return label
        return None

    def contained(self) -> bool:
        """Seen off by the bot, or left with no form waiting."""
        return self.outcome == "seen_off" or (self.outcome == "left" and not self.mid_form())

    def mid_form(self) -> bool:
        """The bot was waiting for a form's answer when the customer went quiet."""
        return bool(self.parsed and self.parsed[-1].awaiting)


class SessionIndex:
    """Sessions by conversation and by customer, in time order, so that "what came
    next" is a bisection, not a scan of every session."""

    def __init__(self, sessions: list[Session]):
        self._starts: dict[int, list[datetime]] = defaultdict(list)
        self._whose: dict[str, list[Session]] = defaultdict(list)
        for one in sorted(sessions, key=lambda s: s.start):
            self._starts[one.conversation_id].append(one.start)
            self._whose[one.who].append(one)
        self._whose_starts = {who: [s.start for s in found] for who, found in self._whose.items()}

    def next_start(self, conversation_id: int, after: datetime) -> datetime | None:
        """When the conversation's next session began, if one did."""
        starts = self._starts.get(conversation_id, [])
        at = bisect_right(starts, after)
        return starts[at] if at < len(starts) else None

    def began(self, who: str, low: datetime, high: datetime) -> list[Session]:
        """The sessions of `who` begun from `low` to `high`, both included."""
        starts = self._whose_starts.get(who, [])
        return self._whose.get(who, [])[bisect_left(starts, low) : bisect_right(starts, high)]


def _sessions(
    events: list[Event],
    said: dict[int, list[datetime]],
    parsed: dict[int, list[Parsed]],
    who: dict[int, str],
    windows: Windows,
    at: datetime,
) -> list[Session]:
    """Every conversation's events (in id order) cut into bot sessions."""
    found: list[Session] = []
    current: dict[int, Session] = {}
    for event in events:
        conversation = event.conversation_id or 0
        moment = aware(event.at)
        if event.kind in STARTS:
            current[conversation] = Session(conversation, who[conversation], moment)
            found.append(current[conversation])
            continue
        session = current.pop(conversation, None)
        if session is None:
            continue
        if event.kind in HANDED_OVER:
            session.outcome, session.reason = "handed_over", str(event.data.get("reason") or "")
            # A handoff queued the customer; a deferred one offered a callback first.
            session.queued = event.kind == "handoff"
        elif event.kind == "resolved" and event.data.get("by") == "bot":
            session.outcome = "seen_off"
        else:
            current[conversation] = session  # an agent's resolve ends no bot session
            continue
        session.end = moment
    index = SessionIndex(found)
    for session in found:
        last = session.end or index.next_start(session.conversation_id, session.start)
        session.said = [
            t for t in said.get(session.conversation_id, []) if session.start <= t < (last or at)
        ]
        session.parsed = [
            row
            for row in parsed.get(session.conversation_id, [])
            if session.start <= aware(row.at) <= (last or at)
        ]
        if session.outcome == "open":
            quiet = (session.said[-1] if session.said else session.start) + windows.idle
            if quiet <= at:
                session.outcome, session.end = "left", quiet
    return found


async def read_sessions(
    session: AsyncSession,
    seed: Select[tuple[int | None]],
    channel: str | None,
    since: datetime,
    horizon: datetime,
    windows: Windows,
    at: datetime,
) -> list[Session]:
    """The bot sessions from `since` to `horizon` of the conversations `seed` selects
    (of `channel`, if given), and of every conversation of the same verified
    customers, to see who came back."""
    chosen = select(Conversation.id, Conversation.customer_id, Conversation.channel)
    seeded = chosen.where(Conversation.id.in_(seed))
    if channel is not None:
        seeded = seeded.where(Conversation.channel == channel)
    rows = list((await session.execute(seeded)).all())
    # Coming back counts on any channel: the same customer's other conversations.
    customers = {customer for _, customer, _ in rows if customer is not None}
    if customers:
        rows += await rows_in(
            session, customers, lambda part: chosen.where(Conversation.customer_id.in_(part))
        )
    who = {
        conversation: f"customer:{customer}" if customer else f"conversation:{conversation}"
        for conversation, customer, _ in rows
    }
    channels = {conversation: on for conversation, _, on in rows}
    events = await scalars_in(
        session,
        who,
        lambda part: select(Event).where(
            Event.conversation_id.in_(part),
            Event.kind.in_((*STARTS, *HANDED_OVER, "resolved")),
            Event.at >= since,
            Event.at < horizon,
        ),
    )
    events.sort(key=lambda event: event.id)
    said: dict[int, list[datetime]] = defaultdict(list)
    for conversation, written in await rows_in(
        session,
        who,
        lambda part: (
            select(Message.conversation_id, Message.created_at)
            .where(
                Message.conversation_id.in_(part),
                Message.sender == SenderKind.CUSTOMER,
                Message.created_at >= since,
                Message.created_at < horizon,
            )
            .order_by(Message.conversation_id, Message.seq)
        ),
    ):
        said[conversation].append(aware(written))
    parsed: dict[int, list[Parsed]] = defaultdict(list)
    for row in await rows_in(
        session,
        who,
        lambda part: (
            select(
                ParsedMessage.conversation_id,
                ParsedMessage.intent,
                ParsedMessage.faq_topic,
                ParsedMessage.fallback,
                ParsedMessage.awaiting,
                ParsedMessage.at,
            )
            .where(
                ParsedMessage.conversation_id.in_(part),
                ParsedMessage.at >= since,
                ParsedMessage.at < horizon,
            )
            .order_by(ParsedMessage.conversation_id, ParsedMessage.seq)
        ),
    ):
        parsed[row.conversation_id].append(
            Parsed(row.intent, row.faq_topic, row.fallback, row.awaiting, aware(row.at))
        )
    found = _sessions(events, said, parsed, who, windows, at)
    for bot_session in found:
        bot_session.channel = channels[bot_session.conversation_id]
    return found


async def bot_sessions(
    session: AsyncSession,
    query: QueueQuery,
    windows: Windows = DEFAULT_WINDOWS,
    at: datetime | None = None,
) -> tuple[list[Session], list[Session]]:
    """The sessions begun in the range (of the channel asked), and every session read
    to see who came back."""
    if query.team is not None:
        raise DeskError("bad_filter", "Bot figures are per channel, not team.", 400)
    await check_filters(session, query)
    start, end = query.bounds()
    since, until = start.astimezone(UTC), end.astimezone(UTC)
    starting = select(Event.conversation_id).where(
        Event.kind.in_(STARTS), Event.at >= since, Event.at < until
    )
    horizon = until + windows.durable + windows.idle
    everything = await read_sessions(
        session, starting, query.channel, since, horizon, windows, at or now()
    )
    counted = [
        s for s in everything if since <= s.start < until and query.channel in (None, s.channel)
    ]
    return counted, everything


def durably_contained(bot_session: Session, index: SessionIndex, windows: Windows) -> bool:
    return bot_session.contained() and not _came_back(bot_session, index, windows)


async def bot_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    windows: Windows = DEFAULT_WINDOWS,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    async with sessions() as session:
        counted, everything = await bot_sessions(session, query, windows, at)
    finished = [s for s in counted if s.outcome != "open"]
    contained = [s for s in finished if s.contained()]
    index = SessionIndex(everything)
    durable = [s for s in contained if not _came_back(s, index, windows)]
    handed = [s for s in finished if s.outcome == "handed_over"]
    messages = [row for s in counted for row in s.parsed]
    intents = Counter(
        row.faq_topic if row.intent == "faq" and row.faq_topic else row.intent
        for row in messages
        if not row.fallback
    )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "channel": query.channel,
        "idle_minutes": windows.idle.total_seconds() / 60,
        "durable_hours": windows.durable.total_seconds() / 3600,
        "sessions": len(counted),
        "open": len(counted) - len(finished),
        "finished": len(finished),
        "seen_off": sum(1 for s in finished if s.outcome == "seen_off"),
        "left": sum(1 for s in finished if s.outcome == "left"),
        "left_mid_form": sum(1 for s in finished if s.outcome == "left" and s.mid_form()),
        "handed_over": len(handed),
        "contained": len(contained),
        "containment": ratio(len(contained), len(finished)),
        "durably_contained": len(durable),
        "durable_containment": ratio(len(durable), len(finished)),
        "handoff_rate": ratio(len(handed), len(finished)),
        "handoffs_by_reason": dict(sorted(Counter(s.reason or "" for s in handed).items())),
        "parsed_messages": len(messages),
        "fallbacks": sum(1 for row in messages if row.fallback),
        "fallback_rate": ratio(sum(1 for row in messages if row.fallback), len(messages)),
        "top_intents": [
            {"intent": intent, "count": count}
            for intent, count in sorted(intents.items(), key=lambda item: (-item[1], item[0]))[
                :TOP_INTENTS
            ]
        ],
    }


def _came_back(contained: Session, index: SessionIndex, windows: Windows) -> bool:
    """The same customer (or conversation) began another session on the same topic
    within `durable` after this one ended."""
    topic = contained.topic()
    if topic is None or contained.end is None:
        return False
    return any(
        other is not contained and other.topic() == topic
        for other in index.began(contained.who, contained.end, contained.end + windows.durable)
    )
