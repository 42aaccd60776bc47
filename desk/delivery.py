"""Push delivery, and the shapes a persisted message takes on its way out.

Channels that deliver by calling their provider's API derive from `PushChannel`:
delivery follows a cursor (`conversations.delivered_seq`), so a message that
could not be delivered is retried, in order, until it is, across restarts."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, exists, or_, select, update

from desk import clock
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


# A flush holds a conversation's delivery for this long after its last step (the
# claim, each message the provider took), so it renews the lease as it goes; a
# crashed or stalled process's lease lapses and another process takes over.
DELIVERY_LEASE = timedelta(seconds=60)
# Retries back off exponentially up to this; after MAX_ATTEMPTS a message is given up.
MAX_BACKOFF = timedelta(minutes=10)
MAX_ATTEMPTS = 12


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)


def new_lease() -> str:
    """The token a flush holds a conversation's delivery lease by."""
    return secrets.token_hex(16)


class PushChannel:
    """Delivers by calling the provider's API, one conversation at a time, in order.

    `conversations.delivered_seq` is the cursor: every outbound message above it is
    still owed to the customer. A flush claims the conversation: a lease, its token
    in `delivery_lease` and its end in `delivery_due_at`, so that two processes
    never send the same conversation at once. It sends what is owed and, after each
    message the provider took, advances the cursor and renews the lease. Every
    write of a flush (renewal, cursor, release, retry) is made only while the lease
    is still its own; a flush whose lease lapsed and was taken over stops, and the
    new holder sends the rest. A failure keeps the cursor and sets
    `delivery_due_at` to the next retry; housekeeping calls `retry_due`.
    Subclasses implement `send`.

    `retry_due` and `flush` take the time to run at (`now`; else `clock()`, read at
    each step), so that tests drive retry rounds one by one, at chosen times,
    instead of waiting for housekeeping."""

    name: str
    limits: Limits

    def __init__(self, service: ConversationService):
        self.service = service
        # Where a flush reads the time when it is not given one (tests set their own).
        self.clock: Callable[[], datetime] = clock.now
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
    async def holding(self, conversation_id: int) -> AsyncIterator[None]:
        """While held, this process does not push the conversation's messages: the
        request holding it may answer them itself (`answering`). Whatever is
        still owed when it lets go is flushed."""
        self._held[conversation_id] += 1
        try:
            yield
        finally:
            self._held[conversation_id] -= 1
            if not self._held[conversation_id]:
                del self._held[conversation_id]
                await self.flush(conversation_id)

    @asynccontextmanager
    async def answering(
        self, conversation_id: int, accept: Callable[[list[dict[str, Any]]], int]
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Claim the outbound messages still owed, for the caller to answer in its own
        response (WeChat's passive reply). `accept(messages)` says how many of them
        (from the first) it will answer; the block gets those. They count as
        delivered only when the block ends without an error, that is once the
        response is written; if it raises (the caller hung up, the request was
        cancelled), they stay owed and are pushed like the rest."""
        async with self._locks.hold(conversation_id):
            lease = new_lease()
            claimed = await self._claim(conversation_id, lease, self.clock())
            if claimed is None:
                yield []  # another process is sending them, or they wait for a retry
                return
            delivered_seq, _ = claimed
            try:
                owed = await self._owed(conversation_id, delivered_seq)
                taken = owed[: accept(owed)] if owed else []
                yield taken
            except BaseException:
                await self._release(conversation_id, lease, caught_up=False)
                raise
            upto = taken[-1]["seq"] if taken else None
            await self._release(conversation_id, lease, len(taken) == len(owed), upto)

    async def flush(self, conversation_id: int, now: datetime | None = None) -> None:
        """Send what the conversation is owed, in order, until done, a failure, or the
        lease is lost (another process took over, and sends the rest).
        `now`: the time this flush runs at (what is due, when a retry falls due,
        until when the lease holds)."""
        at = (lambda: now) if now is not None else self.clock
        lease = new_lease()
        async with self._locks.hold(conversation_id):
            claimed = await self._claim(conversation_id, lease, at())
            if claimed is None:
                return  # another process is on it, or a retry is scheduled
            delivered_seq, attempts = claimed
            while True:
                owed = await self._owed(conversation_id, delivered_seq)
                if not owed:
                    await self._release(conversation_id, lease, caught_up=True)
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
                            if not await self._give_up(
                                conversation, lease, message, failure, attempts, at()
                            ):
                                return
                            delivered_seq = message["seq"]
                            attempts = 0
                            continue
                        await self._retry_later(conversation_id, lease, attempts, failure, at())
                        return
                    except Exception as exc:  # a bug must not stop delivery for good
                        log.exception("%s delivery crashed for %s", self.name, conversation_id)
                        attempts += 1
                        crash = DeliveryFailed(repr(exc))
                        await self._retry_later(conversation_id, lease, attempts, crash, at())
                        return
                    delivered_seq = message["seq"]
                    attempts = 0
                    if not await self._advance(conversation_id, lease, delivered_seq, at()):
                        return
                # Loop: messages appended while sending are owed too.

    async def retry_due(self, now: datetime | None = None) -> int:
        """Flush every conversation of this channel that is owed a message and whose
        retry (or a crashed process's lease) is due. Returns how many were tried.
        `now`: the time this round runs at (the clock's by default)."""
        at = now or self.clock()
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

    # ---- the cursor and the lease --------------------------------------------------------

    async def _claim(
        self, conversation_id: int, lease: str, now: datetime
    ) -> tuple[int, int] | None:
        """Take the lease if nobody holds it (or the holder's lapsed) and no retry is
        scheduled later: the cursor and the attempts so far, or None."""
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
                    .values(delivery_due_at=now + DELIVERY_LEASE, delivery_lease=lease)
                    .returning(Conversation.delivered_seq, Conversation.delivery_attempts)
                )
            ).first()
        return (row[0], row[1]) if row else None

    async def _owed(self, conversation_id: int, delivered_seq: int) -> list[dict[str, Any]]:
        return await self.service.messages_after(conversation_id, delivered_seq, outbound_only=True)

    async def _if_held(self, conversation_id: int, lease: str, **values: Any) -> bool:
        """Write `values` only while `lease` is still the conversation's; whether it was."""
        async with self.service.sessions.begin() as session:
            result = await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.delivery_lease == lease)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        held = cast(CursorResult, result).rowcount == 1
        if not held:
            log.warning(
                "%s: the delivery lease of conversation %s lapsed and was taken over; "
                "this flush stops",
                self.name,
                conversation_id,
            )
        return held

    async def _advance(self, conversation_id: int, lease: str, seq: int, now: datetime) -> bool:
        """The provider took message `seq`: move the cursor past it and renew the lease
        for the next one."""
        return await self._if_held(
            conversation_id,
            lease,
            delivered_seq=seq,
            delivery_attempts=0,
            delivery_error=None,
            delivery_due_at=now + DELIVERY_LEASE,
        )

    async def _release(
        self, conversation_id: int, lease: str, caught_up: bool, upto: int | None = None
    ) -> bool:
        values: dict[str, Any] = {"delivery_due_at": None, "delivery_lease": None}
        if caught_up:
            values.update(delivery_attempts=0, delivery_error=None)
        if upto is not None:
            values["delivered_seq"] = upto
        return await self._if_held(conversation_id, lease, **values)

    async def _retry_later(
        self,
        conversation_id: int,
        lease: str,
        attempts: int,
        failure: DeliveryFailed,
        now: datetime,
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
        await self._if_held(
            conversation_id,
            lease,
            delivery_due_at=now + wait,
            delivery_lease=None,
            delivery_attempts=attempts,
            delivery_error=failure.reason[:255],
        )

    async def _give_up(
        self,
        conversation: Conversation,
        lease: str,
        message: dict[str, Any],
        failure: DeliveryFailed,
        attempts: int,
        now: datetime,
    ) -> bool:
        """The message stays in the transcript (agents see it, apps can fetch it);
        the channel just cannot carry it. Reported, so that someone can follow up.
        Whether the lease was still this flush's (if not, nothing is written)."""
        async with self.service.sessions.begin() as session:
            result = await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id, Conversation.delivery_lease == lease)
                .values(
                    delivered_seq=message["seq"],
                    delivery_attempts=0,
                    delivery_due_at=now + DELIVERY_LEASE,
                )
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult, result).rowcount != 1:
                return False
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
        log.error(
            "%s gave up delivering message %s of conversation %s after %s attempt(s): %s",
            self.name,
            message["seq"],
            conversation.id,
            attempts,
            failure.reason,
        )
        return True
