"""Claims figures, the seed's headline: the share filed self-service, first-time
success, the cycle from filing to payment, and advance payments (see
docs/metrics.md, where each is defined next to this query).

Claims are read from the store's own rows (`claims`, their `claim_stage_changes`)
and the `claim_filed` events the bot's claim form writes with each claim it files."""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from desk.analytics.filters import check_filters
from desk.analytics.queue import QueueQuery, check_reader
from desk.analytics.ranges import ratio, seconds_between
from store.models import (
    AdvancePayment,
    Agent,
    Claim,
    ClaimStage,
    ClaimStageChange,
    Event,
    TaskStatus,
)

DECIDED = (ClaimStage.APPROVED, ClaimStage.PAID, ClaimStage.REJECTED)


async def claims_metrics(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: QueueQuery
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = start.astimezone(UTC), end.astimezone(UTC)
    async with sessions() as session:
        await check_filters(session, query, "claims")
    in_range = (Claim.submitted_at >= since, Claim.submitted_at < until)
    # Sent back for missing documents at some point (NOT EXISTS: PostgreSQL reads a
    # NOT IN over a subquery row by row).
    earlier = aliased(ClaimStageChange)
    pending = (
        exists()
        .where(
            earlier.claim_id == ClaimStageChange.claim_id,
            earlier.stage == ClaimStage.DOCUMENTS_PENDING,
        )
        .correlate(ClaimStageChange)
    )
    paid = (
        ClaimStageChange.stage == ClaimStage.PAID,
        ClaimStageChange.at >= since,
        ClaimStageChange.at < until,
    )
    async with sessions() as session:
        cycle = seconds_between(session, Claim.submitted_at, ClaimStageChange.at)
        submitted = await session.scalar(select(func.count()).where(*in_range)) or 0
        online = (
            await session.scalar(
                select(func.count(func.distinct(Event.data["claim_id"].as_integer()))).where(
                    Event.kind == "claim_filed",
                    Event.at >= since,
                    Event.at < until,
                    Event.data["claim_id"].as_integer().in_(select(Claim.id).where(*in_range)),
                )
            )
            or 0
        )
        decided_count = (
            await session.scalar(
                select(func.count(func.distinct(ClaimStageChange.claim_id)))
                .join(Claim, Claim.id == ClaimStageChange.claim_id)
                .where(*in_range, ClaimStageChange.stage.in_(DECIDED))
            )
            or 0
        )
        first_time = (
            await session.scalar(
                select(func.count(func.distinct(ClaimStageChange.claim_id)))
                .join(Claim, Claim.id == ClaimStageChange.claim_id)
                .where(
                    *in_range,
                    ClaimStageChange.stage.in_(DECIDED),
                    ~pending,
                )
            )
            or 0
        )
        paid_count, mean, fastest = (
            await session.execute(
                select(func.count(), func.avg(cycle), func.min(cycle))
                .select_from(ClaimStageChange)
                .join(Claim, Claim.id == ClaimStageChange.claim_id)
                .where(*paid)
            )
        ).one()
        ranked = [
            await _nearest_rank(session, cycle, paid, paid_count, share) for share in (0.5, 0.9)
        ]
        advances = dict(
            (status, count)
            for status, count in await session.execute(
                select(AdvancePayment.status, func.count())
                .where(AdvancePayment.created_at >= since, AdvancePayment.created_at < until)
                .group_by(AdvancePayment.status)
            )
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "submitted": submitted,
        "filed_online": online,
        "self_service_share": ratio(online, submitted),
        "decided": decided_count,
        "first_time": first_time,
        "first_time_success": ratio(first_time, decided_count),
        "paid": paid_count,
        "cycle_seconds": {
            "mean": _round(mean),
            "p50": _round(ranked[0]),
            "p90": _round(ranked[1]),
            "fastest": _round(fastest),
        },
        "advance_payments": {
            "requested": sum(advances.values()),
            "done": advances.get(TaskStatus.DONE, 0),
            "cancelled": advances.get(TaskStatus.CANCELLED, 0),
            "open": advances.get(TaskStatus.OPEN, 0) + advances.get(TaskStatus.IN_PROGRESS, 0),
        },
    }


async def _nearest_rank(
    session: AsyncSession, value: Any, where: tuple, count: int, share: float
) -> float | None:
    """The nearest-rank percentile of `value` over the rows `where` selects (see
    `desk.analytics.queue.percentile`), read by the store in order."""
    if not count:
        return None
    return await session.scalar(
        select(value)
        .select_from(ClaimStageChange)
        .join(Claim, Claim.id == ClaimStageChange.claim_id)
        .where(*where)
        .order_by(value)
        .offset(max(0, math.ceil(share * count) - 1))
        .limit(1)
    )


def _round(seconds: Any) -> float | None:
    # Whole milliseconds: the store's own arithmetic leaves float noise below them.
    return None if seconds is None else round(float(seconds), 3)
