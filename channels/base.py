"""What every channel adapter provides (the Chatwoot structure: one module per
channel behind one interface). The conversation service stays channel-blind: an
adapter turns what its provider sends into an `Inbound`, hands it to
`ConversationService.receive`, and delivers the persisted outbound messages the
service gives back to it (DESIGN §2, "the gateway owns the conversation").

Channels that deliver by calling their provider's API derive from `PushChannel`:
delivery follows a cursor (`conversations.delivered_seq`), so a message that
could not be delivered is retried, in order, until it is, across restarts."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, exists, or_, select, update

from store.models import Conversation, Event, Message, SenderKind

if TYPE_CHECKING:
    from console.conversations import ConversationService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What a channel's provider can carry."""

    # The longest text the provider takes in one message; longer text is split.
    max_text_chars: int
    # Native quick replies; without them, buttons become numbered options in the text.
    buttons: bool
    max_buttons: int = 10


@dataclass
class Attachment:
    kind: str  # "image" | "file"
    url: str | None = None
    name: str | None = None
    mime: str | None = None
    size: int | None = None
    document_id: int | None = None

    def as_payload(self) -> dict[str, Any]:
        """The attachment as stored on a message (rasa-webchat's `type` naming)."""
        fields = {
            "type": self.kind,
            "url": self.url,
            "name": self.name,
            "mime": self.mime,
            "size": self.size,
            "document_id": self.document_id,
        }
        return {key: value for key, value in fields.items() if value is not None}


@dataclass
class Inbound:
    """One item a channel received, in the channel's own terms no longer."""

    # The channel identity: web session id, WeChat openid, app user id, Telegram chat id.
    external_id: str
    # Typed text, or the payload of a quick reply.
    text: str | None = None
    attachment: Attachment | None = None
    # "subscribe" or "unsubscribe" (WeChat follows, Telegram's /start), with no text.
    event: str | None = None
    # The provider's id for the message: a resend with the same id is stored once.
    message_id: str | None = None
    # What the provider tells about the person: {"name": ..., "language": "zh" | "en"}.
    profile: dict[str, Any] = field(default_factory=dict)


REFUSALS = {
    "empty": ("消息内容为空。", "The message is empty."),
    "too_long": ("消息太长了,请分几次发送。", "That message is too long; please split it up."),
    "rate_limited": (
        "您发送得太快了,请稍后再试。",
        "You're sending messages too quickly; please wait a moment.",
    ),
    "unsupported": (
        "抱歉,暂时只能处理文字和图片消息,请用文字描述您的问题。",
        "Sorry, I can only handle text and pictures for now; please describe it in words.",
    ),
    "malformed": ("消息格式有误。", "The message could not be read."),
}


@dataclass(frozen=True)
class Refusal:
    """Why an inbound item was refused; nothing of it was stored."""

    code: str
    message: str

    def text(self, language: str) -> str:
        """What to tell the customer."""
        zh, en = REFUSALS.get(self.code, REFUSALS["malformed"])
        return en if language == "en" else zh


@dataclass
class Received:
    """What `ConversationService.receive` did with an inbound item."""

    conversation: Conversation | None
    message: dict[str, Any] | None = None
    duplicate: bool = False
    refusal: Refusal | None = None

    @property
    def language(self) -> str:
        return self.conversation.language if self.conversation is not None else "zh"


class Channel(Protocol):
    name: str
    limits: Limits

    async def deliver(self, conversation: Conversation, message: dict[str, Any]) -> None:
        """Deliver one persisted outbound message (bot, agent or system) to the customer."""


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
            lines.append(
                f"Reply {number}: {title}" if language == "en" else f"回复 {number}:{title}"
            )
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
    housekeeping calls `retry_due`. Subclasses implement `send`."""

    name: str
    limits: Limits

    def __init__(self, service: ConversationService):
        self.service = service
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
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
        async with self._locks[conversation_id]:
            claimed = await self._claim(conversation_id)
            if claimed is None:
                return []
            delivered_seq, _ = claimed
            owed = await self._owed(conversation_id, delivered_seq)
            taken = owed[: accept(owed)] if owed else []
            upto = taken[-1]["seq"] if taken else delivered_seq
            await self._release(conversation_id, upto, caught_up=len(taken) == len(owed))
            return taken

    async def flush(self, conversation_id: int) -> None:
        """Send what the conversation is owed, in order, until done or a failure."""
        async with self._locks[conversation_id]:
            while True:
                claimed = await self._claim(conversation_id)
                if claimed is None:
                    return  # another process is on it, or a retry is scheduled
                delivered_seq, attempts = claimed
                owed = await self._owed(conversation_id, delivered_seq)
                if not owed:
                    await self._release(conversation_id, delivered_seq, caught_up=True)
                    return
                conversation = await self.service.get(conversation_id)
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
                        await self._retry_later(conversation_id, delivered_seq, attempts, failure)
                        return
                    except Exception as exc:  # a bug must not stop delivery for good
                        log.exception("%s delivery crashed for %s", self.name, conversation_id)
                        attempts += 1
                        await self._retry_later(
                            conversation_id, delivered_seq, attempts, DeliveryFailed(repr(exc))
                        )
                        return
                    delivered_seq = message["seq"]
                    attempts = 0
                    await self._advance(conversation_id, delivered_seq)
                await self._release(conversation_id, delivered_seq, caught_up=False)
                # Loop: messages appended while sending are owed too.

    async def retry_due(self) -> int:
        """Flush every conversation of this channel that is owed a message and whose
        retry (or a crashed process's lease) is due. Returns how many were tried."""
        now = _now()
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
                            Conversation.delivery_due_at <= now,
                        ),
                        owed,
                    )
                )
            ).all()
        for conversation_id in due:
            if not self._held[conversation_id]:
                await self.flush(conversation_id)
        return len(due)

    async def drain(self) -> None:
        """Let running flushes finish (shutdown, tests)."""
        if self._flushes:
            await asyncio.gather(*list(self._flushes), return_exceptions=True)

    # ---- the cursor ------------------------------------------------------------------

    async def _claim(self, conversation_id: int) -> tuple[int, int] | None:
        now = _now()
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
        self, conversation_id: int, delivered_seq: int, attempts: int, failure: DeliveryFailed
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
                    delivery_due_at=_now() + wait,
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
