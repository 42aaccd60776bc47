"""The bot's forms: how often a claim, an advance payment, a complaint or a callback
the bot began asking for was completed, cancelled or left half done (see
docs/metrics.md, where each is defined next to this query). They read the rollups'
sessions: which form each began and how it went (`desk.analytics.facts`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.bot import DEFAULT_WINDOWS, counted, parts
from desk.analytics.facts import FORMS
from desk.analytics.filters import checked
from desk.analytics.queue import QueueQuery, check_reader
from desk.analytics.ranges import ratio
from desk.clock import now
from store.models import Agent
from store.rollups import SessionFact

STEPS = ("started", "completed", "cancelled", "left")


async def form_metrics(
    sessions: async_sessionmaker[AsyncSession],
    reader: Agent,
    query: QueueQuery,
    at: datetime | None = None,
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    filters = await checked(sessions, query, "bot")
    # Left half done: begun, neither completed nor cancelled, and the customer went
    # quiet while the bot waited for an answer.
    left = and_(
        SessionFact.form_step.is_(None),
        parts((at or now()).astimezone(UTC), DEFAULT_WINDOWS)["left_mid_form"],
    )
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    SessionFact.form,
                    func.count(),
                    func.count().filter(SessionFact.form_step == "completed"),
                    func.count().filter(SessionFact.form_step == "cancelled"),
                    func.count().filter(left),
                )
                .where(counted(filters), SessionFact.form.is_not(None))
                .group_by(SessionFact.form)
            )
        ).all()
    figures = {form: dict.fromkeys(STEPS, 0) for form in FORMS}
    for form, *counts in rows:
        figures[form] = dict(zip(STEPS, counts, strict=True))
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("channel"),
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
