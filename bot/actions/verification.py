"""The verification form: identify by policy or ID card number, then a one-time code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from bot.actions.claims import describe_claims, describe_policies
from bot.actions.common import sessions, verified_customer
from bot.actions.handoff import guarded
from store.identifiers import mask_mobile
from store.identities import link_verified
from store.models import Conversation, Customer
from store.verification import CodeCheck, check_code, find_customer, locked_until, send_code

# Every form that discloses or changes a customer's records starts with these.
VERIFICATION_SLOTS = ("identity_number", "otp_code")
IDENTIFIED, VERIFIED = "identified", "verified"


class VerificationSlots:
    """Validators for the verification slots, shared by every form that needs them.
    Once the customer is verified the slots stay filled and pass unchanged."""

    async def validate_identity_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if verified_customer(tracker) is not None:
            return {"identity_number": IDENTIFIED}
        async with sessions().begin() as session:
            customer = await find_customer(session, str(value or ""))
            if customer is None:
                dispatcher.utter_message(response="utter_identity_not_found")
                return {"identity_number": None}
            if until := await locked_until(session, customer.id):
                minutes = max(1, round((until - datetime.now(UTC)).total_seconds() / 60))
                dispatcher.utter_message(response="utter_code_locked", minutes=minutes)
                return {"identity_number": None}
            await send_code(session, tracker.sender_id, customer)
            dispatcher.utter_message(
                response="utter_code_sent", mobile=mask_mobile(customer.mobile)
            )
        # Keep no identifier in the tracker; the challenge row knows the customer.
        return {"identity_number": IDENTIFIED}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if verified_customer(tracker) is not None:
            return {"otp_code": VERIFIED}
        async with sessions().begin() as session:
            result = await check_code(session, tracker.sender_id, str(value or ""))
            match result.outcome:
                case CodeCheck.VERIFIED:
                    await _link_conversation(session, tracker.sender_id, result.customer_id)
                    dispatcher.utter_message(response="utter_verified")
                    return {"otp_code": VERIFIED, "customer_id": result.customer_id}
                case CodeCheck.WRONG:
                    dispatcher.utter_message(
                        response="utter_code_wrong", remaining=result.remaining
                    )
                    return {"otp_code": None}
                case CodeCheck.EXPIRED:
                    customer = await session.get(Customer, result.customer_id)
                    await send_code(session, tracker.sender_id, customer)
                    dispatcher.utter_message(response="utter_code_expired")
                    return {"otp_code": None}
                case CodeCheck.LOCKED:
                    dispatcher.utter_message(
                        response="utter_code_locked", minutes=result.minutes_locked
                    )
                    return {"otp_code": None, "identity_number": None}
                case _:
                    return {"otp_code": None, "identity_number": None}


class ActionAfterVerification(Action):
    """Answers what the customer asked before they had to verify."""

    def name(self) -> str:
        return "action_after_verification"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        customer_id = tracker.get_slot("customer_id")
        request, _, named = (tracker.get_slot("pending_request") or "").partition(":")
        events: list[dict[str, Any]] = [SlotSet("pending_request", None)]
        if customer_id is None:
            # Cancelled before the code was right: start from the beginning next time.
            return events + [SlotSet(slot, None) for slot in VERIFICATION_SLOTS]
        if request == "claim_status":
            await describe_claims(dispatcher, tracker, int(customer_id), named)
        elif request == "policy":
            await describe_policies(dispatcher, tracker, int(customer_id), named)
        return events


async def _link_conversation(session, conversation_uid: str, customer_id: int) -> None:
    conversation = await session.scalar(
        select(Conversation).where(Conversation.uid == conversation_uid)
    )
    # `rasa shell` conversations have no row in the store.
    if conversation is not None:
        await link_verified(session, conversation, customer_id, method="sms_code")
