"""Filing a claim in chat: policy, insured person, kind, incident date, hospital,
amount and the bank card on file, each checked against the store; then the claim
is created and the customer gets its number and the checklist for its kind."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.actions.claims import CLAIM_KINDS, POLICY_NUMBER, _money
from bot.actions.common import language, sessions, verified_customer
from bot.actions.documents import checklist_text, checklists, kind_in
from bot.actions.forms import (
    ServiceForm,
    StartForm,
    SubmitForm,
    add_numbered,
    conversation_id,
    once_per_turn,
)
from bot.actions.handoff import guarded, hand_over
from bot.actions.parsing import CHINA, parse_amount, parse_date
from desk.texts import pick, say
from store.identifiers import make_claim_number, mask_bank_account
from store.models import (
    Claim,
    ClaimKind,
    ClaimStage,
    ClaimStageChange,
    Customer,
    Event,
    InsuredMember,
    Policy,
    PolicyKind,
    PolicyStatus,
)

SLOTS = (
    "claim_policy",
    "claim_member",
    "claim_type",
    "claim_date",
    "claim_hospital",
    "claim_amount",
    "claim_bank",
)
# Health claims must be made within two years of the incident.
CLAIM_TIME_LIMIT = timedelta(days=730)
MAX_AMOUNT = Decimal("10000000")
KINDS_BY_POLICY = {
    PolicyKind.LONG_TERM_MEDICAL: ("hospitalisation", "outpatient"),
    PolicyKind.SHORT_TERM_MEDICAL: ("hospitalisation", "outpatient"),
    PolicyKind.CRITICAL_ILLNESS: ("critical_illness",),
    PolicyKind.ACCIDENT: ("accident",),
}
RELATIONS = {
    "self": ("本人", "自己", "我自己", "是我", "me", "myself", "self", "i am", "i'm"),
    "spouse": ("配偶", "妻子", "老婆", "丈夫", "老公", "爱人", "spouse", "wife", "husband"),
    "child": ("孩子", "儿子", "女儿", "小孩", "child", "son", "daughter", "kid"),
    "parent": ("父亲", "母亲", "爸", "妈", "parent", "father", "mother", "dad", "mum", "mom"),
}
YES = re.compile(r"^\s*(是|是的|对|对的|确认|没错|好的?|可以|嗯|yes|yep|yeah|y|ok|okay|correct|"
                 r"confirm(ed)?|that'?s right|right)\s*[!!。.]*\s*$", re.IGNORECASE)  # fmt: skip
CHANGE = re.compile(r"(不是|不对|换|更换|改|新卡|另一张|no\b|change|another|different|new card)",
                    re.IGNORECASE)  # fmt: skip
THIS_ONE = ("这个", "这份", "就这", "that", "this")
SUBMITTED_IN_CHAT = "在线客服提交 / Submitted in online chat"


def today() -> date:
    return datetime.now(CHINA).date()


async def customer_policies(session, customer_id: int) -> list[Policy]:
    """Policies a claim can be made on: in force, or ended within the time limit."""
    since = today() - CLAIM_TIME_LIMIT
    return list(
        (
            await session.scalars(
                select(Policy)
                .where(Policy.holder_id == customer_id, Policy.expiry_date >= since)
                .where(Policy.status != PolicyStatus.CANCELLED)
                .options(selectinload(Policy.members))
                .order_by(Policy.effective_date.desc())
            )
        ).all()
    )


async def chosen_policy(tracker: Tracker, session: AsyncSession | None = None) -> Policy | None:
    """The policy picked in the claim form, with its insured people; only ever one
    of the verified customer's own."""
    number = tracker.get_slot("claim_policy")
    customer_id = verified_customer(tracker)
    if not number or customer_id is None:
        return None
    query = (
        select(Policy)
        .where(Policy.number == number, Policy.holder_id == customer_id)
        .options(selectinload(Policy.members))
    )
    if session is not None:
        return await session.scalar(query)
    async with sessions()() as own:
        return await own.scalar(query)


def member_from_text(text: str, members: list[InsuredMember]) -> InsuredMember | None:
    compact = text.replace(" ", "").lower()
    named = [m for m in members if m.name and m.name in compact]
    if len(named) == 1:
        return named[0]
    for relation, words in RELATIONS.items():
        if any(w in compact or w in text.lower() for w in words):
            matches = [m for m in members if m.relation == relation]
            if len(matches) == 1:
                return matches[0]
    return None


def _buttons(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    # Plain-text payloads: the form reads them like typed answers.
    return [{"title": title, "payload": payload} for title, payload in pairs]


class ActionStartClaim(StartForm):
    slots = SLOTS
    intro = "utter_start_claim"

    def name(self) -> str:
        return "action_start_claim"

    run = guarded(StartForm.run)


class ActionAskClaimPolicy(Action):
    """Asks which policy, with a button for each."""

    def name(self) -> str:
        return "action_ask_claim_policy"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        async with sessions()() as session:
            policies = await customer_policies(session, verified_customer(tracker) or 0)
        buttons = _buttons([(f"{p.product_name} {p.number}", p.number) for p in policies])
        dispatcher.utter_message(response="utter_ask_claim_policy", buttons=buttons)
        return []


class ActionAskClaimMember(Action):
    def name(self) -> str:
        return "action_ask_claim_member"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        policy = await chosen_policy(tracker)
        members = policy.members if policy else []
        dispatcher.utter_message(
            response="utter_ask_claim_member",
            buttons=_buttons([(m.name, m.name) for m in members]),
        )
        return []


class ActionAskClaimType(Action):
    def name(self) -> str:
        return "action_ask_claim_type"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        policy = await chosen_policy(tracker)
        kinds = KINDS_BY_POLICY[policy.kind] if policy else tuple(CLAIM_KINDS)
        titles = [pick(CLAIM_KINDS[k], lang) for k in kinds]
        dispatcher.utter_message(
            response="utter_ask_claim_type", buttons=_buttons([(t, t) for t in titles])
        )
        return []


class ActionAskClaimBank(Action):
    def name(self) -> str:
        return "action_ask_claim_bank"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        async with sessions()() as session:
            customer = await session.get(Customer, verified_customer(tracker))
        yes, change = say("bank_keep_button", lang), say("bank_change_button", lang)
        dispatcher.utter_message(
            response="utter_ask_claim_bank",
            card=mask_bank_account(customer.bank_account or ""),
            buttons=_buttons([(yes, yes), (change, change)]),
        )
        return []


class ValidateClaimForm(ServiceForm):
    def name(self) -> str:
        return "validate_claim_form"

    async def validate_claim_policy(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = re.sub(r"\s", "", str(value or ""))
        async with sessions()() as session:
            policies = await customer_policies(session, verified_customer(tracker) or 0)
            customer = await session.get(Customer, verified_customer(tracker))
        named = POLICY_NUMBER.search(text)
        policy = next((p for p in policies if named and p.number == named.group().upper()), None)
        if policy is None and len(policies) == 1 and any(w in text for w in THIS_ONE):
            policy = policies[0]
        if policy is None:
            dispatcher.utter_message(response="utter_claim_policy_invalid")
            return {"claim_policy": None}
        slots: dict[str, Any] = {"claim_policy": policy.number}
        # Fill what the policy leaves no choice about.
        if len(policy.members) == 1:
            slots["claim_member"] = str(policy.members[0].id)
        kinds = KINDS_BY_POLICY[policy.kind]
        if len(kinds) == 1:
            slots["claim_type"] = kinds[0]
        if not customer.bank_account:
            slots["claim_bank"] = "none"
        return slots

    async def validate_claim_member(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        policy = await chosen_policy(tracker)
        members = policy.members if policy else []
        if str(value).isdigit() and any(str(m.id) == str(value) for m in members):
            return {"claim_member": str(value)}
        member = member_from_text(str(value or ""), members)
        if member is None:
            dispatcher.utter_message(response="utter_claim_member_invalid")
            return {"claim_member": None}
        return {"claim_member": str(member.id)}

    async def validate_claim_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        policy = await chosen_policy(tracker)
        allowed = KINDS_BY_POLICY[policy.kind] if policy else tuple(CLAIM_KINDS)
        kind = value if value in CLAIM_KINDS else kind_in(str(value or ""))
        if kind not in allowed:
            lang = language(tracker)
            dispatcher.utter_message(
                response="utter_claim_type_invalid",
                kinds=say("list_separator", lang).join(pick(CLAIM_KINDS[k], lang) for k in allowed),
            )
            return {"claim_type": None}
        return {"claim_type": kind}

    async def validate_claim_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        now = today()
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            day = parse_date(str(value or ""), now)
        if day is None:
            dispatcher.utter_message(response="utter_claim_date_unclear")
            return {"claim_date": None}
        if day > now:
            dispatcher.utter_message(response="utter_claim_date_future")
            return {"claim_date": None}
        policy = await chosen_policy(tracker)
        if policy and not policy.effective_date <= day <= policy.expiry_date:
            dispatcher.utter_message(
                response="utter_claim_date_uncovered",
                start=f"{policy.effective_date:%Y-%m-%d}",
                end=f"{policy.expiry_date:%Y-%m-%d}",
            )
            return {"claim_date": None}
        if now - day > CLAIM_TIME_LIMIT:
            dispatcher.utter_message(response="utter_claim_date_too_old")
            return {"claim_date": None}
        return {"claim_date": day.isoformat()}

    async def validate_claim_hospital(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = " ".join(str(value or "").split())
        if not 2 <= len(name) <= 64 or not re.search(r"[A-Za-z\u4e00-\u9fff]{2}", name):
            dispatcher.utter_message(response="utter_claim_hospital_invalid")
            return {"claim_hospital": None}
        return {"claim_hospital": name}

    async def validate_claim_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        amount = parse_amount(str(value or ""))
        if amount is None or amount <= 0:
            dispatcher.utter_message(response="utter_claim_amount_invalid")
            return {"claim_amount": None}
        policy = await chosen_policy(tracker)
        limit = min(policy.sum_insured, MAX_AMOUNT) if policy else MAX_AMOUNT
        if amount > limit:
            dispatcher.utter_message(response="utter_claim_amount_too_high", limit=_money(limit))
            return {"claim_amount": None}
        return {"claim_amount": str(amount)}

    async def validate_claim_bank(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if text in ("none", "confirmed"):
            return {"claim_bank": text}
        if CHANGE.search(text) or intent == "deny":
            return {"claim_bank": "change"}
        if YES.match(text) or text.startswith(("确认", "Yes, pay")) or intent == "affirm":
            return {"claim_bank": "confirmed"}
        dispatcher.utter_message(response="utter_claim_bank_unclear")
        return {"claim_bank": None}


class ActionSubmitClaim(SubmitForm):
    slots = SLOTS

    def name(self) -> str:
        return "action_submit_claim"

    run = guarded(SubmitForm.run)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("claim_bank") == "change":
            # A new bank card needs a person to check the customer's identity papers.
            dispatcher.utter_message(response="utter_claim_bank_change")
            hand_over(dispatcher, tracker, reason="bank_account_change")
            return []
        lang = language(tracker)
        kind = tracker.get_slot("claim_type")
        now = datetime.now(UTC)
        documents = [f"{zh} / {en}" for zh, en in checklists()[kind]["documents"]]

        async def file(session: AsyncSession, key: str | None) -> tuple[str, Decimal, str]:
            policy = await chosen_policy(tracker, session)
            member = next(
                m for m in policy.members if str(m.id) == tracker.get_slot("claim_member")
            )
            claim = Claim(
                policy_id=policy.id,
                member_id=member.id,
                kind=ClaimKind(kind),
                incident_date=date.fromisoformat(tracker.get_slot("claim_date")),
                hospital=tracker.get_slot("claim_hospital"),
                amount_claimed=Decimal(tracker.get_slot("claim_amount")),
                stage=ClaimStage.SUBMITTED,
                missing_documents=documents,
                submitted_at=now,
                turn_key=key,
            )
            await add_numbered(session, claim, make_claim_number)
            session.add(
                ClaimStageChange(
                    claim_id=claim.id, stage=ClaimStage.SUBMITTED, at=now, note=SUBMITTED_IN_CHAT
                )
            )
            session.add(
                Event(
                    kind="claim_filed",
                    conversation_id=await conversation_id(session, tracker),
                    customer_id=policy.holder_id,
                    data={"claim_id": claim.id, "number": claim.number},
                )
            )
            return claim.number, claim.amount_claimed, member.name

        async def filed(session: AsyncSession, claim: Claim) -> tuple[str, Decimal, str]:
            member = await session.get(InsuredMember, claim.member_id)
            return claim.number, claim.amount_claimed, member.name if member else ""

        number, amount, member_name = await once_per_turn(tracker, Claim, file, filed)
        dispatcher.utter_message(
            response="utter_claim_filed",
            number=number,
            amount=_money(amount),
            member=member_name,
        )
        dispatcher.utter_message(text=checklist_text(kind, lang))
        return []
