"""The start of each Rasa session (the first message, and again after an hour's
silence): slots carry over as the domain says, except verification, which
follows the store. A customer whose channel identity was verified recently
starts verified; one whose verification has lapsed verifies again."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from bot.actions.common import sessions
from bot.actions.verification import IDENTIFIED, VERIFICATION_SLOTS, VERIFIED
from desk.settings import get_settings
from store.identities import verification_lapsed
from store.models import Conversation

log = logging.getLogger(__name__)


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        carried = {
            name: value
            for name, value in tracker.current_slot_values().items()
            if value is not None and name != "session_started_metadata"
        }
        if not domain.get("session_config", {}).get("carry_over_slots_to_new_session", True):
            carried = {}
        customer_id = await self._verified_customer(tracker.sender_id)
        if customer_id is not None:
            carried.update(
                customer_id=customer_id,
                identity_number=IDENTIFIED,
                otp_code=VERIFIED,
            )
        elif "customer_id" in carried or carried.get("otp_code") == VERIFIED:
            for slot in ("customer_id", *VERIFICATION_SLOTS):
                carried.pop(slot, None)
        events: list[dict[str, Any]] = [SessionStarted()]
        events += [SlotSet(name, value) for name, value in carried.items()]
        metadata = tracker.get_slot("session_started_metadata")
        if metadata is not None:
            events.append(SlotSet("session_started_metadata", metadata))
        return events + [ActionExecuted("action_listen")]

    @staticmethod
    async def _verified_customer(conversation_uid: str) -> int | None:
        """The customer the gateway or an earlier verification linked to this
        conversation, unless that has lapsed. `rasa shell` has no conversation row."""
        try:
            async with sessions().begin() as session:
                conversation = await session.scalar(
                    select(Conversation).where(Conversation.uid == conversation_uid)
                )
                if conversation is None:
                    return None
                await verification_lapsed(
                    session, conversation, get_settings().verified_identity_days
                )
                return conversation.customer_id
        except Exception:
            # The store is down: start unverified rather than not at all.
            log.exception("could not read verification for %s", conversation_uid)
            return None
