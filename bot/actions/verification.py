"""The verification form: identify by policy or ID card number, then a one-time code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from bot.actions.claims import describe_claims, describe_policies
from bot.actions.common import (
    client_address,
    language,
    sessions,
    verification_rules,
    verified_customer,
)
from bot.actions.handoff import guarded
from desk.texts import say
from store.identities import link_verified
from store.models import Conversation
from store.verification import (
    CodeCheck,
    Outcome,
    check_code,
    identifier_in,
    identify,
    minutes,
    resend,
)

# Every form that discloses or changes a customer's records starts with these.
VERIFICATION_SLOTS = ("identity_number", "otp_code")
IDENTIFIED, VERIFIED = "identified", "verified"
# Set when a form is to end at once (cancelled, or verification locked).
CANCELLED = "form_cancelled"


def tell_locked(dispatcher: CollectingDispatcher, tracker: Tracker, wait: timedelta) -> None:
    """How long verifying is paused, and a person who can verify another way."""
    lang = language(tracker)
    left = minutes(wait)
    dispatcher.utter_message(
        response="utter_code_locked",
        wait=say("wait_hours", lang, hours=-(-left // 60))
        if left > 90
        else say("wait_minutes", lang, minutes=left),
        buttons=[{"title": say("talk_to_agent_button", lang), "payload": "/request_human"}],
    )


# Ends the form: the customer is offered a person instead of the same question again.
LOCKED_SLOTS = {"identity_number": None, "otp_code": None, CANCELLED: True, "requested_slot": None}


class VerificationSlots:
    """Validators for the verification slots, shared by every form that needs them.
    Once the customer is verified the slots stay filled and pass unchanged."""

    async def validate_identity_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if verified_customer(tracker) is not None:
            return {"identity_number": IDENTIFIED}
        async with sessions().begin() as session:
            found = await identify(
                session,
                verification_rules(),
                tracker.sender_id,
                str(value or ""),
                client_address(tracker),
            )
        match found.outcome:
            case Outcome.INVALID:
                dispatcher.utter_message(response="utter_identity_invalid")
                return {"identity_number": None}
            case Outcome.LOCKED:
                tell_locked(dispatcher, tracker, found.wait)
                return dict(LOCKED_SLOTS)
        # The same words whether or not the number is on file; the challenge row
        # knows the customer, and the tracker keeps no identifier.
        dispatcher.utter_message(response="utter_code_sent")
        return {"identity_number": IDENTIFIED}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if verified_customer(tracker) is not None:
            return {"otp_code": VERIFIED}
        rules = verification_rules()
        if identifier_in(str(value or "")):
            # A policy or ID number again (the first was mistyped, say): start over.
            return await self.validate_identity_number(value, dispatcher, tracker, domain) | {
                "otp_code": None
            }
        async with sessions().begin() as session:
            result = await check_code(session, rules, tracker.sender_id, str(value or ""))
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
                    again = await resend(session, rules, tracker.sender_id)
                    if again.outcome == Outcome.LOCKED:
                        tell_locked(dispatcher, tracker, again.wait)
                        return dict(LOCKED_SLOTS)
                    dispatcher.utter_message(response="utter_code_expired")
                    return {"otp_code": None}
                case CodeCheck.LOCKED:
                    tell_locked(dispatcher, tracker, result.wait)
                    return dict(LOCKED_SLOTS)
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
            return events + [SlotSet(slot, None) for slot in (*VERIFICATION_SLOTS, CANCELLED)]
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
