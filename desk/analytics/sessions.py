"""Bot sessions read from the raw rows: a conversation's events, its customer's
messages and what the bot parsed of them, cut into sessions (see docs/metrics.md).

A **bot session** begins with a conversation's `created` or `reopened` event (or
`back_to_bot`: a queued customer chose a callback instead) and
ends with the first of: a `handoff` or `handoff_deferred` (handed over), a
`resolved` by the bot (seen off), or the customer's silence for `idle` after their
last message in it (left). Its **topic** is the first intent it parsed that is not
small talk (a FAQ question's topic is `faq/<topic>`). The rollups
(`desk.analytics.facts`) are built from these; the figures read the rollups."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.analytics.episodes import BACK_TO_BOT
from desk.analytics.ranges import rows_in, scalars_in
from desk.clock import aware
from store.models import Conversation, Event, Message, SenderKind
from store.workbench import ParsedMessage

STARTS = ("created", "reopened", BACK_TO_BOT)
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
    team: str | None = None  # the handoff's, when handed over
    language: str | None = None  # the handoff's, else the conversation's now
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
            session.team = event.data.get("team")
            session.language = event.data.get("language")
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
    seed: Select[Any],
    channel: str | None,
    since: datetime,
    horizon: datetime,
    windows: Windows,
    at: datetime,
) -> list[Session]:
    """The bot sessions from `since` to `horizon` of the conversations `seed` selects
    (of `channel`, if given), and of every conversation of the same verified
    customers, to see who came back."""
    chosen = select(
        Conversation.id, Conversation.customer_id, Conversation.channel, Conversation.language
    )
    seeded = chosen.where(Conversation.id.in_(seed))
    if channel is not None:
        seeded = seeded.where(Conversation.channel == channel)
    rows = list((await session.execute(seeded)).all())
    # Coming back counts on any channel: the same customer's other conversations.
    customers = {customer for _, customer, _, _ in rows if customer is not None}
    if customers:
        rows += await rows_in(
            session, customers, lambda part: chosen.where(Conversation.customer_id.in_(part))
        )
    who = {
        conversation: f"customer:{customer}" if customer else f"conversation:{conversation}"
        for conversation, customer, _, _ in rows
    }
    channels = {conversation: on for conversation, _, on, _ in rows}
    languages = {conversation: language for conversation, _, _, language in rows}
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
        # No event records the language a session began in: a handoff's says what it
        # was then; otherwise the conversation's now.
        bot_session.language = bot_session.language or languages[bot_session.conversation_id]
    return found
