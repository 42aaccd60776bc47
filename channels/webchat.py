"""The web chat channel: Rasa's socket.io protocol on the default namespace,
so our page and the rasa-webchat widget both work (DESIGN §4).

The server decides session ids; a reconnecting client sends the last sequence
number it has and receives what it missed; `user_uttered` carries an optional
`client_message_id` that makes resends harmless."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import socketio

from channels.base import outbound_text
from console.conversations import ConversationService
from store.models import Conversation

log = logging.getLogger(__name__)

CHANNEL = "web"


def _room(session_id: str) -> str:
    return f"web:{session_id}"


class WebChat(socketio.AsyncNamespace):
    name = CHANNEL

    def __init__(self, service: ConversationService, max_message_chars: int, origin_allowed):
        super().__init__("/")
        self.service = service
        self.max_message_chars = max_message_chars
        self.origin_allowed = origin_allowed

    # ---- the Channel interface -----------------------------------------------------

    async def deliver(self, conversation: Conversation, message: dict[str, Any]) -> None:
        await self.emit(
            "bot_uttered", outbound_text(message), room=_room(conversation.external_user_id)
        )

    async def typing(self, conversation: Conversation, agent_name: str, typing: bool) -> None:
        """The agent is typing (an event of our own; rasa-webchat ignores it)."""
        await self.emit(
            "agent_typing",
            {"typing": typing, "agent_name": agent_name},
            room=_room(conversation.external_user_id),
        )

    # ---- socket events ---------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin and not self.origin_allowed(origin):
            log.info("web chat connection refused for origin %s", origin)
            raise ConnectionRefusedError("origin not allowed")

    async def on_session_request(self, sid: str, data: Any = None) -> dict[str, Any]:
        data = data if isinstance(data, dict) else {}
        requested = data.get("session_id")
        conversation = None
        if isinstance(requested, str) and 16 <= len(requested) <= 64:
            conversation = await self.service.find(CHANNEL, requested)
        if conversation is None:
            # An id we did not issue is replaced by a fresh one.
            conversation, _ = await self.service.open(CHANNEL, secrets.token_urlsafe(24))
        session_id = conversation.external_user_id
        await self.save_session(sid, {"session_id": session_id, "conversation_id": conversation.id})
        await self.enter_room(sid, _room(session_id))
        await self.emit("session_confirm", {"session_id": session_id}, to=sid)

        last_seq = data.get("last_seq")
        if isinstance(last_seq, int) and last_seq >= 0:
            after = last_seq
        elif conversation.customer_ack_seq:
            after = conversation.customer_ack_seq
        else:
            after = conversation.last_seq  # a client that never acknowledges keeps its own history
        for message in await self.service.messages_after(
            conversation.id, after, outbound_only=True
        ):
            await self.emit("bot_uttered", outbound_text(message), to=sid)
        return {"session_id": session_id, "last_seq": conversation.last_seq}

    async def on_user_uttered(self, sid: str, data: Any = None) -> dict[str, Any]:
        session = await self.get_session(sid)
        if not session.get("conversation_id"):
            return _refusal("no_session", "Send session_request first.")
        if not isinstance(data, dict):
            return _refusal("malformed", "Expected {message, session_id}.")
        if data.get("session_id") not in (None, session["session_id"]):
            return _refusal("wrong_session", "That session is not this connection's.")
        text = data.get("message")
        if not isinstance(text, str) or not text.strip():
            return _refusal("empty", "The message is empty.")
        if len(text) > self.max_message_chars:
            return _refusal(
                "too_long", f"Messages are limited to {self.max_message_chars} characters."
            )
        client_message_id = data.get("client_message_id")
        if client_message_id is not None and (
            not isinstance(client_message_id, str) or not 1 <= len(client_message_id) <= 64
        ):
            return _refusal(
                "malformed", "client_message_id must be a string of 1 to 64 characters."
            )
        message, new = await self.service.customer_message(
            session["conversation_id"], text, client_message_id
        )
        return {"ok": True, "seq": message["seq"], "duplicate": not new}

    async def on_typing(self, sid: str, data: Any = None) -> None:
        """The customer is typing: shown to the agent handling the conversation."""
        session = await self.get_session(sid)
        if session.get("conversation_id") and isinstance(data, dict):
            await self.service.customer_typing(session["conversation_id"], bool(data.get("typing")))

    async def on_ack(self, sid: str, data: Any = None) -> None:
        session = await self.get_session(sid)
        seq = data.get("seq") if isinstance(data, dict) else None
        if session.get("conversation_id") and isinstance(seq, int) and seq > 0:
            await self.service.acknowledge(session["conversation_id"], seq)


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}
