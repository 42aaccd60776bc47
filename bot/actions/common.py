"""What every action shares: the store session, the customer's language, verification."""

from __future__ import annotations

from functools import lru_cache

from rasa_sdk import Tracker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.settings import get_settings
from desk.texts import language_of
from store.db import create_engine, session_factory


@lru_cache
def sessions() -> async_sessionmaker[AsyncSession]:
    """The action server's one session factory."""
    return session_factory(create_engine(get_settings().database_url))


def language(tracker: Tracker) -> str:
    """The customer's language for this conversation ("zh" unless it is a supported one)."""
    return language_of(tracker.get_slot("language"))


def verified_customer(tracker: Tracker) -> int | None:
    """The customer verified in this conversation; only actions set this slot."""
    value = tracker.get_slot("customer_id")
    return int(value) if value is not None else None
