"""One customer across channels: each channel identity (a web session, a WeChat
openid, an app user id, a Telegram chat id) belongs to a contact; once the
customer verifies on an identity, it is linked to the customer and their one
contact, so agents see their conversations on every channel together. A
verification is remembered on that identity for a configurable time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_if_absent
from store.models import ChannelIdentity, Contact, Conversation, Event

LAST_SEEN_EVERY = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(at: datetime) -> datetime: ...


@overload
def _aware(at: None) -> None: ...


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


async def find_identity(session: AsyncSession, channel: str, external_id: str):
    return await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )


async def identity_for(
    session: AsyncSession, channel: str, external_id: str, profile: dict[str, Any] | None = None
) -> ChannelIdentity:
    """The channel identity, created with a contact of its own the first time (once,
    also when two requests of a new identity arrive at the same moment)."""
    identity = await find_identity(session, channel, external_id)
    if identity is None:
        contact = Contact(name=(profile or {}).get("name"))
        session.add(contact)
        await session.flush()
        values = {
            "channel": channel,
            "external_id": external_id,
            "contact_id": contact.id,
            "profile": dict(profile or {}),
            "last_seen_at": _now(),
        }
        if not await insert_if_absent(session, ChannelIdentity, values, ["channel", "external_id"]):
            # Another request created it a moment ago: that one's contact is the one.
            await session.delete(contact)
        identity = await find_identity(session, channel, external_id)
        if identity is None:
            raise LookupError("a channel identity vanished as it was created")
    if profile and {**(identity.profile or {}), **profile} != identity.profile:
        identity.profile = {**(identity.profile or {}), **profile}
    # Every message passes here: note the visit, but not more than once a minute.
    now = _now()
    if identity.last_seen_at is None or _aware(identity.last_seen_at) < now - LAST_SEEN_EVERY:
        identity.last_seen_at = now
    return identity


def remembered_customer(identity: ChannelIdentity | None, days: float) -> int | None:
    """The customer verified on this identity, if that was within `days`."""
    if identity is None or identity.customer_id is None or identity.verified_at is None:
        return None
    if _aware(identity.verified_at) < _now() - timedelta(days=days):
        return None
    return identity.customer_id


async def customer_contact(session: AsyncSession, customer_id: int) -> Contact:
    """The verified customer's one contact."""
    contact = await session.scalar(select(Contact).where(Contact.customer_id == customer_id))
    if contact is None:
        try:
            async with session.begin_nested():
                contact = Contact(customer_id=customer_id)
                session.add(contact)
                await session.flush()
        except IntegrityError:
            contact = await session.scalar(
                select(Contact).where(Contact.customer_id == customer_id)
            )
    return contact


async def link_verified(
    session: AsyncSession, conversation: Conversation, customer_id: int, method: str
) -> None:
    """The customer proved who they are in this conversation: link the conversation,
    its channel identity and that identity's earlier conversations to them."""
    conversation.customer_id = customer_id
    identity = await identity_for(session, conversation.channel, conversation.external_user_id)
    identity.customer_id = customer_id
    identity.verified_at = _now()
    contact = await customer_contact(session, customer_id)
    previous = identity.contact_id
    if previous != contact.id:
        identity.contact_id = contact.id
        # An anonymous contact becomes the customer's: its identities and conversations move.
        old = await session.get(Contact, previous)
        if old is not None and old.customer_id is None:
            await session.execute(
                update(ChannelIdentity)
                .where(ChannelIdentity.contact_id == previous)
                .values(contact_id=contact.id)
            )
            await session.execute(
                update(Conversation)
                .where(Conversation.contact_id == previous)
                .values(contact_id=contact.id)
            )
            if contact.name is None and old.name:
                contact.name = old.name
    conversation.contact_id = contact.id
    session.add(
        Event(
            kind="customer_verified",
            conversation_id=conversation.id,
            customer_id=customer_id,
            data={"method": method, "channel": conversation.channel},
        )
    )


async def verification_lapsed(
    session: AsyncSession, conversation: Conversation, days: float
) -> bool:
    """Forget a conversation's verification once its identity's has lapsed; the
    customer verifies again. Returns whether it lapsed."""
    if conversation.customer_id is None:
        return False
    identity = await find_identity(session, conversation.channel, conversation.external_user_id)
    if identity is None or identity.customer_id is None:
        return False  # verified before identities were kept: leave it
    if remembered_customer(identity, days) == conversation.customer_id:
        return False
    session.add(
        Event(
            kind="verification_lapsed",
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            data={"channel": conversation.channel},
        )
    )
    conversation.customer_id = None
    return True
