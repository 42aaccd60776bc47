"""Claims figures, the seed's headline: the share filed self-service, first-time
success, the cycle from filing to payment, and advance payments (see
docs/metrics.md, where each is defined next to this query).

Claims are read from the store's own rows (`claims`, their `claim_stage_changes`)
and the `claim_filed` events the bot's claim form writes with each claim it files."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.filters import check_filters
from desk.analytics.queue import QueueQuery, check_reader, percentile
from desk.analytics.ranges import ratio, rows_in
from desk.clock import aware
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
        submitted = list(
            await session.scalars(
                select(Claim.id).where(Claim.submitted_at >= since, Claim.submitted_at < until)
            )
        )
        online = {
            int(event.data.get("claim_id") or 0)
            for event in await session.scalars(
                select(Event).where(
                    Event.kind == "claim_filed", Event.at >= since, Event.at < until
                )
            )
        } & set(submitted)
        stages: dict[int, set[str]] = {claim: set() for claim in submitted}
        for claim_id, stage in await rows_in(
            session,
            submitted,
            lambda part: select(ClaimStageChange.claim_id, ClaimStageChange.stage).where(
                ClaimStageChange.claim_id.in_(part)
            ),
        ):
            stages[claim_id].add(str(stage))
        decided = [c for c, seen in stages.items() if seen & {str(s) for s in DECIDED}]
        first_time = [c for c in decided if ClaimStage.DOCUMENTS_PENDING not in stages[c]]
        cycles = [
            (aware(paid) - aware(filed)).total_seconds()
            for filed, paid in await session.execute(
                select(Claim.submitted_at, ClaimStageChange.at)
                .join(ClaimStageChange, ClaimStageChange.claim_id == Claim.id)
                .where(
                    ClaimStageChange.stage == ClaimStage.PAID,
                    ClaimStageChange.at >= since,
                    ClaimStageChange.at < until,
                )
            )
        ]
        advances = list(
            await session.scalars(
                select(AdvancePayment.status).where(
                    AdvancePayment.created_at >= since, AdvancePayment.created_at < until
                )
            )
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "submitted": len(submitted),
        "filed_online": len(online),
        "self_service_share": ratio(len(online), len(submitted)),
        "decided": len(decided),
        "first_time": len(first_time),
        "first_time_success": ratio(len(first_time), len(decided)),
        "paid": len(cycles),
        "cycle_seconds": {
            "mean": round(sum(cycles) / len(cycles), 3) if cycles else None,
            "p50": percentile(cycles, 0.5),
            "p90": percentile(cycles, 0.9),
            "fastest": min(cycles) if cycles else None,
        },
        "advance_payments": {
            "requested": len(advances),
            "done": sum(1 for s in advances if s == TaskStatus.DONE),
            "cancelled": sum(1 for s in advances if s == TaskStatus.CANCELLED),
            "open": sum(1 for s in advances if s in (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)),
        },
    }
