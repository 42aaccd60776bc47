"""What every channel adapter provides. The conversation service stays
channel-blind: it persists a message, then hands it to the conversation's
channel to deliver (DESIGN §2, "the gateway owns the conversation")."""

from __future__ import annotations

from typing import Any, Protocol

from store.models import Conversation


class Channel(Protocol):
    name: str

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
