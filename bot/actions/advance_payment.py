"""Advance payment of hospital bills (垫付): eligibility from the customer's policies,
a recorded request, a follow-up for the claims team, and the next steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions.claim_filing import today
from bot.actions.claims import POLICY_NUMBER, _money
from bot.actions.common import language, sessions, verified_customer
from bot.actions.forms import (
    ServiceForm,
    StartForm,
    SubmitForm,
    add_follow_up,
    add_numbered,
    conversation_id,
    once_per_turn,
)
from bot.actions.handoff import guarded
from bot.actions.parsing import parse_amount, parse_date
from desk.texts import say
from store.identifiers import make_advance_payment_number
from store.models import AdvancePayment, Policy, PolicyKind, PolicyStatus

SLOTS = ("ap_policy", "ap_admission_date", "ap_hospital", "ap_amount")
MEDICAL = (PolicyKind.LONG_TERM_MEDICAL, PolicyKind.SHORT_TERM_MEDICAL)
# Only bills above the medical plans' deductible are paid by us, so only they are advanced.
DEDUCTIBLE = Decimal("10000")
WAITING_PERIOD = timedelta(days=30)
# Already admitted (up to a week ago) or admission planned within a month.
ADMITTED_SINCE = timedelta(days=7)
PLANNED_WITHIN = timedelta(days=30)
# The claims team calls back within this time (service hours permitting).
CALL_WITHIN = timedelta(hours=24)


async def eligible_policies(session, customer_id: int) -> list[Policy]:
    """In-force medical policies: the only ones that pay hospitals directly."""
    return list(
        (
            await session.scalars(
                select(Policy)
                .where(
                    Policy.holder_id == customer_id,
                    Policy.kind.in_(MEDICAL),
                    Policy.status == PolicyStatus.ACTIVE,
                    Policy.expiry_date >= today(),
                )
                .order_by(Policy.effective_date.desc())
            )
        ).all()
    )


class ActionStartAdvancePayment(StartForm):
    slots = SLOTS
    intro = "utter_advance_payment_intro"

    def name(self) -> str:
        return "action_start_advance_payment"

    run = guarded(StartForm.run)


class ActionAskApPolicy(Action):
    def name(self) -> str:
        return "action_ask_ap_policy"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        async with sessions()() as session:
            policies = await eligible_policies(session, verified_customer(tracker) or 0)
        if not policies:
            human = say("talk_to_agent_button", lang)
            stop = say("no_thanks_button", lang)
            dispatcher.utter_message(
                response="utter_advance_payment_no_policy",
                buttons=[{"title": t, "payload": t} for t in (human, stop)],
            )
            return []
        dispatcher.utter_message(
            response="utter_ask_ap_policy",
            buttons=[
                {"title": f"{p.product_name} {p.number}", "payload": p.number} for p in policies
            ],
        )
        return []


class ValidateAdvancePaymentForm(ServiceForm):
    def name(self) -> str:
        return "validate_advance_payment_form"

    async def validate_ap_policy(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        named = POLICY_NUMBER.search(str(value or "").replace(" ", ""))
        async with sessions()() as session:
            policies = await eligible_policies(session, verified_customer(tracker) or 0)
        policy = next((p for p in policies if named and p.number == named.group().upper()), None)
        if policy is None:
            dispatcher.utter_message(response="utter_ap_policy_invalid")
            return {"ap_policy": None}
        return {"ap_policy": policy.number}

    async def validate_ap_admission_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        now = today()
        # Admission can be planned, so a date without a year is read as ahead.
        day = parse_date(str(value or ""), now, future=True)
        if day is None:
            dispatcher.utter_message(response="utter_claim_date_unclear")
            return {"ap_admission_date": None}
        if not now - ADMITTED_SINCE <= day <= now + PLANNED_WITHIN:
            dispatcher.utter_message(response="utter_ap_date_out_of_range")
            return {"ap_admission_date": None}
        async with sessions()() as session:
            policy = await session.scalar(
                select(Policy).where(Policy.number == tracker.get_slot("ap_policy"))
            )
        if policy and day < policy.effective_date + WAITING_PERIOD:
            dispatcher.utter_message(
                response="utter_ap_waiting_period",
                date=f"{policy.effective_date + WAITING_PERIOD:%Y-%m-%d}",
            )
            return {"ap_admission_date": None}
        return {"ap_admission_date": day.isoformat()}

    async def validate_ap_hospital(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = " ".join(str(value or "").split())
        if not 2 <= len(name) <= 64:
            dispatcher.utter_message(response="utter_claim_hospital_invalid")
            return {"ap_hospital": None}
        return {"ap_hospital": name}

    async def validate_ap_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        amount = parse_amount(str(value or ""))
        if amount is None or amount <= 0:
            dispatcher.utter_message(response="utter_claim_amount_invalid")
            return {"ap_amount": None}
        if amount <= DEDUCTIBLE:
            # Not eligible: say why and what to do instead, and end the form.
            dispatcher.utter_message(
                response="utter_ap_below_deductible", deductible=_money(DEDUCTIBLE)
            )
            return {"ap_amount": None, "form_cancelled": True, "requested_slot": None}
        return {"ap_amount": str(amount)}


class ActionSubmitAdvancePayment(SubmitForm):
    slots = SLOTS

    def name(self) -> str:
        return "action_submit_advance_payment"

    run = guarded(SubmitForm.run)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        customer_id = verified_customer(tracker)
        admission = date.fromisoformat(tracker.get_slot("ap_admission_date"))

        async def record(session: AsyncSession, key: str | None) -> str:
            policy = await session.scalar(
                select(Policy).where(
                    Policy.number == tracker.get_slot("ap_policy"), Policy.holder_id == customer_id
                )
            )
            conversation = await conversation_id(session, tracker)
            request = AdvancePayment(
                customer_id=customer_id,
                policy_id=policy.id,
                conversation_id=conversation,
                hospital=tracker.get_slot("ap_hospital"),
                admission_date=admission,
                estimated_amount=Decimal(tracker.get_slot("ap_amount")),
                turn_key=key,
            )
            await add_numbered(session, request, make_advance_payment_number)
            add_follow_up(
                session,
                kind="advance_payment",
                title=f"垫付申请 {request.number}:{request.hospital},"
                f"入院 {admission:%Y-%m-%d},预估 {_money(request.estimated_amount)}",
                team="claims",
                due_at=now + CALL_WITHIN,
                customer_id=customer_id,
                conversation_id=conversation,
                advance_payment_id=request.id,
            )
            return request.number

        async def recorded(session: AsyncSession, request: AdvancePayment) -> str:
            return request.number

        number = await once_per_turn(tracker, AdvancePayment, record, recorded)
        dispatcher.utter_message(response="utter_advance_payment_recorded", number=number)
        return []
