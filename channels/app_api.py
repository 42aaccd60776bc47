"""The insurer's own app: a signed REST API in, a signed webhook out.

In (the app's backend calls us; every request signed, see `authenticate`):
- `POST /channels/app/v1/messages` {"user_id", "text" | "payload", "message_id"?,
  "profile"?: {"name", "language"}} stores the user's message and answers
  201 {"conversation_id", "seq", "duplicate": false, "message"}; the bot's answer
  follows through the webhook. An idempotency key (the `Idempotency-Key` header,
  or else `message_id`) is required: a repeat with the same key and the same body
  answers 200 with the message stored the first time and `"duplicate": true`; the
  same key with a different body is refused (422). Keys are scoped per user.
- `GET /channels/app/v1/conversations/{user_id}/messages?after=<seq>&limit=<n>`
  returns the user's current conversation from a cursor, so the app can catch up.

Signing: `X-Key-Id` names a key of APP_API_KEYS; `X-Timestamp` is unix seconds
(refused outside REPLAY_WINDOW_SECONDS); `X-Signature` is
`sha256=<hex HMAC-SHA256(secret, canonical)>`, where `canonical` (see `canonical`)
is five lines: the method, the request target (path and query, exactly as on the
request line), the timestamp, the `Idempotency-Key` header (empty without one)
and the hex SHA-256 of the body. So a captured request cannot be replayed under
another key, on another path or with another method.

Out: each outbound message is POSTed to APP_WEBHOOK_URL as {"event": "message",
"conversation_id", "user_id", "message": {...}}, with `Idempotency-Key: <message
uid>`, signed the same way with APP_WEBHOOK_SECRET (the target being the path and
query of APP_WEBHOOK_URL). A 2xx means delivered; 429, 408, 5xx, timeouts and
network errors are retried with backoff, in order; any other 4xx gives that
message up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
import zlib
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import BeforeValidator, Field
from sqlalchemy import select

from channels.replies import json_error
from desk.conversations import ConversationService
from desk.delivery import DeliveryFailed, PushChannel, outbound_text, split_text
from desk.errors import DeskError
from desk.inputs import MAX_ID, Body, read
from desk.intake import Inbound, Limits
from desk.settings import Settings
from desk.views import message_view
from store.models import Conversation, Message

log = logging.getLogger(__name__)

CHANNEL = "app"
PREFIX = "/channels/app/v1"
MAX_BODY = 64 * 1024
MAX_KEY = 255
WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=10)
# What each refusal of the conversation service answers.
REFUSAL_STATUS = {"rate_limited": 429, "malformed": 400}


class ApiError(DeskError):
    """A refusal, with the headers the app should see (Retry-After)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(code, message, status)
        self.headers = headers


def _user_id(value: Any) -> Any:
    # The app may send its user ids as numbers; they are names here.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Profile(Body):
    name: Annotated[str, Field(max_length=128)] | None = None
    language: Literal["zh", "en"] | None = None
    refusals = {
        "name": ("malformed", "profile.name must be at most 128 characters."),
        "language": ("malformed", "profile.language must be zh or en."),
    }


class AppMessage(Body):
    """`POST /channels/app/v1/messages`."""

    user_id: Annotated[str, BeforeValidator(_user_id), Field(min_length=1, max_length=128)]
    text: str | None = None
    payload: str | None = None
    message_id: Annotated[str, Field(min_length=1, max_length=MAX_KEY)] | None = None
    profile: dict[str, Any] = {}
    refusals = {
        "user_id": ("malformed", "user_id must be a string of 1 to 128 characters."),
        "text": ("malformed", "text and payload must be strings."),
        "payload": ("malformed", "text and payload must be strings."),
        "message_id": ("malformed", f"message_id must be 1 to {MAX_KEY} characters."),
        "profile": ("malformed", "profile must be an object."),
    }


def canonical(method: str, target: str, timestamp: str, key: str, body: bytes) -> bytes:
    """What a signature covers, one line each: the method, the request target (path
    and query as on the request line), the timestamp, the idempotency key ("" for
    none) and the hex SHA-256 of the body. No line can hold a line break (the body
    is hashed), so no two requests share one."""
    lines = [method.upper(), target, timestamp, key, hashlib.sha256(body).hexdigest()]
    return "\n".join(lines).encode()


def sign(secret: str, method: str, target: str, timestamp: str, key: str, body: bytes) -> str:
    """`X-Signature` of a request, ours to the app and the app's to us alike."""
    message = canonical(method, target, timestamp, key, body)
    return f"sha256={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def request_target(url: str) -> str:
    """The path and query of `url`, as they go on the request line."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def public_view(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the app sees it: no internal ids or bot details."""
    body = outbound_text(message)
    if "quick_replies" in body:
        body["quick_replies"] = [
            {"title": q["title"], "payload": q["payload"]} for q in body["quick_replies"]
        ]
    return {"uid": message["uid"], **body, "created_at": message.get("created_at")}


class AppApi(PushChannel):
    name = CHANNEL
    limits = Limits(max_text_chars=4000, buttons=True)

    def __init__(
        self,
        service: ConversationService,
        http: aiohttp.ClientSession,
        keys: dict[str, str],
        webhook_url: str,
        webhook_secret: str,
        replay_window_seconds: int,
        messages_per_minute: int,
    ):
        super().__init__(service)
        self.http = http
        self._keys = keys
        self.webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self.replay_window = replay_window_seconds
        # A refused flood is told when a message will be taken again.
        self.retry_after = max(1, math.ceil(60 / messages_per_minute))
        # Check-then-store of one user's idempotency keys, one at a time in this process.
        self._key_locks = [asyncio.Lock() for _ in range(64)]

    # ---- authentication ---------------------------------------------------------------

    def authenticate(self, request: web.Request, body: bytes = b"") -> str:
        """The key id that signed the request, or ApiError 401."""
        key_id = request.headers.get("X-Key-Id", "")
        secret = self._keys.get(key_id)
        if secret is None:
            raise ApiError(401, "unauthorised", "Unknown key id.")
        timestamp = request.headers.get("X-Timestamp", "")
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise ApiError(401, "unauthorised", "X-Timestamp must be unix seconds.")
        if abs(time.time() - int(timestamp)) > self.replay_window:
            raise ApiError(401, "unauthorised", "The timestamp is outside the replay window.")
        key = request.headers.get("Idempotency-Key", "")
        expected = sign(secret, request.method, request.raw_path, timestamp, key, body)
        sent = request.headers.get("X-Signature", "").strip()
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise ApiError(401, "unauthorised", "The signature does not match.")
        return key_id

    # ---- in ------------------------------------------------------------------------------

    async def post_message(self, request: web.Request) -> web.Response:
        try:
            return await self._post_message(request)
        except ApiError as exc:
            if exc.status == 401:
                log.warning("app API refused a message: %s", exc.message)
            return json_error(exc.status, exc.code, exc.message, exc.headers)
        except DeskError as exc:
            return json_error(exc.status, exc.code, exc.message)

    async def _post_message(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise ApiError(413, "too_large", f"Requests are limited to {MAX_BODY} bytes.")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise ApiError(413, "too_large", f"Requests are limited to {MAX_BODY} bytes.")
        self.authenticate(request, raw)
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "malformed", "The body must be JSON.") from None
        inbound, key = self._parse(body, request.headers.get("Idempotency-Key"))
        # The stored message id names the key and the body: a repeat is found by the
        # key, and told apart from a different request reusing it by the body.
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        key_hash = _sha(key)[:32]
        inbound.message_id = f"{key_hash}.{_sha(canonical)[:24]}"
        lock = self._key_locks[zlib.crc32(inbound.external_id.encode()) % len(self._key_locks)]
        async with lock:
            earlier = await self._earlier(inbound.external_id, key_hash)
            if earlier is not None:
                message, conversation_uid = earlier
                if message.client_message_id != inbound.message_id:
                    raise ApiError(
                        422,
                        "idempotency_conflict",
                        "This idempotency key was used with a different request.",
                    )
                return self._accepted(conversation_uid, message_view(message), duplicate=True)
            received = await self.service.receive(CHANNEL, inbound)
        if received.refusal is not None:
            code = received.refusal.code
            status = REFUSAL_STATUS.get(code, 422)
            headers = {"Retry-After": str(self.retry_after)} if status == 429 else None
            raise ApiError(status, code, received.refusal.message, headers)
        assert received.conversation is not None and received.message is not None
        return self._accepted(received.conversation.uid, received.message, received.duplicate)

    @staticmethod
    def _accepted(conversation_uid: str, message: dict[str, Any], duplicate: bool) -> web.Response:
        return web.json_response(
            {
                "conversation_id": conversation_uid,
                "seq": message["seq"],
                "duplicate": duplicate,
                "message": public_view(message),
            },
            status=200 if duplicate else 201,
        )

    @staticmethod
    def _parse(body: Any, header_key: str | None) -> tuple[Inbound, str]:
        if isinstance(body, dict) and any(k in body for k in ("attachment", "image", "file")):
            raise ApiError(422, "unsupported", "Attachments are not taken by this API yet.")
        message = read(AppMessage, body)
        if "text" in message.model_fields_set and "payload" in message.model_fields_set:
            raise ApiError(400, "malformed", "Send text or payload, not both.")
        key = header_key if header_key is not None else message.message_id
        if not key or len(key) > MAX_KEY:
            raise ApiError(
                400,
                "idempotency_key_required",
                f"Send an Idempotency-Key header (or message_id) of 1 to {MAX_KEY} characters.",
            )
        profile = read(Profile, message.profile).model_dump(exclude_none=True)
        text = message.text if message.text is not None else message.payload
        return Inbound(message.user_id, text=text, profile=profile), key

    async def _earlier(self, user_id: str, key_hash: str) -> tuple[Message, str] | None:
        """The message a user's earlier request with this key stored, if any."""
        async with self.service.sessions() as session:
            row = (
                await session.execute(
                    select(Message, Conversation.uid)
                    .join(Conversation, Message.conversation_id == Conversation.id)
                    .where(
                        Conversation.channel == CHANNEL,
                        Conversation.external_user_id == user_id,
                        Message.client_message_id.startswith(f"{key_hash}."),
                    )
                    .limit(1)
                )
            ).first()
        return (row[0], row[1]) if row else None

    async def get_messages(self, request: web.Request) -> web.Response:
        """Catch up by cursor: the user's current conversation after `after`."""
        try:
            self.authenticate(request)
            after = _query_int(request, "after", 0, 0, MAX_ID)
            limit = _query_int(request, "limit", 100, 1, 500)
        except ApiError as exc:
            return json_error(exc.status, exc.code, exc.message, exc.headers)
        conversation = await self.service.find(CHANNEL, request.match_info["user_id"])
        if conversation is None:
            return web.json_response(
                {"conversation_id": None, "messages": [], "last_seq": 0, "has_more": False}
            )
        messages = await self.service.messages_after(conversation.id, after, limit=limit + 1)
        return web.json_response(
            {
                "conversation_id": conversation.uid,
                "messages": [public_view(m) for m in messages[:limit]],
                "last_seq": conversation.last_seq,
                "has_more": len(messages) > limit,
            }
        )

    # ---- out -----------------------------------------------------------------------------

    async def send(self, conversation: Conversation, message: dict[str, Any]) -> None:
        if not self.webhook_url:
            return  # no webhook: the app catches up by cursor
        view = public_view(message)
        parts = split_text(view["text"], self.limits.max_text_chars) if view.get("text") else []
        if len(parts) <= 1:
            await self._post(conversation, view, message["uid"])
            return
        # Longer than the app takes at once: several events, extras on the last.
        extras = ("quick_replies", "attachment")
        for number, part in enumerate(parts, start=1):
            last = number == len(parts)
            piece = {k: v for k, v in view.items() if last or k not in extras}
            piece.update(text=part, part=number, parts=len(parts))
            await self._post(conversation, piece, f"{message['uid']}.{number}")

    async def _post(self, conversation: Conversation, view: dict[str, Any], key: str) -> None:
        body = json.dumps(
            {
                "event": "message",
                "conversation_id": conversation.uid,
                "user_id": conversation.external_user_id,
                "message": view,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(time.time()))
        target = request_target(self.webhook_url)
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": timestamp,
            "X-Signature": sign(self._webhook_secret, "POST", target, timestamp, key, body),
            "Idempotency-Key": key,
        }
        try:
            async with self.http.post(
                self.webhook_url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"app webhook: {type(exc).__name__}") from None
        if 200 <= status < 300:
            return
        reason = f"app webhook: HTTP {status}"
        if status == 429 or status == 408 or status >= 500:
            wait = min(float(retry_after), 3600.0) if retry_after.isdigit() else None
            raise DeliveryFailed(reason, retry_after=wait)
        raise DeliveryFailed(reason, permanent=True)


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(400, "malformed", f"{name} must be an integer from {low} to {high}.")
    return int(value)


def install(
    app: web.Application,
    service: ConversationService,
    settings: Settings,
    http: aiohttp.ClientSession,
) -> AppApi | None:
    """Adds the app's API when APP_API_KEYS is set."""
    keys = settings.app_api_key_map()
    if not keys:
        return None
    if settings.app_webhook_url and not settings.app_webhook_secret:
        log.error(
            "the app channel is off: APP_WEBHOOK_URL is set but APP_WEBHOOK_SECRET is "
            "empty, and replies must be signed"
        )
        return None
    if not settings.app_webhook_url:
        log.warning("APP_WEBHOOK_URL is not set: replies are not pushed; the app must poll")
    channel = AppApi(
        service,
        http,
        keys,
        settings.app_webhook_url,
        settings.app_webhook_secret,
        settings.replay_window_seconds,
        settings.channel_messages_per_minute,
    )
    app.router.add_post(f"{PREFIX}/messages", channel.post_message, name="app_messages")
    app.router.add_get(
        f"{PREFIX}/conversations/{{user_id}}/messages",
        channel.get_messages,
        name="app_conversation_messages",
    )
    service.add_channel(channel)
    return channel
