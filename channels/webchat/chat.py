"""The web chat channel: Rasa's socket.io protocol on the default namespace,
so our widget and the rasa-webchat widget both work (DESIGN §4).

The server decides session ids: it signs those it issues, so any process knows one
of its own from one a client made up, and a session costs nothing in the store
until its customer says something (the conversation, its contact and channel
identity are created with the first message). New sessions are limited per client
address. A reconnecting client sends the last sequence number it has and receives
what it missed; `user_uttered` carries an optional `client_message_id` that makes
resends harmless.

Two kinds of client share the protocol:

- our own widget (and the test clients) read our extra fields beside the Rasa
  ones: `seq` (acknowledgement and replay), `sender` and `agent_name`;
- rasa-webchat tells messages apart by their exact set of keys (`{text}` is a
  text, `{text, quick_replies}` a set of buttons) after dropping `metadata`, so
  an extra field makes it ignore the message. It is recognised by the
  `customData` it sends with every `user_uttered`; from then on the session gets
  Rasa's own shape, our fields moved into `metadata`. The choice is kept on the
  channel identity, so a reloaded rasa-webchat page gets that shape at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from typing import Any, TypeGuard

import socketio

from desk.addresses import Network, client_address
from desk.conversations import ConversationService
from desk.delivery import outbound_text
from desk.errors import AnswersEveryEvent
from desk.flood import RateLimiter, SharedRateLimiter
from desk.inputs import MAX_ID
from desk.intake import Inbound, Limits, Refusal
from desk.pseudonyms import pseudonym
from desk.texts import preferred
from store.identities import find_identity
from store.models import Conversation

log = logging.getLogger(__name__)

CHANNEL = "web"
# Marks a channel identity whose client is rasa-webchat (its `profile["client"]`).
RASA_WEBCHAT = "rasa-webchat"
# The history a reloaded widget is sent again: at most this many of the latest messages.
HISTORY = 200


class SessionIds:
    """Session ids the server issued: 22 random characters and 22 of their MAC under
    the server's secret. Every process with the same SECRET_KEY recognises them, with
    nothing stored."""

    def __init__(self, secret: str):
        self.key = hashlib.sha256(b"web chat session ids\0" + secret.encode()).digest()

    def _tag(self, nonce: str) -> str:
        mac = hmac.new(self.key, nonce.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(16)
        return nonce + self._tag(nonce)

    def issued(self, session_id: str) -> bool:
        if len(session_id) != 44:
            return False
        return hmac.compare_digest(session_id[22:], self._tag(session_id[:22]))


def _room(session_id: str, plain: bool = False) -> str:
    return f"web:{session_id}:rasa" if plain else f"web:{session_id}"


def rasa_shapes(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A persisted outbound message as Rasa's socketio channel sends it, for
    rasa-webchat: `{text}`, `{text, quick_replies}` or `{attachment}` (a picture
    separately from its text, as Rasa does), our own fields under `metadata`."""
    body = outbound_text(message)
    metadata = {key: body.pop(key) for key in ("seq", "sender", "agent_name") if key in body}
    attachment = body.pop("attachment", None)
    shapes: list[dict[str, Any]] = []
    if "quick_replies" in body:
        shapes.append({"text": body.get("text") or "", "quick_replies": body["quick_replies"]})
    elif body.get("text"):
        shapes.append({"text": body["text"]})
    if isinstance(attachment, dict):
        if attachment.get("type") == "image" and isinstance(attachment.get("payload"), dict):
            shapes.append({"attachment": attachment})
        elif attachment.get("name"):
            # A file: rasa-webchat has no file message; name it in a text.
            shapes.append({"text": f"📎 {attachment['name']}"})
    return [{**shape, "metadata": metadata} for shape in shapes]


class WebChat(AnswersEveryEvent, socketio.AsyncNamespace):
    name = CHANNEL
    # The browser shows buttons itself and takes long texts.
    limits = Limits(max_text_chars=10_000, buttons=True)

    def __init__(
        self,
        service: ConversationService,
        session_ids: SessionIds,
        new_sessions: RateLimiter | SharedRateLimiter,
        trusted_proxies: tuple[Network, ...],
        origin_allowed,
    ):
        super().__init__("/")
        self.service = service
        self.session_ids = session_ids
        # New sessions per client address.
        self.new_sessions = new_sessions
        self.trusted_proxies = trusted_proxies
        self.origin_allowed = origin_allowed
        # Each connected socket's conversation, once it has one.
        self._present: dict[str, int] = {}

    # ---- the Channel interface -----------------------------------------------------

    async def deliver(self, conversation: Conversation, message: dict[str, Any]) -> None:
        session_id = conversation.external_user_id
        await self.emit("bot_uttered", outbound_text(message), room=_room(session_id))
        for shape in rasa_shapes(message):
            await self.emit("bot_uttered", shape, room=_room(session_id, plain=True))

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
        address = client_address(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), self.trusted_proxies
        )
        language = preferred(environ.get("HTTP_ACCEPT_LANGUAGE"))
        await self.save_session(sid, {"address": address, "language": language})

    async def on_session_request(self, sid: str, data: Any = None) -> dict[str, Any]:
        """`{session_id}` (rasa-webchat), plus ours: `last_seq`, the last sequence
        number the client has (what follows is sent again), and `history: true`,
        the conversation so far in both directions (a reloaded page shows it)."""
        data = data if isinstance(data, dict) else {}
        requested = data.get("session_id")
        previous = await self.get_session(sid)
        session_id, conversation = None, None
        if isinstance(requested, str) and 16 <= len(requested) <= 64:
            conversation = await self.service.find(CHANNEL, requested)
            if conversation is not None or self.session_ids.issued(requested):
                session_id = requested
        if session_id is None:
            # An id we did not issue is replaced by a fresh one, as many a minute as
            # a real customer could want from one address.
            address = previous.get("address") or "unknown"
            if not await self.new_sessions.check(address):
                log.warning("new web chat session refused: too many from %s", pseudonym(address))
                refusal = Refusal(
                    "too_many_sessions", "Too many new sessions from this address; wait a minute."
                )
                text = refusal.text(previous.get("language", "zh"))
                await self.emit(
                    "bot_uttered", {"text": text, "metadata": {"sender": "system"}}, to=sid
                )
                return _refusal(refusal.code, refusal.message)
            session_id = self.session_ids.issue()
        if previous.get("session_id") and previous["session_id"] != session_id:
            await self.leave_room(sid, _room(previous["session_id"], previous.get("plain", False)))
        plain = conversation is not None and await self._rasa_webchat(session_id)
        await self.save_session(
            sid,
            {
                **previous,
                "session_id": session_id,
                "conversation_id": conversation.id if conversation else None,
                "plain": plain,
            },
        )
        await self.enter_room(sid, _room(session_id, plain))
        await self.emit("session_confirm", {"session_id": session_id}, to=sid)
        if conversation is None:
            # Nothing said yet: nothing to replay.
            return {"session_id": session_id, "last_seq": 0}
        if plain:
            # rasa-webchat keeps its own history (storage "local") and never acknowledges.
            return {"session_id": session_id, "last_seq": conversation.last_seq}

        last_seq = data.get("last_seq")
        history = data.get("history") is True
        if history:
            after, outbound_only = max(0, conversation.last_seq - HISTORY), False
        elif (
            isinstance(last_seq, int) and not isinstance(last_seq, bool) and 0 <= last_seq <= MAX_ID
        ):
            after, outbound_only = last_seq, True
        elif acknowledged := self.service.acks.newest(
            conversation.id, conversation.customer_ack_seq
        ):
            after, outbound_only = acknowledged, True
        else:
            # A client that never acknowledges keeps its own history.
            after, outbound_only = conversation.last_seq, True
        for message in await self.service.messages_after(
            conversation.id, after, outbound_only=outbound_only, limit=HISTORY
        ):
            body = outbound_text(message)
            if message["sender"] == "customer" and message["payload"].get("attachment"):
                body["attachment"] = _customer_copy(message["payload"]["attachment"])
            await self.emit("bot_uttered", body, to=sid)
        return {"session_id": session_id, "last_seq": conversation.last_seq}

    async def on_user_uttered(self, sid: str, data: Any = None) -> dict[str, Any]:
        session = await self.get_session(sid)
        if not session.get("session_id"):
            return _refusal("no_session", "Send session_request first.")
        if not isinstance(data, dict):
            return _refusal("malformed", "Expected {message, session_id}.")
        # rasa-webchat sends `customData` with every message: each says so to the
        # identity (kept once), in case the first was refused before it was stored.
        profile = _rasa_webchat_profile(data["customData"]) if "customData" in data else {}
        if profile and not session.get("plain"):
            session = await self._switch_to_rasa_webchat(sid, session)
        if data.get("session_id") not in (None, session["session_id"]):
            return await self._refuse(sid, session, "wrong_session", "That session is not yours.")
        text = data.get("message")
        if not isinstance(text, str):
            return await self._refuse(sid, session, "empty", "The message is empty.")
        client_message_id = data.get("client_message_id")
        if client_message_id is not None and not isinstance(client_message_id, str):
            return _refusal(
                "malformed", "client_message_id must be a string of 1 to 64 characters."
            )
        # The service refuses what every channel refuses (empty, too long, floods); the
        # first message it takes opens the conversation.
        received = await self.service.receive(
            CHANNEL,
            Inbound(
                session["session_id"],
                text=text,
                message_id=client_message_id,
                profile=profile,
                client_address=session.get("address") or None,
            ),
        )
        if received.conversation is not None and not session.get("conversation_id"):
            session = {**session, "conversation_id": received.conversation.id}
            await self.save_session(sid, session)
        if received.refusal is not None:
            return await self._refuse(sid, session, received.refusal.code, received.refusal.message)
        if received.message is None:
            # Only events (which this is not) are taken without storing a message.
            raise RuntimeError("the service neither stored nor refused the message")
        return {"ok": True, "seq": received.message["seq"], "duplicate": received.duplicate}

    async def on_typing(self, sid: str, data: Any = None) -> None:
        """The customer is typing: shown to the agent handling the conversation."""
        conversation_id = await self._conversation_id(sid)
        if conversation_id and isinstance(data, dict):
            await self.service.customer_typing(conversation_id, bool(data.get("typing")))

    async def on_ack(self, sid: str, data: Any = None) -> None:
        seq = data.get("seq") if isinstance(data, dict) else None
        if not _sequence_number(seq, lowest=1):
            return
        conversation_id = await self._conversation_id(sid)
        if conversation_id:
            await self.service.acknowledge(conversation_id, seq)

    async def save_session(self, sid: str, session: dict, namespace: str | None = None) -> None:
        await super().save_session(sid, session, namespace)
        # Who is here, for housekeeping's heartbeat of queued customers.
        if session.get("conversation_id"):
            self._present[sid] = session["conversation_id"]

    def connected_conversations(self) -> set[int]:
        return set(self._present.values())

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        """An acknowledgement still waiting is written as the customer leaves."""
        self._present.pop(sid, None)
        session = await self.get_session(sid)
        if session.get("conversation_id"):
            await self.service.acks.flush(session["conversation_id"])

    async def _conversation_id(self, sid: str) -> int | None:
        """The session's conversation, once it has one (another tab of the same
        session may have said the first word)."""
        session = await self.get_session(sid)
        if session.get("conversation_id") or not session.get("session_id"):
            return session.get("conversation_id")
        conversation = await self.service.find(CHANNEL, session["session_id"])
        if conversation is None:
            return None
        await self.save_session(sid, {**session, "conversation_id": conversation.id})
        return conversation.id

    # ---- rasa-webchat ----------------------------------------------------------------

    async def _rasa_webchat(self, session_id: str) -> bool:
        async with self.service.sessions() as session:
            identity = await find_identity(session, CHANNEL, session_id)
        return identity is not None and (identity.profile or {}).get("client") == RASA_WEBCHAT

    async def _switch_to_rasa_webchat(self, sid: str, session: dict[str, Any]) -> dict[str, Any]:
        """rasa-webchat: Rasa's message shapes from now on, for this connection (and,
        remembered on the identity, for its later ones)."""
        await self.leave_room(sid, _room(session["session_id"]))
        await self.enter_room(sid, _room(session["session_id"], plain=True))
        session = {**session, "plain": True}
        await self.save_session(sid, session)
        return session

    async def _refuse(
        self, sid: str, session: dict[str, Any], code: str, message: str
    ) -> dict[str, Any]:
        """Our clients read the refusal in the acknowledgement; rasa-webchat asks
        for none, so it is told in a message (not stored) in the customer's language."""
        if session.get("plain"):
            conversation = None
            if session.get("conversation_id"):
                conversation = await self.service.get(session["conversation_id"])
            language = (
                conversation.language
                if conversation is not None
                else session.get("language") or "zh"
            )
            text = Refusal(code, message).text(language)
            await self.emit("bot_uttered", {"text": text, "metadata": {"sender": "system"}}, to=sid)
        log.info(
            "web chat message of session %s refused (%s): %s",
            pseudonym(session["session_id"]),
            code,
            message,
        )
        return _refusal(code, message)


def _rasa_webchat_profile(custom_data: Any) -> dict[str, Any]:
    """What rasa-webchat's `customData` tells the channel identity: its client, and
    the language its page asked for."""
    profile: dict[str, Any] = {"client": RASA_WEBCHAT}
    if isinstance(custom_data, dict) and custom_data.get("language") in ("zh", "en"):
        profile["language"] = custom_data["language"]
    return profile


def _customer_copy(attachment: dict[str, Any]) -> dict[str, Any]:
    """What the customer's own widget is told of a file they sent: never the agents'
    download address."""
    return {k: attachment[k] for k in ("type", "name", "mime", "size") if k in attachment}


def _sequence_number(value: Any, lowest: int) -> TypeGuard[int]:
    """A number the client may send as a sequence number (the store's ints are 32-bit)."""
    return isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= MAX_ID


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}
