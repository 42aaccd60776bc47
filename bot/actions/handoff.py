"""Handoff is a directive, not a side effect (DESIGN §2): the action returns
`{"handoff": {...}}` and the gateway queues the conversation."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from desk.settings import get_settings
from store.identifiers import mask_identifiers

log = logging.getLogger(__name__)

# Which team takes a conversation, by what the customer talked about last.
TEAM_BY_INTENT = {
    "ask_claim_status": "claims",
    "file_claim": "claims",
    "ask_claim_documents": "claims",
    "ask_advance_payment": "claims",
    "complain": "complaints",
}
SUMMARY_TURNS = 5


def handoff_directive(tracker: Tracker, reason: str | None = None) -> dict[str, Any]:
    user_turns = [e for e in tracker.events if e.get("event") == "user"][-SUMMARY_TURNS:]
    intents = [(e.get("parse_data") or {}).get("intent", {}).get("name") for e in user_turns]
    latest = tracker.latest_message.get("intent", {}).get("name")
    team = next((TEAM_BY_INTENT[i] for i in reversed(intents) if i in TEAM_BY_INTENT), "general")
    return {
        "reason": reason or ("customer_request" if latest == "request_human" else "bot"),
        "team": team,
        "intents": [i for i in intents if i],
        # Customers type ID numbers and one-time codes: agents get them masked.
        "summary": " | ".join(mask_identifiers(e.get("text") or "") for e in user_turns),
        "verified_customer_id": tracker.get_slot("customer_id"),
    }


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        hand_over(dispatcher, tracker)
        return []


def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str | None = None
) -> None:
    """Tell the customer, and give the gateway the handoff directive."""
    dispatcher.utter_message(response="utter_handoff")
    dispatcher.utter_message(json_message={"handoff": handoff_directive(tracker, reason)})


Run = Callable[[Any, CollectingDispatcher, Tracker, DomainDict], Awaitable[list[dict[str, Any]]]]


def guarded(run: Run) -> Run:
    """An action that fails (the store is down, a bug) or takes longer than
    ACTION_TIMEOUT_SECONDS hands the customer to a person rather than leaving them
    unanswered, and ends any form it was part of. The time limit is ours because
    Rasa 3.6 waits 5 minutes for an action (endpoints.yml cannot shorten it): an
    action that ran on after the gateway stopped waiting would file a claim for a
    customer already told the bot is unavailable. Given up, its writes are undone."""

    @functools.wraps(run)
    async def safe_run(
        self: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        try:
            return await asyncio.wait_for(
                run(self, dispatcher, tracker, domain), get_settings().action_timeout_seconds
            )
        except TimeoutError:
            log.error("action %s took too long; handing over", self.name())
            return _failed(dispatcher, tracker)
        except Exception:
            log.exception("action %s failed; handing over", self.name())
            return _failed(dispatcher, tracker)

    return safe_run


def _failed(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    dispatcher.messages.clear()
    dispatcher.utter_message(response="utter_action_failed")
    dispatcher.utter_message(json_message={"handoff": handoff_directive(tracker, "action_failed")})
    return [ActiveLoop(None), SlotSet("requested_slot", None)]
