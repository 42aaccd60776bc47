"""Local stand-ins for the providers the Telegram and app channels talk to: a
Telegram Bot API that records what the bot sends and fails on demand, and the
insurer's app's webhook receiver that checks our signatures. Also the requests
those providers send us, shaped as they document them (Telegram `Update`
objects; app requests signed as the app channel specifies)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
WEBHOOK_SECRET = "test-secret_token-42"


async def _wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


# ---- Telegram ------------------------------------------------------------------------


class FakeTelegram:
    """The Bot API (`POST /bot<token>/<method>`, `GET /file/bot<token>/<path>`).

    `failures` is a queue of (status, description, retry_after) that the next
    sendMessage calls answer with instead of succeeding; chats in `blocked` answer
    403 "bot was blocked by the user", as Telegram does."""

    def __init__(self, token: str = BOT_TOKEN):
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # Every sendMessage asked for, taken or not.
        self.attempts: list[dict[str, Any]] = []
        self.failures: list[tuple[int, str, int | None]] = []
        self.blocked: set[int] = set()
        self.files: dict[str, bytes] = {}
        self._message_ids = itertools.count(1000)
        self.server: TestServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    async def start(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    # What the bot did.
    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Every sendMessage the fake accepted (to one chat), in order."""
        return [
            body
            for method, body in self.calls
            if method == "sendMessage" and (chat_id is None or body["chat_id"] == chat_id)
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [body["text"] for body in self.sent(chat_id)]

    def answered(self) -> list[str]:
        return [body["callback_query_id"] for m, body in self.calls if m == "answerCallbackQuery"]

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[dict]:
        return await _wait_for(
            lambda: self.sent(chat_id) if len(self.sent(chat_id)) >= count else None, timeout
        )

    # The Bot API.
    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Bad Request: invalid JSON")
        if method == "sendMessage":
            return self._send_message(body)
        if method == "answerCallbackQuery":
            if not body.get("callback_query_id"):
                return self._error(400, "Bad Request: query is too old or query ID is invalid")
            self.calls.append((method, body))
            return web.json_response({"ok": True, "result": True})
        if method == "getFile":
            file_id = body.get("file_id")
            if file_id not in self.files:
                return self._error(400, "Bad Request: invalid file_id")
            self.calls.append((method, body))
            return web.json_response(
                {
                    "ok": True,
                    "result": {
                        "file_id": file_id,
                        "file_unique_id": f"u{file_id}",
                        "file_size": len(self.files[file_id]),
                        "file_path": f"photos/{file_id}.jpg",
                    },
                }
            )
        return self._error(404, "Not Found")

    def _send_message(self, body: dict[str, Any]) -> web.Response:
        self.attempts.append(body)
        chat_id, text = body.get("chat_id"), body.get("text")
        if not isinstance(chat_id, int) or not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        keyboard = (body.get("reply_markup") or {}).get("inline_keyboard") or []
        for row in keyboard:
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64 or not button.get("text"):
                    return self._error(400, "Bad Request: BUTTON_DATA_INVALID")
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        if self.failures:
            status, description, retry_after = self.failures.pop(0)
            return self._error(status, description, retry_after)
        self.calls.append(("sendMessage", body))
        return web.json_response(
            {
                "ok": True,
                "result": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "text": text,
                },
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        file_id = path.removeprefix("photos/").removesuffix(".jpg")
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")


class Updates:
    """Telegram `Update` objects for one private chat, numbered as Telegram does."""

    def __init__(
        self,
        chat_id: int = 424242,
        first_name: str = "Wei",
        last_name: str = "Zhang",
        language_code: str = "zh-hans",
        start: int = 800_000,
    ):
        self.chat_id = chat_id
        self.user = {
            "id": chat_id,
            "is_bot": False,
            "first_name": first_name,
            "last_name": last_name,
            "language_code": language_code,
        }
        self._ids = itertools.count(start)
        self._message_ids = itertools.count(1)

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "message": {
                "message_id": next(self._message_ids),
                "from": self.user,
                "chat": {
                    "id": self.chat_id,
                    "first_name": self.user["first_name"],
                    "type": "private",
                },
                "date": int(time.time()),
                **content,
            },
        }

    def text(self, text: str) -> dict[str, Any]:
        update = self._message(text=text)
        if text.startswith("/"):
            command = text.split()[0]
            update["message"]["entities"] = [
                {"offset": 0, "length": len(command), "type": "bot_command"}
            ]
        return update

    def photo(self, caption: str | None = None, file_id: str = "AgACAgIAAxk-photo") -> dict:
        sizes = [
            {
                "file_id": f"{file_id}-s",
                "file_unique_id": "AQADs",
                "file_size": 1200,
                "width": 90,
                "height": 67,
            },
            {
                "file_id": f"{file_id}-m",
                "file_unique_id": "AQADm",
                "file_size": 15000,
                "width": 320,
                "height": 240,
            },
            {
                "file_id": file_id,
                "file_unique_id": "AQADx",
                "file_size": 81234,
                "width": 1280,
                "height": 960,
            },
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._message(**content)

    def document(self, name: str = "invoice.pdf", mime: str = "application/pdf") -> dict:
        return self._message(
            document={
                "file_id": "BQACAgIAAxk-doc",
                "file_unique_id": "AgADdoc",
                "file_name": name,
                "mime_type": mime,
                "file_size": 53211,
            }
        )

    def sticker(self) -> dict[str, Any]:
        return self._message(
            sticker={
                "file_id": "CAACAgIAAxk-sticker",
                "file_unique_id": "AgADst",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
            }
        )

    def callback(self, data: str, message_id: int = 1) -> dict[str, Any]:
        update_id = next(self._ids)
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cb{update_id}",
                "from": self.user,
                "message": {
                    "message_id": message_id,
                    "from": {"id": 123456, "is_bot": True, "first_name": "Desk"},
                    "chat": {"id": self.chat_id, "type": "private"},
                    "date": int(time.time()),
                    "text": "…",
                },
                "chat_instance": "-4242",
                "data": data,
            },
        }

    def edited(self, text: str) -> dict[str, Any]:
        update = self._message(text=text, edit_date=int(time.time()))
        update["edited_message"] = update.pop("message")
        return update

    def blocked_by_user(self) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "my_chat_member": {
                "chat": {"id": self.chat_id, "type": "private"},
                "from": self.user,
                "date": int(time.time()),
                "old_chat_member": {"user": {"id": 123456, "is_bot": True}, "status": "member"},
                "new_chat_member": {
                    "user": {"id": 123456, "is_bot": True},
                    "status": "kicked",
                    "until_date": 0,
                },
            },
        }


# ---- the insurer's app -----------------------------------------------------------------


def signature(secret: str, method: str, target: str, timestamp: str, key: str, body: bytes) -> str:
    """HMAC-SHA256 over the canonical request as the README gives it: method, target
    (path and query), timestamp, idempotency key and the body's SHA-256, a line each."""
    lines = [method, target, timestamp, key, hashlib.sha256(body).hexdigest()]
    digest = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


@dataclass
class AppSigner:
    """Signs requests to `/channels/app/v1/...` as the app's backend does."""

    key_id: str
    secret: str

    def headers(
        self,
        body: bytes = b"",
        *,
        target: str,
        method: str = "POST",
        timestamp: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        key = idempotency_key or ""
        headers = {
            "X-Key-Id": self.key_id,
            "X-Timestamp": ts,
            "X-Signature": signature(self.secret, method, target, ts, key, body),
        }
        if method == "POST":
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    signature_valid: bool
    status: int


@dataclass
class FakeAppWebhook:
    """The app's webhook receiver: checks our signature and timestamp, records every
    request, and answers `fail_first` deliveries with `fail_status` (503) first."""

    secret: str
    fail_first: int = 0
    fail_status: int = 503
    # Sent with the failures, when set.
    retry_after: int | None = None
    replay_window: int = 300
    requests: list[Delivery] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/hooks/desk"

    async def start(self) -> FakeAppWebhook:
        app = web.Application()
        app.router.add_post("/hooks/desk", self._receive)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def delivered(self) -> list[Delivery]:
        """Deliveries the receiver accepted (2xx)."""
        return [d for d in self.requests if 200 <= d.status < 300]

    async def wait_delivered(self, count: int = 1, timeout: float = 5.0) -> list[Delivery]:
        return await _wait_for(
            lambda: self.delivered() if len(self.delivered()) >= count else None, timeout
        )

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers.get("X-Timestamp", "")
        sent = request.headers.get("X-Signature", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= self.replay_window
        key = request.headers.get("Idempotency-Key", "")
        expected = signature(self.secret, request.method, request.raw_path, timestamp, key, raw)
        valid = fresh and hmac.compare_digest(sent, expected)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if not valid:
            status = 401
        elif self.fail_first > 0:
            self.fail_first -= 1
            status = self.fail_status
        else:
            status = 200
        self.requests.append(Delivery(dict(request.headers), body, raw, valid, status))
        headers = (
            {"Retry-After": str(self.retry_after)} if self.retry_after and status != 200 else {}
        )
        return web.json_response({"ok": status == 200}, status=status, headers=headers)
