"""What every action shares: the store session, the customer's language, verification."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.settings import get_settings
from store.db import create_engine, session_factory


@lru_cache
def sessions() -> async_sessionmaker[AsyncSession]:
    """The action server's one session factory."""
    return session_factory(create_engine(get_settings().database_url))


def language(tracker: Tracker) -> str:
    return "en" if tracker.get_slot("language") == "en" else "zh"


def verified_customer(tracker: Tracker) -> int | None:
    """The customer verified in this conversation; only actions set this slot."""
    value = tracker.get_slot("customer_id")
    return int(value) if value is not None else None


def start_verification(dispatcher: CollectingDispatcher, request: str) -> list[dict[str, Any]]:
    """Ask the customer to verify, remembering what they asked for so that
    action_after_verification can answer it."""
    dispatcher.utter_message(response="utter_verification_needed")
    return [SlotSet("pending_request", request), FollowupAction("verification_form")]
