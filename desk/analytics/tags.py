"""Customers' behaviour tags, computed from the store and the events whenever they are
asked for (never stored, so never stale), for the customer 360 and for filters.
Each is defined in docs/metrics.md (Customer tags)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.clock import aware
from store.models import (
    Claim,
    Complaint,
    Conversation,
    Event,
    OtpChallenge,
    Policy,
    PolicyStatus,
    TaskStatus,
    VerificationLock,
)

TAGS = (
    "frequent_claimant",
    "open_complaint",
    "complained_recently",
    "prefers_wechat",
    "verification_fails",
    "policy_lapsing",
    "high_csat",
    "low_csat",
)
YEAR, QUARTER, MONTH = timedelta(days=365), timedelta(days=90), timedelta(days=30)
FREQUENT_CLAIMS = 3
FAILED_VERIFICATIONS = 2
HIGH_CSAT, LOW_CSAT, MIN_RATINGS = 4.5, 2.0, 2


async def behaviour_tags(
    session: AsyncSession, customer_ids: list[int], at: datetime
) -> dict[int, list[str]]:
    """Each customer's tags, in the order of TAGS."""
    found: dict[int, set[str]] = {customer: set() for customer in customer_ids}
    if not customer_ids:
        return {}
    claims = await session.execute(
        select(Policy.holder_id, func.count(Claim.id))
        .join(Claim, Claim.policy_id == Policy.id)
        .where(Policy.holder_id.in_(customer_ids), Claim.submitted_at >= at - YEAR)
        .group_by(Policy.holder_id)
    )
    for customer, count in claims:
        if count >= FREQUENT_CLAIMS:
            found[customer].add("frequent_claimant")
    for customer, status, created in await session.execute(
        select(Complaint.customer_id, Complaint.status, Complaint.created_at).where(
            Complaint.customer_id.in_(customer_ids)
        )
    ):
        if status in (TaskStatus.OPEN, TaskStatus.IN_PROGRESS):
            found[customer].add("open_complaint")
        if created is not None and aware(created) >= at - QUARTER:
            found[customer].add("complained_recently")
    channels: dict[int, Counter[str]] = defaultdict(Counter)
    for customer, channel in await session.execute(
        select(Conversation.customer_id, Conversation.channel).where(
            Conversation.customer_id.in_(customer_ids), Conversation.updated_at >= at - YEAR
        )
    ):
        channels[customer or 0][channel] += 1
    for customer, counted in channels.items():
        ranked = counted.most_common(2)
        if (
            ranked[0][0] == "wechat"
            and ranked[0][1] >= 2
            and (len(ranked) == 1 or ranked[0][1] > ranked[1][1])
        ):
            found[customer].add("prefers_wechat")
    failed = await session.execute(
        select(OtpChallenge.customer_id, func.count(OtpChallenge.id))
        .where(
            OtpChallenge.customer_id.in_(customer_ids),
            OtpChallenge.verified_at.is_(None),
            OtpChallenge.expires_at < at,
            OtpChallenge.created_at >= at - MONTH,
        )
        .group_by(OtpChallenge.customer_id)
    )
    for customer, count in failed:
        if count >= FAILED_VERIFICATIONS:
            found[customer or 0].add("verification_fails")
    keys = {f"customer:{customer}": customer for customer in customer_ids}
    for key in await session.scalars(
        select(VerificationLock.key).where(
            VerificationLock.key.in_(keys), VerificationLock.at >= at - MONTH
        )
    ):
        found[keys[key]].add("verification_fails")
    for customer in await session.scalars(
        select(Policy.holder_id).where(
            Policy.holder_id.in_(customer_ids),
            Policy.status == PolicyStatus.ACTIVE,
            Policy.expiry_date >= at.date(),
            Policy.expiry_date <= (at + MONTH).date(),
        )
    ):
        found[customer].add("policy_lapsing")
    ratings: dict[int, list[float]] = defaultdict(list)
    for event in await session.scalars(
        select(Event).where(
            Event.kind == "csat",
            Event.customer_id.in_(customer_ids),
            Event.at >= at - YEAR,
        )
    ):
        ratings[event.customer_id or 0].append(float(event.data.get("score") or 0))
    for customer, scores in ratings.items():
        if len(scores) >= MIN_RATINGS:
            mean = sum(scores) / len(scores)
            if mean >= HIGH_CSAT:
                found[customer].add("high_csat")
            elif mean <= LOW_CSAT:
                found[customer].add("low_csat")
    return {customer: [tag for tag in TAGS if tag in tags] for customer, tags in found.items()}
