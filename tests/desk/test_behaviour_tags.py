"""Customers' behaviour tags worked out from the store and the events, exactly
(SQLite and PostgreSQL), and shown in the customer 360."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from desk.analytics.tags import behaviour_tags
from desk.casework.customer360 import customer_360
from store.identifiers import make_claim_number, make_complaint_number
from store.models import (
    AgentRole,
    Claim,
    ClaimKind,
    ClaimStage,
    Complaint,
    Conversation,
    Event,
    OtpChallenge,
    TaskStatus,
    VerificationLock,
)
from tests.desk.insured import holder
from tests.desk.test_conversations import make_agent

NOW = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
numbers = iter(range(500, 600))


def claim(policy, member, days_ago: int) -> Claim:
    return Claim(
        number=make_claim_number(next(numbers)),
        policy_id=policy.id,
        member_id=member.id,
        kind=ClaimKind.OUTPATIENT,
        incident_date=date(2026, 1, 1),
        hospital="医院",
        amount_claimed=Decimal("100.00"),
        stage=ClaimStage.PAID,
        missing_documents=[],
        submitted_at=NOW - timedelta(days=days_ago),
    )


def complaint(customer, status, days_ago: int) -> Complaint:
    return Complaint(
        number=make_complaint_number(next(numbers)),
        customer_id=customer.id,
        category="service",
        description="…",
        status=status,
        due_at=NOW + timedelta(days=3),
        created_at=NOW - timedelta(days=days_ago),
    )


def conversation(customer, channel: str) -> Conversation:
    return Conversation(
        channel=channel,
        external_user_id=f"tags-{next(numbers)}",
        customer_id=customer.id,
        updated_at=NOW - timedelta(days=3),
    )


def rating(customer, score: int) -> Event:
    return Event(
        at=NOW - timedelta(days=5), kind="csat", customer_id=customer.id, data={"score": score}
    )


def challenge(customer, days_ago: int, verified: bool) -> OtpChallenge:
    sent = NOW - timedelta(days=days_ago)
    return OtpChallenge(
        conversation_uid=f"otp-{next(numbers)}",
        customer_id=customer.id,
        subject=f"customer:{customer.id}",
        code_hash="x",
        expires_at=sent + timedelta(minutes=5),
        verified_at=sent if verified else None,
        created_at=sent,
    )


async def test_each_tag_from_what_the_customer_did(sessions):
    async with sessions.begin() as session:
        busy, busy_policy, busy_member = await holder(session, 1)
        quiet_one, lapsing_policy, lapsing_member = await holder(
            session, 2, expires=(NOW + timedelta(days=20)).date()
        )
        nobody, _, _ = await holder(session, 3)
        locked, locked_policy, locked_member = await holder(session, 4)
        session.add_all(
            [
                *(claim(busy_policy, busy_member, d) for d in (10, 100, 300)),
                claim(busy_policy, busy_member, 400),  # over a year ago
                complaint(busy, TaskStatus.OPEN, 10),
                conversation(busy, "wechat"),
                conversation(busy, "wechat"),
                conversation(busy, "web"),
                rating(busy, 5),
                rating(busy, 4),
                complaint(quiet_one, TaskStatus.DONE, 200),
                challenge(quiet_one, 3, verified=False),
                challenge(quiet_one, 9, verified=False),
                challenge(quiet_one, 40, verified=False),  # over a month ago
                rating(quiet_one, 1),
                rating(quiet_one, 2),
                challenge(nobody, 2, verified=True),
                rating(nobody, 5),  # one rating says nothing
                *(claim(locked_policy, locked_member, d) for d in (5, 6)),
                conversation(locked, "wechat"),
                conversation(locked, "web"),
                VerificationLock(
                    key=f"customer:{locked.id}",
                    reason="wrong_codes",
                    until=NOW - timedelta(days=5),
                    at=NOW - timedelta(days=5, hours=1),
                ),
            ]
        )
    async with sessions() as session:
        tags = await behaviour_tags(session, [busy.id, quiet_one.id, nobody.id, locked.id], NOW)
    assert tags == {
        busy.id: [
            "frequent_claimant",
            "open_complaint",
            "complained_recently",
            "prefers_wechat",
            "high_csat",
        ],
        quiet_one.id: ["verification_fails", "policy_lapsing", "low_csat"],
        nobody.id: [],
        locked.id: ["verification_fails"],
    }
    supervisor = await make_agent(sessions, "sup-tags", AgentRole.SUPERVISOR, "general")
    async with sessions() as session:
        view = await customer_360(session, supervisor, quiet_one.id, NOW, ZoneInfo("Asia/Shanghai"))
    assert view["customer"]["behaviour"] == ["verification_fails", "policy_lapsing", "low_csat"]
