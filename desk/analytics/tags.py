"""Customers' behaviour tags, computed from the store and the events whenever they are
asked for (never stored, so never stale), for the customer 360 and for filters.
Each is defined in docs/metrics.md (Customer tags)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pydantic import Field
from sqlalchemy import Select, String, cast, exists, func, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from desk.access import may_view
from desk.analytics.ranges import scalars_in
from desk.inputs import Body, Id
from store.models import (
    Agent,
    Claim,
    Complaint,
    Conversation,
    Customer,
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


def _frequent_claimant(at: datetime) -> Select[Any]:
    return (
        select(Policy.holder_id.label("customer_id"))
        .join(Claim, Claim.policy_id == Policy.id)
        .where(Claim.submitted_at >= at - YEAR)
        .group_by(Policy.holder_id)
        .having(func.count(Claim.id) >= FREQUENT_CLAIMS)
    )


def _open_complaint(at: datetime) -> Select[Any]:
    return select(Complaint.customer_id.label("customer_id")).where(
        Complaint.status.in_((TaskStatus.OPEN, TaskStatus.IN_PROGRESS))
    )


def _complained_recently(at: datetime) -> Select[Any]:
    return select(Complaint.customer_id.label("customer_id")).where(
        Complaint.created_at >= at - QUARTER
    )


def _prefers_wechat(at: datetime) -> Select[Any]:
    # Conversations per customer and channel; WeChat's count beats every other's.
    per_channel = (
        select(
            Conversation.customer_id.label("customer_id"),
            Conversation.channel.label("channel"),
            func.count().label("n"),
        )
        .where(Conversation.customer_id.is_not(None), Conversation.updated_at >= at - YEAR)
        .group_by(Conversation.customer_id, Conversation.channel)
        .subquery()
    )
    wechat, other = aliased(per_channel), aliased(per_channel)
    return select(wechat.c.customer_id).where(
        wechat.c.channel == "wechat",
        wechat.c.n >= 2,
        ~exists().where(
            other.c.customer_id == wechat.c.customer_id,
            other.c.channel != "wechat",
            other.c.n >= wechat.c.n,
        ),
    )


def _verification_fails(at: datetime) -> Select[Any]:
    expired = (
        select(OtpChallenge.customer_id.label("customer_id"))
        .where(
            OtpChallenge.customer_id.is_not(None),
            OtpChallenge.verified_at.is_(None),
            OtpChallenge.expires_at < at,
            OtpChallenge.created_at >= at - MONTH,
        )
        .group_by(OtpChallenge.customer_id)
        .having(func.count(OtpChallenge.id) >= FAILED_VERIFICATIONS)
    )
    # A lock is kept by key, `customer:<id>`.
    locked = (
        select(Customer.id.label("customer_id"))
        .join(
            VerificationLock,
            VerificationLock.key == literal("customer:").concat(cast(Customer.id, String)),
        )
        .where(VerificationLock.at >= at - MONTH)
    )
    return union(expired, locked).subquery().select()


def _policy_lapsing(at: datetime) -> Select[Any]:
    return select(Policy.holder_id.label("customer_id")).where(
        Policy.status == PolicyStatus.ACTIVE,
        Policy.expiry_date >= at.date(),
        Policy.expiry_date <= (at + MONTH).date(),
    )


def _rated(at: datetime) -> Select[Any]:
    return (
        select(Event.customer_id.label("customer_id"))
        .where(Event.kind == "csat", Event.customer_id.is_not(None), Event.at >= at - YEAR)
        .group_by(Event.customer_id)
        .having(func.count() >= MIN_RATINGS)
    )


def _mean_score() -> Any:
    return func.avg(func.coalesce(Event.data["score"].as_float(), 0.0))


def _high_csat(at: datetime) -> Select[Any]:
    return _rated(at).having(_mean_score() >= HIGH_CSAT)


def _low_csat(at: datetime) -> Select[Any]:
    return _rated(at).having(_mean_score() <= LOW_CSAT)


# Each tag as the customers who have it at a time: one query per tag, for the 360's
# few customers and for the analytics' filters alike, so the two never disagree.
WHO: dict[str, Callable[[datetime], Select[Any]]] = {
    "frequent_claimant": _frequent_claimant,
    "open_complaint": _open_complaint,
    "complained_recently": _complained_recently,
    "prefers_wechat": _prefers_wechat,
    "verification_fails": _verification_fails,
    "policy_lapsing": _policy_lapsing,
    "high_csat": _high_csat,
    "low_csat": _low_csat,
}


def _among(having: Select[Any], part: list[int]) -> Select[Any]:
    """Which of the customers `part` the tag's query finds."""
    found = having.subquery()
    return select(found.c.customer_id).where(found.c.customer_id.in_(part))


async def behaviour_tags(
    session: AsyncSession, customer_ids: list[int], at: datetime
) -> dict[int, list[str]]:
    """Each customer's tags, in the order of TAGS."""
    found: dict[int, set[str]] = {customer: set() for customer in customer_ids}
    if not customer_ids:
        return {}
    at = at.astimezone(UTC)
    for tag in TAGS:
        for customer in await scalars_in(session, customer_ids, partial(_among, WHO[tag](at))):
            found[customer].add(tag)
    return {customer: [tag for tag in TAGS if tag in tags] for customer, tags in found.items()}


async def tagged_customers(session: AsyncSession, tags: Iterable[str], at: datetime) -> list[int]:
    """The customers with any of `tags` at `at`: one set-based query, read once per
    figure (embedded in each of a figure's statements, PostgreSQL plans it with
    generic estimates and takes seconds)."""
    at = at.astimezone(UTC)
    customers = union(*(WHO[tag](at) for tag in tags)).subquery()
    return sorted(
        customer
        for customer in await session.scalars(select(customers.c.customer_id))
        if customer is not None
    )


# The most conversations one list asks about: the agents' list shows at most 500.
MAX_ASKED = 500


class TagsAsked(Body):
    """The conversations of an agent's list whose customers' tags are wanted."""

    conversation_ids: list[Id] = Field(default_factory=list, max_length=MAX_ASKED)
    refusals = {"conversation_ids": ("malformed", f"conversation_ids: at most {MAX_ASKED} ids.")}


async def conversation_tags(
    session: AsyncSession, agent: Agent, conversation_ids: list[int], at: datetime
) -> dict[int, list[str]]:
    """The tags of each conversation's customer (none when nobody verified), for the
    conversations `agent` may view; the others are left out, as if unknown."""
    seen = {
        conversation.id: conversation.customer_id
        for conversation in await session.scalars(
            select(Conversation).where(Conversation.id.in_(conversation_ids))
        )
        if may_view(agent, conversation)
    }
    tags = await behaviour_tags(session, sorted({c for c in seen.values() if c is not None}), at)
    return {conversation: tags.get(customer or 0, []) for conversation, customer in seen.items()}
