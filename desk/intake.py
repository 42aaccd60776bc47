"""Intake: what every channel hands the conversation service (the Chatwoot
structure: one adapter per channel behind one interface). The service stays
channel-blind: an adapter turns what its provider sends into an `Inbound`, hands
it to `ConversationService.receive`, and delivers the persisted outbound messages
the service gives back to it (DESIGN §2, "the gateway owns the conversation")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from desk.texts import REFUSALS, pick
from store.models import Conversation


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
    # The customer's own network address, where the channel knows it (web chat); the
    # bot is told it with each turn, for limits it keeps per address.
    client_address: str | None = None


@dataclass(frozen=True)
class Refusal:
    """Why an inbound item was refused; nothing of it was stored."""

    code: str
    message: str

    def text(self, language: str) -> str:
        """What to tell the customer."""
        return pick(REFUSALS.get(self.code, REFUSALS["malformed"]), language)


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


@runtime_checkable
class LiveChannel(Protocol):
    """A channel whose customers hold a connection while they are there (the web
    chat's socket): a queued customer no process has seen for the grace has left."""

    def connected_conversations(self) -> set[int]:
        """The conversations with a customer connected to this process."""
        ...


@runtime_checkable
class FileSource(Protocol):
    """A channel that keeps customers' files at its provider and fetches them on demand."""

    async def fetch_file(self, file_id: str) -> tuple[bytes, str]:
        """The file's bytes and MIME type; raises DeskError when it cannot be had."""
        ...
