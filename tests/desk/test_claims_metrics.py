"""Claims figures, exactly (SQLite and PostgreSQL): the share of claims filed online
(by the bot's claim form), first-time success (decided with no return for missing
documents), the cycle from filing to payment, and advance payments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from desk.analytics.claims import claims_metrics
from desk.analytics.queue import QueueQuery
from desk.errors import DeskError
from desk.inputs import read
from store.identifiers import make_advance_payment_number, make_claim_number
from store.models import (
    AdvancePayment,
    AgentRole,
    Claim,
    ClaimKind,
    ClaimStage,
    ClaimStageChange,
    Event,
    InsuredMember,
    Policy,
    TaskStatus,
)
from tests.desk.insured import holder
from tests.desk.test_conversations import make_agent

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 China time
DAYS = {"start": "2026-12-01", "end": "2026-12-03"}
S = ClaimStage


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


async def insured(session) -> tuple[Policy, InsuredMember]:
    _, policy, member = await holder(session, 77, "孙丽")
    return policy, member


async def claim(session, policy, member, n, filed, stages, online=False) -> None:
    row = Claim(
        number=make_claim_number(n),
        policy_id=policy.id,
        member_id=member.id,
        kind=ClaimKind.OUTPATIENT,
        incident_date=date(2026, 11, 20),
        hospital="保定市第一中心医院",
        amount_claimed=Decimal("800.00"),
        stage=stages[-1][0] if stages else S.SUBMITTED,
        missing_documents=[],
        submitted_at=filed,
    )
    session.add(row)
    await session.flush()
    session.add(ClaimStageChange(claim_id=row.id, stage=S.SUBMITTED, at=filed))
    for stage, at in stages:
        session.add(ClaimStageChange(claim_id=row.id, stage=stage, at=at))
    if online:
        session.add(Event(at=filed, kind="claim_filed", data={"claim_id": row.id}))


async def test_three_days_of_claims_exactly(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    async with sessions.begin() as session:
        policy, member = await insured(session)
        add = (session, policy, member)
        await claim(
            *add,
            1,
            hours(0),
            [(S.REVIEWING, hours(1)), (S.APPROVED, hours(20)), (S.PAID, hours(30))],
            online=True,
        )
        # back for missing documents: decided, but not right the first time
        await claim(
            *add,
            2,
            hours(1),
            [
                (S.DOCUMENTS_PENDING, hours(2)),
                (S.REVIEWING, hours(5)),
                (S.APPROVED, hours(6)),
                (S.PAID, hours(7)),
            ],
            online=True,
        )
        await claim(*add, 3, hours(2), [(S.REJECTED, hours(3))])
        await claim(*add, 4, hours(3), [(S.REVIEWING, hours(4))], online=True)
        # filed three days before, paid in the range
        await claim(*add, 5, hours(-72), [(S.PAID, hours(0.45))])
        # the seed's fastest: paid 27 minutes after filing
        await claim(
            *add,
            6,
            hours(4),
            [(S.APPROVED, hours(4) + timedelta(minutes=10)), (S.PAID, hours(4.45))],
            online=True,
        )
        for n, status, created in (
            (1, TaskStatus.DONE, hours(1)),
            (2, TaskStatus.CANCELLED, hours(2)),
            (3, TaskStatus.OPEN, hours(50)),
            (4, TaskStatus.DONE, hours(-72)),
        ):
            session.add(
                AdvancePayment(
                    number=make_advance_payment_number(n),
                    customer_id=policy.holder_id,
                    policy_id=policy.id,
                    hospital="北京协和医院",
                    admission_date=date(2026, 12, 5),
                    estimated_amount=Decimal("20000.00"),
                    status=status,
                    created_at=created,
                )
            )
    figures = await claims_metrics(sessions, boss, read(QueueQuery, DAYS))
    assert {k: v for k, v in figures.items() if k not in ("start", "end")} == {
        "submitted": 5,
        "filed_online": 4,
        "self_service_share": 0.8,
        "decided": 4,
        "first_time": 3,
        "first_time_success": 0.75,
        "paid": 4,
        "cycle_seconds": {
            "mean": (108000 + 21600 + 260820 + 1620) / 4,
            "p50": 21600.0,
            "p90": 260820.0,
            "fastest": 1620.0,
        },
        "advance_payments": {"requested": 3, "done": 1, "cancelled": 1, "open": 1},
    }


async def test_claims_figures_are_for_managers_without_team_or_channel(sessions):
    agent = await make_agent(sessions, "plain")
    boss = await make_agent(sessions, "boss2", AgentRole.SUPERVISOR, "general")
    with pytest.raises(DeskError) as refused:
        await claims_metrics(sessions, agent, read(QueueQuery, DAYS))
    assert refused.value.status == 403
    with pytest.raises(DeskError) as filtered:
        await claims_metrics(sessions, boss, read(QueueQuery, {**DAYS, "channel": "web"}))
    assert filtered.value.code == "bad_filter"
    empty = await claims_metrics(sessions, boss, read(QueueQuery, DAYS))
    assert (empty["submitted"], empty["self_service_share"], empty["cycle_seconds"]["mean"]) == (
        0,
        None,
        None,
    )
