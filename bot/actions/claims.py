"""Claim status and policy summaries for the verified customer, read from the store."""

from __future__ import annotations

import re
from abc import abstractmethod
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.actions.common import language, sessions, start_verification, verified_customer
from store.models import Claim, ClaimStage, Policy

CLAIM_NUMBER = re.compile(r"C\d{13}", re.IGNORECASE)
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


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _money(amount: Decimal | None) -> str:
    return f"¥{amount:,.2f}" if amount is not None else "-"


def claim_text(claim: Claim, lang: str) -> str:
    """One claim in plain language: stage and its history, amounts, what is missing."""
    stage = _pick(STAGES[claim.stage], lang)
    kind = _pick(CLAIM_KINDS[claim.kind.value], lang)
    history = " → ".join(
        f"{change.at:%m-%d} {_pick(STAGES[change.stage], lang)}" for change in claim.history
    )
    if lang == "en":
        lines = [
            f"Claim {claim.number} ({kind}, {claim.incident_date:%Y-%m-%d}, {claim.hospital}): "
            f"{stage}.",
            f"Claimed {_money(claim.amount_claimed)}, approved {_money(claim.amount_approved)}, "
            f"paid {_money(claim.amount_paid)}.",
        ]
        if history:
            lines.append(f"Progress: {history}")
        if claim.missing_documents:
            lines.append("Still needed: " + "; ".join(claim.missing_documents))
        if claim.rejection_reason:
            lines.append(f"Reason: {claim.rejection_reason}")
    else:
        lines = [
            f"理赔 {claim.number}({kind},出险日期 {claim.incident_date:%Y-%m-%d},"
            f"{claim.hospital}):{stage}。",
            f"申请金额 {_money(claim.amount_claimed)},核定金额 {_money(claim.amount_approved)},"
            f"已赔付 {_money(claim.amount_paid)}。",
        ]
        if history:
            lines.append(f"进度:{history}")
        if claim.missing_documents:
            lines.append("还需补充:" + ";".join(claim.missing_documents))
        if claim.rejection_reason:
            lines.append(f"原因:{claim.rejection_reason}")
    return "\n".join(lines)


def policy_text(policy: Policy, lang: str) -> str:
    kind = _pick(POLICY_KINDS[policy.kind.value], lang)
    status = _pick(POLICY_STATUSES[policy.status.value], lang)
    members = ", ".join(member.name for member in policy.members)
    if lang == "en":
        return (
            f"Policy {policy.number}: {policy.product_name} ({kind}), {status}. "
            f"Sum insured {_money(policy.sum_insured)}, premium {_money(policy.premium)}, "
            f"{policy.effective_date:%Y-%m-%d} to {policy.expiry_date:%Y-%m-%d}. "
            f"Insured: {members}."
        )
    return (
        f"保单 {policy.number}:{policy.product_name}({kind}),{status}。"
        f"保额 {_money(policy.sum_insured)},保费 {_money(policy.premium)},"
        f"保障期间 {policy.effective_date:%Y-%m-%d} 至 {policy.expiry_date:%Y-%m-%d}。"
        f"被保险人:{members}。"
    )


async def describe_claims(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int
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
    named = CLAIM_NUMBER.search(tracker.latest_message.get("text") or "")
    if named:
        query = query.where(Claim.number == named.group().upper())
    async with sessions()() as session:
        claims = (await session.scalars(query.limit(RECENT_CLAIMS))).all()
    if not claims:
        dispatcher.utter_message(response="utter_no_claims")
        return
    for claim in claims:
        dispatcher.utter_message(text=claim_text(claim, lang))


async def describe_policies(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int
) -> None:
    lang = language(tracker)
    async with sessions()() as session:
        policies = (
            await session.scalars(
                select(Policy)
                .where(Policy.holder_id == customer_id)
                .options(selectinload(Policy.members))
                .order_by(Policy.effective_date.desc())
            )
        ).all()
    if not policies:
        dispatcher.utter_message(response="utter_no_policies")
        return
    for policy in policies:
        dispatcher.utter_message(text=policy_text(policy, lang))


class VerifiedLookup(Action):
    """Answers from the verified customer's records, verifying them first if needed."""

    request: str

    @abstractmethod
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        if customer_id is None:
            return start_verification(dispatcher, self.request)
        await self.describe(dispatcher, tracker, customer_id)
        return []


class ActionClaimStatus(VerifiedLookup):
    request = "claim_status"
    describe = staticmethod(describe_claims)

    def name(self) -> str:
        return "action_claim_status"


class ActionPolicySummary(VerifiedLookup):
    request = "policy"
    describe = staticmethod(describe_policies)

    def name(self) -> str:
        return "action_policy_summary"
