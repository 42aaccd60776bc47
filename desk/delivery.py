"""Push delivery, and the shapes a persisted message takes on its way out.

Channels that deliver by calling their provider's API derive from `PushChannel`:
delivery follows a cursor (`conversations.delivered_seq`), so a message that
could not be delivered is retried, in order, until it is, across restarts."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, or_, select, update

from desk.intake import Limits
from desk.locks import KeyedLocks
from desk.texts import numbered_choice
from store.models import Conversation, Event, Message, SenderKind

if TYPE_CHECKING:
    from desk.conversations import ConversationService

log = logging.getLogger(__name__)


def outbound_text(message: dict[str, Any]) -> dict[str, Any]:
    """A persisted message in the web chat protocol's `bot_uttered` shape
    (rasa-webchat's: `text`, `quick_replies`, `attachment`), plus our own
    fields: `seq` for acknowledgement and replay, and who sent it."""
    payload = message.get("payload") or {}
    body: dict[str, Any] = {"seq": message["seq"], "sender": message["sender"]}
    if message.get("text") is not None:
        body["text"] = message["text"]
    if payload.get("buttons"):
        body["quick_replies"] = [
            {"content_type": "text", "title": b.get("title"), "payload": b.get("payload")}
            for b in payload["buttons"]
        ]
    if payload.get("attachment"):
        body["attachment"] = payload["attachment"]
    elif payload.get("image"):
        body["attachment"] = {"type": "image", "payload": {"src": payload["image"]}}
    if payload.get("agent_name"):
        body["agent_name"] = payload["agent_name"]
    return body


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    buttons = (message.get("payload") or {}).get("buttons") or []
    return [b for b in buttons if isinstance(b, dict) and b.get("payload")]


def render_text(message: dict[str, Any], limits: Limits, language: str) -> list[str]:
    """A message as plain text for a channel: its text, then (where the channel has
    no buttons of its own) the buttons as numbered options the customer answers by
    number, and an attachment's address; split to the channel's length limit."""
    payload = message.get("payload") or {}
    lines = [message["text"]] if message.get("text") else []
    if not limits.buttons:
        for number, button in enumerate(buttons_of(message)[: limits.max_buttons], start=1):
            title = button.get("title") or button["payload"]
            lines.append(numbered_choice(number, title, language))
    attachment = payload.get("attachment") or (
        {"url": payload["image"]} if payload.get("image") else None
    )
    if isinstance(attachment, dict) and attachment.get("url"):
        lines.append(str(attachment["url"]))
    return split_text("\n".join(lines), limits.max_text_chars) if lines else []


def split_text(text: str, limit: int) -> list[str]:
    """Split at line ends where possible, never exceeding `limit` characters."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


class DeliveryFailed(Exception):
    """The provider did not take a message. Temporary failures are retried with
    backoff; a permanent one (the customer blocked us, say) skips the message."""

    def __init__(self, reason: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


# A flush owns a conversation's delivery for this long; a crashed process's claim lapses.
DELIVERY_LEASE = timedelta(seconds=60)
# Retries back off exponentially up to this; after MAX_ATTEMPTS a message is given up.
MAX_BACKOFF = timedelta(minutes=10)
MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)


def _now() -> datetime:
    return datetime.now(UTC)


class PushChannel:
    """Delivers by calling the provider's API, one conversation at a time, in order.

    `conversations.delivered_seq` is the cursor: every outbound message above it is
    still owed to the customer. A flush claims the conversation (a lease in
    `delivery_due_at`, so two processes never send the same message at once), sends
    what is owed, and advances the cursor after each message the provider took. A
    failure keeps the cursor and sets `delivery_due_at` to the next retry;
    housekeeping calls `retry_due`. Subclasses implement `send`.

    `retry_due` and `flush` take the time to run at (`now`, the clock's by default),
    so that tests drive retry rounds one by one, at chosen times, instead of
    waiting for housekeeping."""

    name: str
    limits: Limits

    def __init__(self, service: ConversationService):
        self.service = service
        self._locks = KeyedLocks()
        self._held: dict[int, int] = defaultdict(int)
        self._flushes: set[asyncio.Task] = set()

    async def send(self, conversation: Conversation, message: dict[str, Any]) -> None:
        """Send one stored outbound message; raise DeliveryFailed if it did not go."""
        raise NotImplementedError

    # ---- the Channel interface -----------------------------------------------------

    async def deliver(self, conversation: Conversation, message: dict[str, Any]) -> None:
        if self._held[conversation.id]:
            return  # the request that holds it answers (or flushes) when done
        task = asyncio.create_task(self.flush(conversation.id))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    @asynccontextmanager
    async def holding(self, conversation_id: int):
        """While held, this process does not push the conversation's messages: the
        request holding it may answer them itself (`take_pending`). Whatever is
        still owed when it lets go is flushed."""
        self._held[conversation_id] += 1
        try:
            yield
        finally:
            self._held[conversation_id] -= 1
            if not self._held[conversation_id]:
                del self._held[conversation_id]
                await self.flush(conversation_id)

    async def take_pending(
        self, conversation_id: int, accept=lambda messages: len(messages)
    ) -> list[dict[str, Any]]:
        """Claim the outbound messages still owed, for the caller to answer in its own
        response. `accept(messages)` says how many of them (from the first) it will
        answer; those are marked delivered, the rest stay owed."""
        async with self._locks.hold(conversation_id):
            claimed = await self._claim(conversation_id)
            if claimed is None:
                return []
            delivered_seq, _ = claimed
            owed = await self._owed(conversation_id, delivered_seq)
            taken = owed[: accept(owed)] if owed else []
            upto = taken[-1]["seq"] if taken else delivered_seq
            await self._release(conversation_id, upto, caught_up=len(taken) == len(owed))
            return taken

    async def flush(self, conversation_id: int, now: datetime | None = None) -> None:
        """Send what the conversation is owed, in order, until done or a failure.
        `now`: the time this flush runs at (what is due, when a retry falls due)."""
        async with self._locks.hold(conversation_id):
            while True:
                claimed = await self._claim(conversation_id, now)
                if claimed is None:
                    return  # another process is on it, or a retry is scheduled
                delivered_seq, attempts = claimed
                owed = await self._owed(conversation_id, delivered_seq)
                if not owed:
                    await self._release(conversation_id, delivered_seq, caught_up=True)
                    return
                conversation = await self.service.get(conversation_id)
                if conversation is None:
                    return
                for message in owed:
                    try:
                        await self.send(conversation, message)
                    except DeliveryFailed as failure:
                        attempts += 1
                        if failure.permanent or attempts >= MAX_ATTEMPTS:
                            await self._give_up(conversation, message, failure, attempts)
                            delivered_seq = message["seq"]
                            attempts = 0
                            continue
                        await self._retry_later(
                            conversation_id, delivered_seq, attempts, failure, now
                        )
                        return
                    except Exception as exc:  # a bug must not stop delivery for good
                        log.exception("%s delivery crashed for %s", self.name, conversation_id)
                        attempts += 1
                        await self._retry_later(
                            conversation_id,
                            delivered_seq,
                            attempts,
                            DeliveryFailed(repr(exc)),
                            now,
                        )
                        return
                    delivered_seq = message["seq"]
                    attempts = 0
                    await self._advance(conversation_id, delivered_seq)
                await self._release(conversation_id, delivered_seq, caught_up=False)
                # Loop: messages appended while sending are owed too.

    async def retry_due(self, now: datetime | None = None) -> int:
        """Flush every conversation of this channel that is owed a message and whose
        retry (or a crashed process's lease) is due. Returns how many were tried.
        `now`: the time this round runs at (the clock's by default)."""
        at = now or _now()
        owed = exists().where(
            Message.conversation_id == Conversation.id,
            Message.seq > Conversation.delivered_seq,
            Message.sender != SenderKind.CUSTOMER,
        )
        async with self.service.sessions() as session:
            due = (
                await session.scalars(
                    select(Conversation.id).where(
                        Conversation.channel == self.name,
                        or_(
                            Conversation.delivery_due_at.is_(None),
                            Conversation.delivery_due_at <= at,
                        ),
                        owed,
                    )
                )
            ).all()
        for conversation_id in due:
            if not self._held[conversation_id]:
                await self.flush(conversation_id, now)
        return len(due)

    async def drain(self) -> None:
        """Let running flushes finish (shutdown, tests)."""
        if self._flushes:
            await asyncio.gather(*list(self._flushes), return_exceptions=True)

    # ---- the cursor ------------------------------------------------------------------

    async def _claim(
        self, conversation_id: int, now: datetime | None = None
    ) -> tuple[int, int] | None:
        now = now or _now()
        async with self.service.sessions.begin() as session:
            row = (
                await session.execute(
                    update(Conversation)
                    .where(
                        Conversation.id == conversation_id,
                        or_(
                            Conversation.delivery_due_at.is_(None),
                            Conversation.delivery_due_at <= now,
                        ),
                    )
                    .values(delivery_due_at=now + DELIVERY_LEASE)
                    .returning(Conversation.delivered_seq, Conversation.delivery_attempts)
                )
            ).first()
        return (row[0], row[1]) if row else None

    async def _owed(self, conversation_id: int, delivered_seq: int) -> list[dict[str, Any]]:
        return await self.service.messages_after(conversation_id, delivered_seq, outbound_only=True)

    async def _advance(self, conversation_id: int, seq: int) -> None:
        async with self.service.sessions.begin() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.delivered_seq < seq)
                .values(delivered_seq=seq, delivery_attempts=0, delivery_error=None)
            )

    async def _release(self, conversation_id: int, seq: int, caught_up: bool) -> None:
        async with self.service.sessions.begin() as session:
            values: dict[str, Any] = {"delivery_due_at": None}
            if caught_up:
                values.update(delivery_attempts=0, delivery_error=None)
            await session.execute(
                update(Conversation).where(Conversation.id == conversation_id).values(**values)
            )
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.delivered_seq < seq)
                .values(delivered_seq=seq)
            )

    async def _retry_later(
        self,
        conversation_id: int,
        delivered_seq: int,
        attempts: int,
        failure: DeliveryFailed,
        now: datetime | None = None,
    ) -> None:
        wait = timedelta(seconds=failure.retry_after) if failure.retry_after else backoff(attempts)
        log.warning(
            "%s delivery to conversation %s failed (attempt %s, next in %ss): %s",
            self.name,
            conversation_id,
            attempts,
            int(wait.total_seconds()),
            failure.reason,
        )
        async with self.service.sessions.begin() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(
                    delivery_due_at=(now or _now()) + wait,
                    delivery_attempts=attempts,
                    delivery_error=failure.reason[:255],
                )
            )

    async def _give_up(
        self,
        conversation: Conversation,
        message: dict[str, Any],
        failure: DeliveryFailed,
        attempts: int,
    ) -> None:
        """The message stays in the transcript (agents see it, apps can fetch it);
        the channel just cannot carry it. Reported, so that someone can follow up."""
        log.error(
            "%s gave up delivering message %s of conversation %s after %s attempt(s): %s",
            self.name,
            message["seq"],
            conversation.id,
            attempts,
            failure.reason,
        )
        async with self.service.sessions.begin() as session:
            session.add(
                Event(
                    kind="delivery_failed",
                    conversation_id=conversation.id,
                    customer_id=conversation.customer_id,
                    data={
                        "channel": self.name,
                        "seq": message["seq"],
                        "reason": failure.reason[:255],
                        "attempts": attempts,
                        "permanent": failure.permanent,
                    },
                )
            )
            await session.execute(
                update(Conversation)
                .where(
                    and_(
                        Conversation.id == conversation.id,
                        Conversation.delivered_seq < message["seq"],
                    )
                )
                .values(delivered_seq=message["seq"], delivery_attempts=0)
            )
