"""Claim status and policy summaries for the verified customer, read from the store."""

from __future__ import annotations

import re
from abc import abstractmethod
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.actions.common import language, sessions, verified_customer
from bot.actions.handoff import guarded
from desk.texts import pick, say
from store.identifiers import mask_id_card
from store.models import Claim, ClaimStage, Policy

CLAIM_NUMBER = re.compile(r"C\d{13}", re.IGNORECASE)
POLICY_NUMBER = re.compile(r"P\d{13}", re.IGNORECASE)
RECENT_CLAIMS = 3

STAGES = {
    ClaimStage.SUBMITTED: ("已提交", "Submitted"),
    ClaimStage.DOCUMENTS_PENDING: ("待补充材料", "Waiting for documents"),
    ClaimStage.REVIEWING: ("审核中", "Under review"),
    ClaimStage.INVESTIGATING: ("调查中", "Under investigation"),
    ClaimStage.APPROVED: ("已核准,待支付", "Approved, payment pending"),
    ClaimStage.PAID: ("已赔付", "Paid"),
    ClaimStage.REJECTED: ("未予赔付", "Declined"),
}
CLAIM_KINDS = {
    "hospitalisation": ("住院医疗", "hospitalisation"),
    "outpatient": ("门诊", "outpatient"),
    "critical_illness": ("重大疾病", "critical illness"),
    "accident": ("意外", "accident"),
}
POLICY_KINDS = {
    "long_term_medical": ("长期医疗险", "long-term medical"),
    "short_term_medical": ("短期医疗险", "short-term medical"),
    "critical_illness": ("重疾险", "critical illness"),
    "accident": ("意外险", "accident"),
}
POLICY_STATUSES = {
    "active": ("有效", "in force"),
    "lapsed": ("失效", "lapsed"),
    "expired": ("已满期", "expired"),
    "cancelled": ("已退保", "cancelled"),
}


def _money(amount: Decimal | None) -> str:
    return f"¥{amount:,.2f}" if amount is not None else "-"


# How long each open stage usually takes to move on (the service promise behind
# "expected completion"); documents pending waits for the customer instead.
STAGE_TIMES = {
    ClaimStage.SUBMITTED: timedelta(days=1),
    ClaimStage.REVIEWING: timedelta(days=3),
    ClaimStage.INVESTIGATING: timedelta(days=30),
    ClaimStage.APPROVED: timedelta(days=1),
}


def expected_completion(claim: Claim) -> datetime | None:
    """When an open claim should be settled: from its latest stage change."""
    if claim.stage not in STAGE_TIMES or claim.missing_documents:
        return None
    since = max((change.at for change in claim.history), default=claim.submitted_at)
    # SQLite hands back naive datetimes; everything stored is UTC.
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return since + STAGE_TIMES[claim.stage]


def _now() -> datetime:
    return datetime.now(UTC)


def _documents(claim: Claim, lang: str) -> list[str]:
    """Missing documents are stored as "中文 / English"; show the customer's half."""
    halves = (doc.split(" / ", 1) for doc in claim.missing_documents)
    return [pick((half[0], half[1]), lang) if len(half) == 2 else half[0] for half in halves]


def claim_text(claim: Claim, lang: str) -> str:
    """One claim in plain language: stage and its history, amounts, what is missing."""
    history = " → ".join(
        f"{change.at:%m-%d} {pick(STAGES[change.stage], lang)}" for change in claim.history
    )
    lines = [
        say(
            "claim_heading",
            lang,
            number=claim.number,
            kind=pick(CLAIM_KINDS[claim.kind.value], lang),
            incident_date=f"{claim.incident_date:%Y-%m-%d}",
            hospital=claim.hospital,
            stage=pick(STAGES[claim.stage], lang),
        ),
        say(
            "claim_amounts",
            lang,
            claimed=_money(claim.amount_claimed),
            approved=_money(claim.amount_approved),
            paid=_money(claim.amount_paid),
        ),
    ]
    if history:
        lines.append(say("claim_progress", lang, history=history))
    if claim.missing_documents:
        documents = say("claim_documents_separator", lang).join(_documents(claim, lang))
        lines.append(say("claim_documents_missing", lang, documents=documents))
    if expected := expected_completion(claim):
        if expected > _now():
            lines.append(say("claim_expected", lang, date=f"{expected:%Y-%m-%d}"))
        else:
            lines.append(say("claim_overdue", lang, date=f"{expected:%m-%d}"))
    if claim.rejection_reason:
        lines.append(say("claim_rejection_reason", lang, reason=claim.rejection_reason))
    return "\n".join(lines)


def renewal_date(policy: Policy, today: date) -> date | None:
    """When the premium is next due: the next anniversary inside the term of a
    long-term policy, the expiry of a one-year one."""
    if policy.status.value != "active":
        return None
    if not policy.long_term:
        return policy.expiry_date
    years = max(1, today.year - policy.effective_date.year)
    for extra in range(years, years + 2):
        anniversary = _anniversary(policy.effective_date, extra)
        if anniversary > today:
            return anniversary if anniversary <= policy.expiry_date else None
    return None


def _anniversary(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def policy_text(policy: Policy, lang: str, today: date | None = None) -> str:
    members = ", ".join(
        f"{member.name} ({mask_id_card(member.id_card_number)})" for member in policy.members
    )
    text = say(
        "policy_summary",
        lang,
        number=policy.number,
        product=policy.product_name,
        kind=pick(POLICY_KINDS[policy.kind.value], lang),
        status=pick(POLICY_STATUSES[policy.status.value], lang),
        sum_insured=_money(policy.sum_insured),
        premium=_money(policy.premium),
        start=f"{policy.effective_date:%Y-%m-%d}",
        end=f"{policy.expiry_date:%Y-%m-%d}",
        members=members,
    )
    renews = renewal_date(policy, today or date.today())
    return text + (say("policy_renewal", lang, date=f"{renews:%Y-%m-%d}") if renews else "")


async def describe_claims(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int, named: str = ""
) -> None:
    """Tell the customer about the claim they named, or their most recent claims.
    Only claims on policies the verified customer holds are ever shown."""
    lang = language(tracker)
    query = (
        select(Claim)
        .join(Policy, Claim.policy_id == Policy.id)
        .where(Policy.holder_id == customer_id)
        .options(selectinload(Claim.history))
        .order_by(Claim.submitted_at.desc())
    )
    if named:
        query = query.where(Claim.number == named)
    async with sessions()() as session:
        claims = (await session.scalars(query.limit(RECENT_CLAIMS))).all()
    if not claims:
        dispatcher.utter_message(response="utter_no_claims")
        return
    for claim in claims:
        dispatcher.utter_message(text=claim_text(claim, lang))


async def describe_policies(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int, named: str = ""
) -> None:
    lang = language(tracker)
    query = (
        select(Policy)
        .where(Policy.holder_id == customer_id)
        .options(selectinload(Policy.members))
        .order_by(Policy.effective_date.desc())
    )
    # One policy when the customer named it (only among their own).
    if named:
        query = query.where(Policy.number == named)
    async with sessions()() as session:
        policies = (await session.scalars(query)).all()
    if not policies:
        dispatcher.utter_message(response="utter_no_policies")
        return
    for policy in policies:
        dispatcher.utter_message(text=policy_text(policy, lang))


class VerifiedLookup(Action):
    """Remembers what the customer asked for. The verification form runs next (at
    once done when they are verified already) and action_after_verification answers."""

    request: str
    number: re.Pattern[str]

    @abstractmethod
    def name(self) -> str: ...

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if verified_customer(tracker) is None:
            dispatcher.utter_message(response="utter_verification_needed")
        # A claim or policy number the customer named travels with the request.
        text = (tracker.latest_message.get("text") or "").replace(" ", "")
        named = self.number.search(text)
        request = f"{self.request}:{named.group().upper()}" if named else self.request
        return [SlotSet("pending_request", request)]


class ActionClaimStatus(VerifiedLookup):
    request = "claim_status"
    number = CLAIM_NUMBER

    def name(self) -> str:
        return "action_claim_status"


class ActionPolicySummary(VerifiedLookup):
    request = "policy"
    number = POLICY_NUMBER

    def name(self) -> str:
        return "action_policy_summary"
