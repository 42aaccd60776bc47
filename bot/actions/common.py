"""What every action shares: the store session, the customer's language, verification."""

from __future__ import annotations

from functools import lru_cache

from rasa_sdk import Tracker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.settings import get_settings
from desk.texts import language_of
from store.db import create_engine, session_factory
from store.verification import Limits, Rules


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


def verification_rules() -> Rules:
    """The one-time codes' secret, mode and limits, from the settings."""
    settings = get_settings()
    return Rules(
        secret=settings.secret_key,
        demo_mode=settings.demo_mode,
        limits=Limits(
            codes_per_hour=settings.verification_codes_per_hour,
            codes_per_day=settings.verification_codes_per_day,
            identifications_per_session=settings.verification_identifications_per_session,
            identifications_per_address=settings.verification_identifications_per_address,
        ),
    )


def client_address(tracker: Tracker) -> str | None:
    """The customer's address as the gateway saw it, when it sent one."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    address = metadata.get("client_address") if isinstance(metadata, dict) else None
    return address if isinstance(address, str) and address else None
