"""A local stand-in for WeChat, both sides of the Official Account protocol:

- `FakeWeChatAPI`, WeChat's server API as documented: `GET /cgi-bin/token` and
  `POST /cgi-bin/message/custom/send` (JSON with `errcode`/`errmsg`), recording every
  request and able to fail on demand (`fail_next`, `expire_tokens`).
- `WeChatPush`, WeChat's calls to our server URL: requests signed as WeChat signs
  them (sha1 of the sorted token, timestamp and nonce; in safe mode `msg_signature`,
  sha1 of the sorted token, timestamp, nonce and `Encrypt`) with the XML bodies
  (CDATA) WeChat sends."""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy.crypto import PrpCrypto, WeChatCrypto

APP_ID = "wx5f0c1e2d3b4a6978"
APP_SECRET = "f3a1c0de5e7b9a2c4d6e8f0a1b3c5d7e"
TOKEN = "healthdesk-token-7Q2"
# 43 characters, as mp.weixin.qq.com generates them.
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_3f6c1a2b9d0e"


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


@dataclass
class FakeWeChatAPI:
    app_id: str = APP_ID
    secret: str = APP_SECRET
    token_requests: list[dict[str, str]] = field(default_factory=list)
    # Every custom/send request: {"access_token", "body"} (body parsed from JSON).
    send_requests: list[dict[str, Any]] = field(default_factory=list)
    # What WeChat accepted: the bodies of successful custom/send requests.
    sent: list[dict[str, Any]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    failures: list[int] = field(default_factory=list)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    base: str = ""
    _runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> FakeWeChatAPI:
        """Listens on 127.0.0.1 (`port`, or a free one); `base` is the API base URL."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- test controls ---------------------------------------------------------------

    def fail_next(self, *errcodes: int) -> None:
        """The next custom/send requests answer these errcodes, in turn (0: as usual)."""
        self.failures.extend(errcodes)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (WeChat answers 40001/42001)."""
        self.valid_tokens.clear()

    def texts_to(self, openid: str) -> list[str]:
        return [b["text"]["content"] for b in self.sent if b["touser"] == openid]

    # ---- the API -------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.token_requests.append(query)
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if query.get("appid") != self.app_id:
            return _error(40013, "invalid appid")
        if query.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        token = f"ACCESS_TOKEN_{next(self._counter)}_{secrets.token_hex(8)}"
        self.valid_tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(47001, "data format error")
        self.send_requests.append({"access_token": token, "body": body})
        if not token:
            return _error(41001, "access_token missing")
        if token not in self.valid_tokens:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        code = self.failures.pop(0) if self.failures else 0
        if code:
            return _error(code, "system error" if code == -1 else f"error {code}")
        if not isinstance(body, dict) or body.get("msgtype") != "text":
            return _error(40008, "invalid message type")
        content = (body.get("text") or {}).get("content")
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return _error(40003, "invalid openid")
        if not isinstance(content, str) or not content:
            return _error(44003, "empty news data")
        if len(content.encode()) > 2048:
            return _error(45002, "content size out of limit")
        self.sent.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


def _error(code: int, message: str) -> web.Response:
    # WeChat answers errors with HTTP 200 and an errcode.
    return web.json_response({"errcode": code, "errmsg": message})


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(kind: str, openid: str, msg_id: int | None = None, **fields: Any) -> str:
    """A message or event as WeChat POSTs it: strings in CDATA, numbers bare."""
    created = fields.pop("CreateTime", int(time.time()))
    lines = [
        f"<ToUserName>{cdata(ACCOUNT)}</ToUserName>",
        f"<FromUserName>{cdata(openid)}</FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType>{cdata(kind)}</MsgType>",
    ]
    for name, value in fields.items():
        rendered = value if isinstance(value, int | float) else cdata(str(value))
        lines.append(f"<{name}>{rendered}</{name}>")
    if msg_id is not None:
        lines.append(f"<MsgId>{msg_id}</MsgId>")
    return "<xml>" + "".join(lines) + "</xml>"


def text_xml(openid: str, content: str, msg_id: int) -> str:
    return message_xml("text", openid, msg_id, Content=content)


def event_xml(openid: str, event: str, created: int | None = None, **fields: Any) -> str:
    return message_xml(
        "event", openid, None, CreateTime=created or int(time.time()), Event=event, **fields
    )


@dataclass
class Signed:
    params: dict[str, str]
    body: str


class WeChatPush:
    """Signs requests as WeChat does when it calls our server URL."""

    def __init__(self, token: str = TOKEN, aes_key: str | None = None, app_id: str = APP_ID):
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None

    def sign(self, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        timestamp_text = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        return {
            "signature": sha1_signature(self.token, timestamp_text, nonce),
            "timestamp": timestamp_text,
            "nonce": nonce,
        }

    def verification(self, echostr: str, **kwargs: Any) -> dict[str, str]:
        return {**self.sign(**kwargs), "echostr": echostr}

    def encrypted_verification(self, echostr: str) -> dict[str, str]:
        """Verification with the echostr encrypted and signed by `msg_signature`."""
        assert self.crypto is not None
        params = self.sign()
        encrypted = PrpCrypto(self.crypto.key).encrypt(echostr, self.crypto.app_id).decode()
        params["echostr"] = encrypted
        params["msg_signature"] = sha1_signature(
            self.token, params["timestamp"], params["nonce"], encrypted
        )
        return params

    def message(
        self, xml: str, openid: str, timestamp: int | None = None, nonce: str | None = None
    ) -> Signed:
        """The query and body of WeChat's POST: plain, or in safe mode encrypted."""
        params = {**self.sign(timestamp, nonce), "openid": openid}
        if self.crypto is None:
            return Signed(params, xml)
        envelope = xmltodict.parse(
            self.crypto.encrypt_message(xml, params["nonce"], params["timestamp"])
        )["xml"]
        encrypt = envelope["Encrypt"]
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sha1_signature(
            self.token, params["timestamp"], params["nonce"], encrypt
        )
        body = (
            f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName>"
            f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        )
        return Signed(params, body)

    def open_reply(self, body: str) -> dict[str, Any]:
        """Our passive reply as WeChat reads it (decrypted and checked in safe mode)."""
        if self.crypto is not None:
            envelope = xmltodict.parse(body)["xml"]
            assert envelope["MsgSignature"] == sha1_signature(
                self.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
            )
            body = self.crypto.decrypt_message(
                body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
            )
        return xmltodict.parse(body)["xml"]
