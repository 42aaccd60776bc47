"""Handoff is a directive, not a side effect (DESIGN §2): the action returns
`{"handoff": {...}}` and the gateway queues the conversation."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

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
        "summary": " | ".join(e.get("text") or "" for e in user_turns),
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
