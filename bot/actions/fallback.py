"""When the bot does not understand: say so once, and hand over on the second time in a row."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.handoff import hand_over

NAME = "action_default_fallback"


def previous_bot_action(tracker: Tracker) -> str | None:
    """The last action before the customer's current message, listening aside."""
    seen_current_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user" and not seen_current_message:
            seen_current_message = True
            continue
        if seen_current_message and event.get("event") == "action":
            if event.get("name") not in ("action_listen", None):
                return event["name"]
    return None


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if previous_bot_action(tracker) == NAME:
            hand_over(dispatcher, tracker, reason="fallback")
            return []
        dispatcher.utter_message(response="utter_default")
        # Forget the message, so that it does not steer the dialogue.
        return [UserUtteranceReverted()]
