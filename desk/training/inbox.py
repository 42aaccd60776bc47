"""The trainers' review inbox: the customer messages the bot parsed, ordered for
learning (not yet reviewed first, then by rank: the fallback, unsure, trouble after
it, flagged by an agent, the rest; newest first within a rank), with filters, a search
of their (masked) text and pages, and the conversation around a message on demand.

Everything a trainer reads here is masked: the inbox's text was masked when it was
kept (`desk.training.capture`), and the conversation around a message is masked as it
is read, every message of it, with the names and identifiers the store knows for its
customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.clock import aware
from desk.errors import DeskError
from desk.inputs import Body, Id
from desk.training.capture import CODE_SLOTS, known_for
from store.models import Conversation, Message, SenderKind
from store.workbench import ParsedMessage

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_SEARCH = 200
# How many messages either side of the reviewed one the conversation panel shows.
AROUND = 10
STATUSES = ("new", "confirmed", "relabelled", "out_of_scope", "ignored")
# `ParsedMessage.precedence` of a message not yet reviewed is at least this.
NOT_REVIEWED = 100
Short = Annotated[str, Field(min_length=1, max_length=128)]


class InboxQuery(Body):
    """The inbox's filters, as a page's query string gives them (all optional).
    `status`: one of STATUSES, `reviewed` (any but new) or `all`; new by default."""

    intent: Short | None = None
    language: Annotated[str, Field(min_length=2, max_length=8)] | None = None
    channel: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    since: date | None = None
    until: date | None = None
    min_confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    max_confidence: Annotated[float, Field(ge=0, le=1)] | None = None
    status: Literal[
        "new", "confirmed", "relabelled", "out_of_scope", "ignored", "reviewed", "all"
    ] = "new"
    q: Annotated[str, Field(max_length=MAX_SEARCH)] = ""
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE
    refusals = {
        "since": ("bad_filter", "since and until are dates, YYYY-MM-DD."),
        "until": ("bad_filter", "since and until are dates, YYYY-MM-DD."),
        "min_confidence": ("bad_filter", "Confidences are numbers from 0 to 1."),
        "max_confidence": ("bad_filter", "Confidences are numbers from 0 to 1."),
        "status": ("bad_filter", "status is new, reviewed, all or a decision."),
        "page": ("bad_filter", "page is a number from 1."),
        "size": ("bad_filter", f"size is a number from 1 to {MAX_PAGE_SIZE}."),
    }

    def filtered(self, query: Select) -> Select:
        row = ParsedMessage
        # New and reviewed as ranges of `precedence`: the inbox's own index serves them.
        if self.status == "new":
            query = query.where(row.precedence >= NOT_REVIEWED)
        elif self.status == "reviewed":
            query = query.where(row.precedence < NOT_REVIEWED)
        elif self.status != "all":
            query = query.where(row.status == self.status)
        if self.intent:
            query = query.where(row.intent == self.intent)
        if self.language:
            query = query.where(row.language == self.language)
        if self.channel:
            query = query.where(row.channel == self.channel)
        if self.since:
            query = query.where(row.at >= _start_of(self.since))
        if self.until:
            query = query.where(row.at < _start_of(self.until + timedelta(days=1)))
        if self.min_confidence is not None:
            query = query.where(row.confidence >= self.min_confidence)
        if self.max_confidence is not None:
            query = query.where(row.confidence <= self.max_confidence)
        if needle := self.q.strip().lower():
            escaped = needle.replace("/", "//").replace("%", "/%").replace("_", "/_")
            query = query.where(row.folded.like(f"%{escaped}%", escape="/"))
        return query

    def in_order(self, query: Select) -> Select:
        """The inbox's order. A search reads every row anyway (`LIKE '%...%'`): it
        filters the table and sorts what matched, rather than walking the inbox's index
        row by row (`precedence + 0` is no indexed column, which tells the planner)."""
        row = ParsedMessage
        first = row.precedence + 0 if self.q.strip() else row.precedence
        return query.order_by(first.desc(), row.at.desc(), row.id.desc())


class Selection(Body):
    """Some inbox messages, by id, for a bulk decision."""

    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_PAGE_SIZE)]
    refusals = {"ids": ("malformed", f"ids is a list of 1 to {MAX_PAGE_SIZE} message ids.")}


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def predicted(row: ParsedMessage) -> str:
    """The intent the bot gave the message, as training data names it (`faq/<topic>`)."""
    return row.faq_topic if row.intent == "faq" and row.faq_topic else row.intent


def item_json(row: ParsedMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "seq": row.seq,
        "channel": row.channel,
        "language": row.language,
        "text": row.text,
        "intent": row.intent,
        "predicted": predicted(row),
        "confidence": round(row.confidence, 3),
        "runner_up": row.runner_up,
        "runner_up_confidence": (
            None if row.runner_up_confidence is None else round(row.runner_up_confidence, 3)
        ),
        "faq_topic": row.faq_topic,
        "fallback": row.fallback,
        "rank": row.rank,
        "trouble": row.trouble,
        "flag_intent": row.flag_intent,
        "flagged_at": _iso(row.flagged_at),
        "status": row.status,
        "label": row.label,
        "held_out": row.held_out,
        "reviewed_at": _iso(row.reviewed_at),
        "at": _iso(row.at),
    }


def _iso(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value else None


@dataclass(frozen=True)
class Page:
    items: list[ParsedMessage]
    page: int
    size: int
    more: bool

    def json(self) -> dict[str, Any]:
        return {
            "items": [item_json(row) for row in self.items],
            "page": self.page,
            "size": self.size,
            "more": self.more,
        }


async def listing(sessions: async_sessionmaker[AsyncSession], query: InboxQuery) -> Page:
    """One page of the inbox in the order for learning. `more` says whether another
    page follows (one row more is read to know, rather than counting them all)."""
    async with sessions() as session:
        rows = list(
            await session.scalars(
                query.in_order(query.filtered(select(ParsedMessage)))
                .offset((query.page - 1) * query.size)
                .limit(query.size + 1)
            )
        )
    return Page(rows[: query.size], query.page, query.size, len(rows) > query.size)


async def intents_seen(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """The intents the bot has given inbox messages, for the intent filter."""
    async with sessions() as session:
        return list(
            await session.scalars(
                select(ParsedMessage.intent).group_by(ParsedMessage.intent).order_by("intent")
            )
        )


async def one(session: AsyncSession, parsed_id: int) -> ParsedMessage:
    row = await session.get(ParsedMessage, parsed_id)
    if row is None:
        raise DeskError("not_found", "There is no such message in the inbox.", 404)
    return row


async def around(sessions: async_sessionmaker[AsyncSession], parsed_id: int) -> dict[str, Any]:
    """The conversation around an inbox message, every message masked, with the
    handoff and resolution reasons as hints."""
    async with sessions() as session:
        row = await one(session, parsed_id)
        conversation = await session.get(Conversation, row.conversation_id)
        assert conversation is not None  # a foreign key
        known = await known_for(session, conversation.customer_id)
        messages = list(
            await session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == conversation.id,
                    Message.seq.between(row.seq - AROUND, row.seq + AROUND),
                )
                .order_by(Message.seq)
            )
        )
        awaited: dict[int, str | None] = {
            seq: awaiting
            for seq, awaiting in await session.execute(
                select(ParsedMessage.seq, ParsedMessage.awaiting).where(
                    ParsedMessage.conversation_id == conversation.id,
                    ParsedMessage.seq.between(row.seq - AROUND - 1, row.seq + AROUND),
                )
            )
        }
    shown = []
    code_asked = False
    for message in messages:
        text = message.text or ""
        customer = message.sender == SenderKind.CUSTOMER
        buttons = [
            str(button.get("title") or "")
            for button in (message.payload or {}).get("buttons") or []
            if isinstance(button, dict)
        ]
        shown.append(
            {
                "seq": message.seq,
                "sender": message.sender.value,
                "text": known.mask(text, after_code_request=customer and code_asked),
                "buttons": [known.mask(title) for title in buttons],
                "at": _iso(message.created_at),
                "reviewed": message.seq == row.seq,
            }
        )
        if customer:
            code_asked = (awaited.get(message.seq) or "") in CODE_SLOTS
    return {
        "id": row.id,
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "language": conversation.language,
        "handoff_reason": conversation.handoff_reason,
        "resolution_reason": conversation.resolution_reason,
        "messages": shown,
    }


async def counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """How many inbox messages are in each status."""
    async with sessions() as session:
        rows = await session.execute(
            select(ParsedMessage.status, func.count()).group_by(ParsedMessage.status)
        )
        found = {status: int(count) for status, count in rows.all()}
    return {status: found.get(status, 0) for status in STATUSES}
