"""The bot's forms: how often a claim, an advance payment, a complaint or a callback
the bot began asking for was completed, cancelled or left half done (see
docs/metrics.md, where each is defined next to this query)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import DEFAULT_WINDOWS, Session, SessionIndex, bot_sessions
from desk.analytics.queue import QueueQuery, check_reader
from desk.analytics.ranges import ratio, rows_in
from desk.clock import aware
from store.models import AdvancePayment, Agent, Callback, Complaint, Event

# The intent that starts each form, as the bot's rules have it.
TRIGGERS = {
    "file_claim": "claim",
    "ask_advance_payment": "advance_payment",
    "complain": "complaint",
    "request_callback": "callback",
}
FORMS = ("claim", "advance_payment", "complaint", "callback")
STEPS = ("started", "completed", "cancelled", "left")


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
        for conversation, at in await rows_in(
            session,
            conversations,
            partial(_created, model),
        ):
            made[(conversation or 0, form)].append(aware(at))
    return made


def _form_of(bot_session: Session) -> tuple[str, datetime, int] | None:
    """The form the session began (the first trigger the bot then asked a question
    after), when, and where in the session's parsed messages."""
    for position, row in enumerate(bot_session.parsed):
        if row.intent in TRIGGERS and row.awaiting:
            return TRIGGERS[row.intent], aware(row.at), position
    return None


def _cancelled(bot_session: Session, after: int) -> bool:
    """A "no" while the bot was waiting for a form's answer."""
    rows = bot_session.parsed
    return any(
        rows[n].intent == "deny" and rows[n - 1].awaiting for n in range(after + 1, len(rows))
    )


async def form_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    async with sessions() as session:
        counted, everything = await bot_sessions(session, query, DEFAULT_WINDOWS, at)
        made = await _made(session, {s.conversation_id for s in counted})
    index = SessionIndex(everything)
    figures = {
        form: dict.fromkeys(("started", "completed", "cancelled", "left"), 0) for form in FORMS
    }
    for bot_session in counted:
        began = _form_of(bot_session)
        if began is None:
            continue
        form, when, position = began
        until = index.next_start(bot_session.conversation_id, bot_session.start)
        steps = figures[form]
        steps["started"] += 1
        if any(
            when <= t and (until is None or t < until)
            for t in made[(bot_session.conversation_id, form)]
        ):
            steps["completed"] += 1
        elif _cancelled(bot_session, position):
            steps["cancelled"] += 1
        elif bot_session.outcome == "left" and bot_session.mid_form():
            steps["left"] += 1
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "channel": query.channel,
        "forms": [
            {
                "form": form,
                **steps,
                "completion_rate": ratio(steps["completed"], steps["started"]),
                "cancel_rate": ratio(steps["cancelled"], steps["started"]),
            }
            for form, steps in figures.items()
        ],
    }
