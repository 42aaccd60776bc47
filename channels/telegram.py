"""The Telegram channel: the Bot API's webhook in, `sendMessage` out.

In: Telegram POSTs each `Update` to `/channels/telegram/webhook` with the secret
given to `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`; anything else is
refused. The webhook stores what it can use and answers at once (Telegram waits
for it, and redelivers an update until it gets a 2xx): the bot's turn runs in the
background and its replies go out through `send`. The `update_id` is the message
id, so a redelivered update is stored once.

- text → the customer's message; `/start` (also with a deep-link parameter) is the
  `subscribe` event, which opens the conversation with the welcome;
- a pressed inline-keyboard button (`callback_query`) → its payload, and the query
  is answered so the button stops spinning;
- a photo (its largest size) or a document → an attachment, with the caption as
  text; the attachment's URL is our `/channels/telegram/files/<chat>/<file_id>`,
  which fetches the file from Telegram for signed-in agents (the bot token, which
  Telegram's own file URLs contain, never leaves the server);
- the user blocking the bot (`my_chat_member` → kicked) → the `unsubscribe` event;
- other message kinds (stickers, voice, locations...) → a polite refusal sent to
  the chat; other update kinds and non-private chats → ignored with a log line.

Out: `sendMessage`, with buttons as an inline keyboard. Telegram limits a button's
`callback_data` to 64 bytes; a longer payload is sent as a short reference
`#m:<conversation id>:<seq>:<n>` to the stored message's n-th button, which the
webhook resolves back to the payload. 429 (its `retry_after` is honoured),
5xx and network failures are retried; the user blocking the bot, an unknown chat
and other 400s are permanent."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import mimetypes
import re
from typing import Any

import aiohttp
from aiohttp import web

from channels.replies import json_error
from desk.conversations import ConversationService
from desk.delivery import DeliveryFailed, PushChannel, buttons_of, render_text
from desk.errors import DeskError
from desk.flood import RateLimiter
from desk.intake import Attachment, Inbound, Limits, Refusal
from desk.pseudonyms import pseudonym
from desk.settings import Settings
from store.models import Conversation

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/channels/telegram/webhook"
FILES_PATH = "/channels/telegram/files"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's secret_token: 1-256 characters, A-Z, a-z, 0-9, _ and -.
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_BODY = 64 * 1024
# Telegram's limits: callback_data bytes; files a bot may download.
CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD = 20 * 1024 * 1024
# A button whose payload is too long for callback_data stands for it by reference.
REFERENCE = re.compile(r"^#m:(\d+):(\d+):(\d+)$")
API_TIMEOUT = aiohttp.ClientTimeout(total=10)
# Message kinds we cannot take, named in the log.
UNSUPPORTED = (
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)
# Refusals are sent without being stored: a flood (of stickers, say) gets a few.
REFUSAL_REPLIES_PER_MINUTE = 6
REFUSAL_REPLIES_BURST = 3
CHOOSE = {"zh": "请选择:", "en": "Please choose:"}
EXPIRED = {"zh": "该选项已失效。", "en": "That option has expired."}


class Malformed(ValueError):
    """The update is not shaped as Telegram documents it."""


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} must be an object")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"{what} must be an integer")
    return value


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _profile(user: Any) -> dict[str, Any]:
    """What Telegram tells about the person: their name and their app's language
    (English when it is English, otherwise Chinese, the desk's first language)."""
    if not isinstance(user, dict):
        return {}
    profile: dict[str, Any] = {}
    name = " ".join(
        part for part in (user.get("first_name"), user.get("last_name")) if isinstance(part, str)
    ).strip()
    if name:
        profile["name"] = name[:128]
    code = user.get("language_code")
    if isinstance(code, str) and code:
        profile["language"] = "en" if code.lower().startswith("en") else "zh"
    return profile


def _is_start(text: str) -> bool:
    command = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return command == "/start" or command.startswith("/start@")


class Telegram(PushChannel):
    name = CHANNEL
    limits = Limits(max_text_chars=4096, buttons=True)

    def __init__(
        self,
        service: ConversationService,
        http: aiohttp.ClientSession,
        token: str,
        secret: str,
        api_base_url: str,
    ):
        super().__init__(service)
        self.http = http
        self._secret = secret.encode()
        self._api = f"{api_base_url.rstrip('/')}/bot{token}"
        self._files = f"{api_base_url.rstrip('/')}/file/bot{token}"
        self._refusals = RateLimiter(REFUSAL_REPLIES_PER_MINUTE, REFUSAL_REPLIES_BURST)
        self._tasks: set[asyncio.Task] = set()

    # ---- in -------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        sent = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(sent, self._secret):
            log.warning("telegram webhook refused: wrong or missing secret token")
            return json_error(403, "forbidden", "Wrong or missing secret token.")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return json_error(413, "too_large", f"Updates are limited to {MAX_BODY} bytes.")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return json_error(413, "too_large", f"Updates are limited to {MAX_BODY} bytes.")
        try:
            update = _dict(json.loads(raw), "the update")
            update_id = _int(update.get("update_id"), "update_id")
        except ValueError as exc:  # not JSON, or Malformed
            log.warning("telegram webhook: malformed update: %s", exc)
            return json_error(400, "malformed", "The body must be a Telegram Update object.")
        try:
            await self._dispatch(update_id, update)
        except Malformed as exc:
            log.warning("telegram webhook: malformed update %s: %s", update_id, exc)
            return json_error(400, "malformed", "The body must be a Telegram Update object.")
        return web.Response(status=200)

    async def _dispatch(self, update_id: int, update: dict[str, Any]) -> None:
        if "message" in update:
            await self._message(update_id, _dict(update["message"], "message"))
        elif "callback_query" in update:
            await self._callback(update_id, _dict(update["callback_query"], "callback_query"))
        elif "my_chat_member" in update:
            await self._membership(_dict(update["my_chat_member"], "my_chat_member"))
        else:
            kinds = ",".join(key for key in update if key != "update_id") or "empty"
            log.info("telegram update %s ignored: %s", update_id, kinds)

    async def _message(self, update_id: int, message: dict[str, Any]) -> None:
        chat = _dict(message.get("chat"), "message.chat")
        chat_id = _int(chat.get("id"), "message.chat.id")
        if chat.get("type") != "private":
            log.info("telegram update %s ignored: a %s chat", update_id, chat.get("type"))
            return
        external_id = str(chat_id)
        profile = _profile(message.get("from"))
        text, caption = message.get("text"), message.get("caption")
        caption = caption if isinstance(caption, str) else None
        inbound = Inbound(external_id, message_id=str(update_id), profile=profile)
        if isinstance(text, str):
            if _is_start(text):
                inbound.event = "subscribe"
            else:
                inbound.text = text
        elif isinstance(message.get("photo"), list) and message["photo"]:
            sizes = [_dict(size, "photo size") for size in message["photo"]]
            largest = max(sizes, key=lambda s: (s.get("width") or 0) * (s.get("height") or 0))
            inbound.text = caption
            inbound.attachment = Attachment(
                kind="image",
                url=self._file_url(external_id, largest.get("file_id")),
                name="photo.jpg",
                mime="image/jpeg",
                size=_size(largest.get("file_size")),
            )
        elif isinstance(message.get("document"), dict):
            document = message["document"]
            mime = document.get("mime_type") if isinstance(document.get("mime_type"), str) else None
            name = document.get("file_name") if isinstance(document.get("file_name"), str) else None
            inbound.text = caption
            inbound.attachment = Attachment(
                kind="image" if mime and mime.startswith("image/") else "file",
                url=self._file_url(external_id, document.get("file_id")),
                name=(name or "document")[:255],
                mime=mime,
                size=_size(document.get("file_size")),
            )
        else:
            kind = next((k for k in UNSUPPORTED if k in message), "other")
            log.info(
                "telegram update %s: refused a %s message from %s",
                update_id,
                kind,
                pseudonym(chat_id),
            )
            self._refuse(
                chat_id,
                Refusal("unsupported", f"Telegram {kind} messages are not handled."),
                profile.get("language", "zh"),
            )
            return
        received = await self.service.receive(CHANNEL, inbound)
        if received.refusal is not None:
            language = received.language if received.conversation else profile.get("language", "zh")
            self._refuse(chat_id, received.refusal, language)

    async def _callback(self, update_id: int, query: dict[str, Any]) -> None:
        query_id = query.get("id")
        if not isinstance(query_id, str):
            raise Malformed("callback_query.id must be a string")
        user = _dict(query.get("from"), "callback_query.from")
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat = message["chat"]
            chat_id = _int(chat.get("id"), "callback_query.message.chat.id")
            if chat.get("type") != "private":
                # As for messages: only a customer's own chat with the bot is served.
                log.info("telegram callback %s ignored: a %s chat", update_id, chat.get("type"))
                self._answer(query_id)
                return
        else:
            chat_id = _int(user.get("id"), "callback_query.from.id")
        profile = _profile(user)
        data = query.get("data")
        payload = await self._payload(chat_id, data) if isinstance(data, str) else None
        if payload is None:
            log.info(
                "telegram callback %s from %s: unknown or expired data",
                update_id,
                pseudonym(chat_id),
            )
            self._answer(query_id, EXPIRED[profile.get("language", "zh")])
            return
        self._answer(query_id)
        received = await self.service.receive(
            CHANNEL,
            Inbound(str(chat_id), text=payload, message_id=str(update_id), profile=profile),
        )
        if received.refusal is not None:
            self._refuse(chat_id, received.refusal, received.language)

    async def _membership(self, change: dict[str, Any]) -> None:
        chat = _dict(change.get("chat"), "my_chat_member.chat")
        status = _dict(change.get("new_chat_member"), "new_chat_member").get("status")
        if chat.get("type") == "private" and status == "kicked":
            chat_id = _int(chat.get("id"), "my_chat_member.chat.id")
            log.info("telegram chat %s blocked the bot", pseudonym(chat_id))
            await self.service.receive(CHANNEL, Inbound(str(chat_id), event="unsubscribe"))

    async def _payload(self, chat_id: int, data: str) -> str | None:
        """A button's payload: the callback data itself, or what a reference names."""
        match = REFERENCE.match(data)
        if match is None:
            return data
        conversation_id, seq, index = (int(group) for group in match.groups())
        conversation = await self.service.get(conversation_id)
        if (
            conversation is None
            or conversation.channel != CHANNEL
            or conversation.external_user_id != str(chat_id)
        ):
            return None
        messages = await self.service.messages_after(conversation_id, seq - 1, limit=1)
        if not messages or messages[0]["seq"] != seq:
            return None
        buttons = buttons_of(messages[0])
        return buttons[index]["payload"] if index < len(buttons) else None

    def _file_url(self, external_id: str, file_id: Any) -> str | None:
        if not isinstance(file_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", file_id):
            return None
        return f"{FILES_PATH}/{external_id}/{file_id}"

    # ---- files, for the console ------------------------------------------------------------

    async def fetch_file(self, file_id: str) -> tuple[bytes, str]:
        """A customer's photo or document, fetched from Telegram (the console checks
        that the agent may see the conversation; the bot token never leaves here)."""
        try:
            info = await self._call("getFile", {"file_id": file_id})
        except DeliveryFailed as failure:
            log.info("telegram getFile failed: %s", failure.reason)
            raise DeskError(
                "unavailable", "File unavailable.", 404 if failure.permanent else 502
            ) from failure
        path = info.get("file_path") if isinstance(info, dict) else None
        if not isinstance(path, str) or (info.get("file_size") or 0) > MAX_DOWNLOAD:
            raise DeskError("unavailable", "File unavailable.", 404)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        try:
            async with self.http.get(f"{self._files}/{path}", timeout=API_TIMEOUT) as upstream:
                if upstream.status != 200:
                    raise DeskError("unavailable", "File unavailable.", 502)
                body = await upstream.content.read(MAX_DOWNLOAD + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("telegram file download failed: %s", type(exc).__name__)
            raise DeskError("unavailable", "File unavailable.", 502) from exc
        if len(body) > MAX_DOWNLOAD:
            raise DeskError("unavailable", "File too large.", 502)
        return body, mime

    # ---- out --------------------------------------------------------------------------

    async def send(self, conversation: Conversation, message: dict[str, Any]) -> None:
        chat_id = conversation.external_user_id
        language = "en" if conversation.language == "en" else "zh"
        parts = render_text(message, self.limits, language)
        keyboard = [
            [{"text": (b.get("title") or b["payload"])[:64], "callback_data": data}]
            for b, data in zip(
                buttons_of(message), self._callback_data(conversation, message), strict=True
            )
        ]
        if keyboard and not parts:
            parts = [CHOOSE[language]]
        for number, part in enumerate(parts, start=1):
            body: dict[str, Any] = {"chat_id": int(chat_id), "text": part}
            if keyboard and number == len(parts):
                body["reply_markup"] = {"inline_keyboard": keyboard}
            await self._call("sendMessage", body)

    @staticmethod
    def _callback_data(conversation: Conversation, message: dict[str, Any]) -> list[str]:
        data = []
        for index, button in enumerate(buttons_of(message)):
            payload = button["payload"]
            if len(payload.encode()) <= CALLBACK_DATA_BYTES and not REFERENCE.match(payload):
                data.append(payload)
            else:
                data.append(f"#m:{conversation.id}:{message['seq']}:{index}")
        return data

    def _answer(self, query_id: str, text: str | None = None) -> None:
        body = {"callback_query_id": query_id}
        if text:
            body["text"] = text
        self._background(self._call("answerCallbackQuery", body), "answerCallbackQuery")

    def _refuse(self, chat_id: int, refusal: Refusal, language: str) -> None:
        """Tell the customer why (not stored: nothing of the refused item was)."""
        if self._refusals.allow(str(chat_id)):
            body = {"chat_id": chat_id, "text": refusal.text(language)}
            self._background(self._call("sendMessage", body), "refusal")

    def _background(self, call, what: str) -> None:
        async def run() -> None:
            try:
                await call
            except DeliveryFailed as failure:
                log.info("telegram %s not sent: %s", what, failure.reason)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Let background calls (answers to button presses, refusals) finish."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _call(self, method: str, body: dict[str, Any]) -> Any:
        """One Bot API call; its result, or DeliveryFailed. The URL holds the bot
        token, so it is never logged or put in a reason."""
        try:
            async with self.http.post(f"{self._api}/{method}", json=body, timeout=API_TIMEOUT) as r:
                status = r.status
                try:
                    answer = await r.json(content_type=None)
                except ValueError:
                    answer = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"{method}: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise DeliveryFailed(f"{method}: HTTP {status} without a JSON answer")
        if answer.get("ok") is True:
            return answer.get("result")
        code = answer.get("error_code") if isinstance(answer.get("error_code"), int) else status
        reason = f"{method}: {code} {str(answer.get('description') or '')[:200]}"
        if code == 429:
            parameters = answer.get("parameters") or {}
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            wait = float(retry_after) if isinstance(retry_after, int | float) else 1.0
            raise DeliveryFailed(reason, retry_after=wait)
        if code in (400, 403):
            # The user blocked the bot, the chat is gone, or Telegram will never take
            # this message as it is: retrying cannot help.
            raise DeliveryFailed(reason, permanent=True)
        if code in (401, 404):
            log.error("telegram refused the bot token (%s): check TELEGRAM_BOT_TOKEN", code)
        raise DeliveryFailed(reason)


def install(
    app: web.Application,
    service: ConversationService,
    settings: Settings,
    http: aiohttp.ClientSession,
) -> Telegram | None:
    """Adds the webhook when TELEGRAM_BOT_TOKEN is set (agents open files through the console)."""
    if not settings.telegram_bot_token:
        return None
    secret = settings.telegram_webhook_secret
    if not secret or not SECRET_PATTERN.match(secret):
        log.error(
            "the Telegram channel is off: TELEGRAM_BOT_TOKEN is set but "
            "TELEGRAM_WEBHOOK_SECRET is %s (1-256 of A-Z a-z 0-9 _ -); a webhook "
            "without a secret would take updates from anyone",
            "empty" if not secret else "not a valid secret_token",
        )
        return None
    channel = Telegram(
        service,
        http,
        settings.telegram_bot_token,
        secret,
        settings.telegram_api_base_url,
    )
    app.router.add_post(WEBHOOK_PATH, channel.webhook, name="telegram_webhook")

    async def settle(app: web.Application) -> None:
        await channel.settle()

    app.on_shutdown.append(settle)
    service.add_channel(channel)
    return channel
