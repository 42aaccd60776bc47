"""The WeChat Official Account channel (微信公众号).

WeChat calls us at one URL, `/channels/wechat`:

- `GET` verifies the server URL once, when the account's administrator saves it on
  mp.weixin.qq.com: a signed `echostr` we echo back.
- `POST` delivers what a follower sent: signed XML (text, image, voice, ...,
  subscribe/unsubscribe events), in plain mode or, with an EncodingAESKey, in safe
  mode (the XML is AES-encrypted and signed as a whole by `msg_signature`).

Answers go two ways. WeChat lets us answer a message once, in the HTTP response
("passive reply"), if we do so within 5 seconds; it retries the same message (same
MsgId) up to three times when it gets no answer. So a message's request holds the
conversation (no pushes meanwhile), hands the message to the conversation service
waiting up to `WECHAT_PASSIVE_REPLY_SECONDS` for the bot, and answers whatever is
owed by then in one text reply (as much as fits WeChat's 2048 bytes, whole messages
only). Everything else (a slow bot, the rest of a long answer, agents' replies,
queue updates) goes by the customer-service message API, `message/custom/send`,
through the delivery cursor of `PushChannel`: in order, retried with backoff.

wechatpy does the protocol: signatures (`check_signature`), parsing
(`parse_message`, on xmltodict, which refuses entity declarations; we also refuse
any DOCTYPE before parsing), safe mode (`WeChatCrypto`) and the reply XML
(`TextReply`). The two API calls we make (the access token and a customer-service
text) go over the console's shared aiohttp session rather than wechatpy's
`WeChatClient`: that client is synchronous (`requests`, one thread per call), its
token request ignores `API_BASE_URL` (it always calls api.weixin.qq.com, so
`WECHAT_API_BASE_URL` could not point at a proxy or a test fake), and its automatic
token refresh retries without bound. Here a token error refreshes once and
WeChat's error codes map onto permanent or retryable `DeliveryFailed`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner, check_signature

from channels.base import (
    Attachment,
    DeliveryFailed,
    Inbound,
    Limits,
    PushChannel,
    Received,
    Refusal,
    render_text,
)
from store.models import Conversation

if TYPE_CHECKING:
    from console.conversations import ConversationService
    from console.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "wechat"
PATH = "/channels/wechat"
# WeChat's messages are small; anything bigger is not WeChat.
MAX_BODY_BYTES = 64 * 1024
# WeChat takes at most 2048 bytes of text in one message (a passive reply or one
# customer-service message); 600 characters of Chinese (3 bytes each) fit.
MAX_TEXT_BYTES = 2048
LIMITS = Limits(max_text_chars=600, buttons=False)
# What WeChat takes as "no reply, and do not retry".
SUCCESS = "success"
# An openid, or the account's own id (gh_...).
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# XML 1.0 forbids these characters, and "]]>" would end the CDATA section.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Events that are notifications, not something a person did: nobody to answer.
SILENT_EVENTS = {"location", "view", "templatesendjobfinish", "masssendjobfinish"}
SUBSCRIBE_EVENTS = {"subscribe", "subscribe_scan", "subscribe_scan_product"}
# WeChat waits 5 s for an answer; past this, a reply might arrive too late.
REPLY_DEADLINE_SECONDS = 4.5
# A customer flooding us is told so once a minute, then gets no answer.
RATE_NOTICE_SECONDS = 60

# Customer-service API error codes (errcode).
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid / expired access token: refresh, retry once
PERMANENT_ERRORS = {
    40003: "not a follower's openid",
    43004: "the customer has unsubscribed",
    43019: "the customer is on the account's blocklist",
    45015: "the customer has been silent for over 48 hours (WeChat's reply window)",
    45002: "text too long",
    44003: "empty message",
    40008: "message type refused",
    47001: "message refused as malformed",
    48001: "the account may not use the customer-service API (not verified?)",
}


class Refused(Exception):
    """A request we do not process: answered with `status`, logged, nothing stored."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ReplayGuard:
    """Signed (timestamp, nonce) pairs seen within the replay window, in this process.

    WeChat signs only the timestamp and nonce in plain mode, so a captured request
    could otherwise be sent again, even with another body. Only pairs whose
    signature checked are remembered, so strangers cannot fill it."""

    def __init__(self, window_seconds: float, max_entries: int = 200_000):
        self.window = window_seconds
        self.max_entries = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def first_time(self, timestamp: str, nonce: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        # A pair older than the window is refused by the timestamp check anyway.
        while self._seen and (
            next(iter(self._seen.values())) < now - 2 * self.window
            or len(self._seen) >= self.max_entries
        ):
            self._seen.popitem(last=False)
        key = (timestamp, nonce)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class WeChatAPI:
    """The two calls of WeChat's server API we make: an access token
    (`cgi-bin/token`, cached until shortly before it expires) and a
    customer-service text message (`cgi-bin/message/custom/send`)."""

    def __init__(
        self, http: aiohttp.ClientSession, base_url: str, app_id: str, secret: str
    ) -> None:
        self.http = http
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.app_id = app_id
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=10)
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def access_token(self, stale: str | None = None) -> str:
        """The cached token; a fresh one when it is about to expire or when `stale`
        (a token WeChat just refused) is still the cached one."""
        async with self._lock:
            fresh = self._token and time.monotonic() < self._expires_at
            if fresh and self._token != stale:
                return self._token
            if not (self.app_id and self.secret):
                raise DeliveryFailed("WECHAT_APP_ID and WECHAT_APP_SECRET are not set")
            result = await self._call(
                "GET",
                "cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self.secret,
                },
            )
            token = result.get("access_token")
            if not isinstance(token, str) or not token:
                # Bad app id or secret, or our IP not on the account's allow-list:
                # nothing to send with until someone fixes the configuration.
                code, text = result.get("errcode"), result.get("errmsg")
                log.error("WeChat refused an access token: errcode %s (%s)", code, text)
                raise DeliveryFailed(f"no access token: errcode {code} ({text})")
            expires_in = result.get("expires_in")
            expires_in = expires_in if isinstance(expires_in, int) and expires_in > 0 else 7200
            # Renew five minutes early (WeChat keeps the old token valid that long).
            self._token = token
            self._expires_at = time.monotonic() + max(expires_in - 300, expires_in / 2)
            log.info("WeChat access token renewed (valid %ss)", expires_in)
            return token

    async def send_text(self, openid: str, content: str) -> None:
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        token = await self.access_token()
        for attempt in range(2):
            result = await self._call(
                "POST", "cgi-bin/message/custom/send", params={"access_token": token}, json=body
            )
            errcode = result.get("errcode", 0)
            if errcode == 0:
                return
            errmsg = str(result.get("errmsg", ""))[:120]
            if errcode in TOKEN_ERRORS and attempt == 0:
                log.info("WeChat refused the access token (errcode %s); renewing", errcode)
                token = await self.access_token(stale=token)
                continue
            if errcode in PERMANENT_ERRORS:
                raise DeliveryFailed(
                    f"errcode {errcode}: {PERMANENT_ERRORS[errcode]} ({errmsg})", permanent=True
                )
            # -1 (system busy), 45009 (API quota), 45047 (too many messages since the
            # customer last wrote: their next message is answered passively), others.
            raise DeliveryFailed(f"errcode {errcode} ({errmsg})")
        raise DeliveryFailed("the access token was refused twice")

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if "json" in kwargs:
            # WeChat wants the text as UTF-8, not \\u escapes.
            kwargs["data"] = json.dumps(kwargs.pop("json"), ensure_ascii=False).encode()
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self.http.request(
                method, self.base_url + path, timeout=self.timeout, **kwargs
            ) as response:
                if response.status != 200:
                    raise DeliveryFailed(f"WeChat API {path}: HTTP {response.status}")
                result = json.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"WeChat API {path}: {exc!r}") from exc
        except ValueError as exc:
            raise DeliveryFailed(f"WeChat API {path}: not JSON") from exc
        if not isinstance(result, dict):
            raise DeliveryFailed(f"WeChat API {path}: unexpected answer")
        if "errcode" in result:
            try:
                result["errcode"] = int(result["errcode"])
            except (TypeError, ValueError):
                raise DeliveryFailed(f"WeChat API {path}: unexpected errcode") from None
        return result


class WeChat(PushChannel):
    name = CHANNEL
    limits = LIMITS

    def __init__(
        self,
        service: ConversationService,
        settings: Settings,
        http: aiohttp.ClientSession,
    ) -> None:
        super().__init__(service)
        self.token = settings.wechat_token
        self.app_id = settings.wechat_app_id
        self.window = settings.replay_window_seconds
        self.passive_seconds = settings.wechat_passive_reply_seconds
        self.crypto: WeChatCrypto | None = None
        if settings.wechat_encoding_aes_key:
            if not settings.wechat_app_id:
                raise ValueError("WECHAT_ENCODING_AES_KEY (safe mode) needs WECHAT_APP_ID")
            try:
                self.crypto = WeChatCrypto(
                    self.token, settings.wechat_encoding_aes_key, settings.wechat_app_id
                )
            except (AssertionError, ValueError) as exc:
                raise ValueError(
                    "WECHAT_ENCODING_AES_KEY must be the 43-character key from mp.weixin.qq.com"
                ) from exc
        self.api = WeChatAPI(
            http, settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret
        )
        self.replays = ReplayGuard(self.window)
        self._rate_noticed: OrderedDict[str, float] = OrderedDict()
        # Parts of a long message already sent: a retry resumes after them.
        self._parts_sent: OrderedDict[str, int] = OrderedDict()

    # ---- HTTP: WeChat calls us ------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """Server URL verification: echo `echostr` when the signature is ours."""
        try:
            params = self._check_signed(request)
            echostr = request.query.get("echostr", "")
            if not echostr or len(echostr) > 1024:
                raise Refused(400, "no echostr")
            msg_signature = request.query.get("msg_signature")
            if msg_signature and self.crypto is not None:
                echostr = self._open_echostr(msg_signature, params, echostr)
            self._check_fresh(params)
        except Refused as refused:
            return self._refuse(request, refused)
        log.info("WeChat server URL verified")
        return web.Response(text=echostr, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """A message or event from a follower; answered within WeChat's 5 seconds."""
        started = time.monotonic()
        try:
            body = await _read_limited(request, MAX_BODY_BYTES)
            params = self._check_signed(request)
            encrypted = request.query.get("encrypt_type", "raw").lower() == "aes"
            if self.crypto is not None and not encrypted:
                # In safe mode only the encrypted message is signed as a whole.
                raise Refused(403, "plain message while safe mode is on")
            if encrypted and self.crypto is None:
                raise Refused(400, "encrypted message but no WECHAT_ENCODING_AES_KEY")
            xml = _text_of(body)
            if encrypted:
                xml = self._decrypt(request.query.get("msg_signature", ""), params, xml)
            self._check_fresh(params)
            message = _parse(xml)
        except Refused as refused:
            return self._refuse(request, refused)
        nonce = params["nonce"] if encrypted else None
        return await self._answer(request, message, nonce, started)

    def _check_signed(self, request: web.Request) -> dict[str, str]:
        params = {key: request.query.get(key, "") for key in ("signature", "timestamp", "nonce")}
        if not all(params.values()):
            raise Refused(403, "unsigned request")
        if not params["timestamp"].isdigit() or len(params["timestamp"]) > 12:
            raise Refused(403, "bad timestamp")
        if not NONCE.match(params["nonce"]):
            raise Refused(403, "bad nonce")
        try:
            check_signature(self.token, params["signature"], params["timestamp"], params["nonce"])
        except InvalidSignatureException:
            raise Refused(403, "wrong signature") from None
        if abs(time.time() - int(params["timestamp"])) > self.window:
            raise Refused(403, f"timestamp {params['timestamp']} outside the replay window")
        return params

    def _check_fresh(self, params: dict[str, str]) -> None:
        """Remembers the signed pair; called once every signature has checked."""
        if not self.replays.first_time(params["timestamp"], params["nonce"]):
            raise Refused(403, "replayed timestamp and nonce")

    def _open_echostr(self, msg_signature: str, params: dict[str, str], echostr: str) -> str:
        """Safe mode may sign (and encrypt) the echostr too."""
        signer = WeChatSigner()
        signer.add_data(self.token, params["timestamp"], params["nonce"], echostr)
        if signer.signature != msg_signature:
            raise Refused(403, "wrong msg_signature")
        assert self.crypto is not None
        try:
            return PrpCrypto(self.crypto.key).decrypt(echostr, self.app_id)
        except InvalidAppIdException:
            raise Refused(403, "echostr for another app id") from None
        except Exception:  # noqa: BLE001 - not encrypted: echoed as it came
            return echostr

    def _decrypt(self, msg_signature: str, params: dict[str, str], xml: str) -> str:
        assert self.crypto is not None
        if not msg_signature:
            raise Refused(403, "encrypted message without msg_signature")
        _refuse_doctype(xml)
        try:
            return self.crypto.decrypt_message(
                xml, msg_signature, params["timestamp"], params["nonce"]
            )
        except InvalidSignatureException:
            raise Refused(403, "wrong msg_signature") from None
        except InvalidAppIdException:
            raise Refused(403, "message for another app id") from None
        except Exception as exc:  # noqa: BLE001 - bad XML, base64, padding, lengths
            raise Refused(400, f"undecryptable message: {exc!r}"[:200]) from None

    def _refuse(self, request: web.Request, refused: Refused) -> web.Response:
        log.warning(
            "WeChat %s %s from %s refused (%s): %s",
            request.method,
            request.path,
            request.remote,
            refused.status,
            refused.reason,
        )
        return web.Response(status=refused.status, text=refused.reason, content_type="text/plain")

    # ---- what the message says ------------------------------------------------------

    async def _answer(
        self, request: web.Request, message: Any, reply_nonce: str | None, started: float
    ) -> web.StreamResponse:
        openid = message.source
        kind = message.type
        event = _event_of(message) if kind == "event" else None
        if kind == "text":
            inbound = Inbound(openid, text=message.content, message_id=_msg_id(message))
        elif kind == "image":
            media_id = message.media_id or ""
            inbound = Inbound(
                openid,
                attachment=Attachment(
                    kind="image",
                    url=message.image or None,
                    # WeChat keeps the media (GET cgi-bin/media/get) for three days.
                    name=f"wechat-media-{media_id}.jpg" if media_id else None,
                    mime="image/jpeg",
                ),
                message_id=_msg_id(message),
            )
        elif event in SUBSCRIBE_EVENTS or event == "unsubscribe":
            event = "subscribe" if event in SUBSCRIBE_EVENTS else event
            inbound = Inbound(openid, event=event, message_id=f"{openid}:{message.time}:{event}")
        elif event in SILENT_EVENTS:
            log.info("WeChat %s event from %s ignored", event, openid)
            return _success()
        else:
            what = f"{event} event" if event else f"{kind} message"
            refusal = Refusal("unsupported", f"WeChat {what}s are not supported")
            log.warning("WeChat %s from %s refused: %s", what, openid, refusal.message)
            text = f"{refusal.text('zh')}\n{refusal.text('en')}"
            return await self._reply(request, message, text, reply_nonce)

        if inbound.event == "unsubscribe":
            await self.service.receive(CHANNEL, inbound)
            return _success()

        # Open (or find) the conversation first, so that the bot's answer waits
        # for this request instead of being pushed.
        conversation, _ = await self.service.open(CHANNEL, openid)
        async with self.holding(conversation.id):
            received = await self.service.receive(
                CHANNEL, inbound, wait_for_bot=self.passive_seconds
            )
            target = received.conversation or conversation
            if time.monotonic() - started > REPLY_DEADLINE_SECONDS:
                # Too late for WeChat to take an answer: everything goes by the API.
                log.warning("WeChat message from %s took too long for a passive reply", openid)
                text, taken = "", []
            else:
                text, taken = await self._passive_text(received, target.id, openid)
            response = await self._reply(request, message, text, reply_nonce)
            try:
                # Sent before letting go, so that what did not fit is pushed after it.
                await response.write_eof()
            except ConnectionError:
                log.warning("WeChat hung up before our reply to %s; sending it by the API", openid)
                self._push_taken(target, taken)
        return response

    async def _passive_text(
        self, received: Received, conversation_id: int, openid: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """The text of the passive reply, and the messages it answers."""
        if received.refusal is not None:
            if received.refusal.code == "rate_limited":
                return self._rate_notice(openid, received), []
            return received.refusal.text(received.language), []
        if received.duplicate:
            # WeChat's retry of a message we already have: answered once already (or
            # the answer is still coming by the customer-service API).
            seq = (received.message or {}).get("seq")
            log.info("WeChat resent message %s of %s; stored once, answered once", seq, openid)
            return "", []
        language = received.language
        parts: list[str] = []

        def fits(messages: list[dict[str, Any]]) -> int:
            """How many whole messages fit one reply (the rest are pushed after it)."""
            taken = 0
            for message in messages:
                candidate = parts + render_text(message, self.limits, language)
                if len("\n\n".join(candidate).encode()) > MAX_TEXT_BYTES:
                    break
                parts[:] = candidate
                taken += 1
            return taken

        taken = await self.take_pending(conversation_id, accept=fits)
        return ("\n\n".join(parts) if taken else ""), taken

    def _push_taken(self, conversation: Conversation, taken: list[dict[str, Any]]) -> None:
        """Messages claimed for a reply WeChat did not take: best effort by the API."""

        async def push() -> None:
            for message in taken:
                try:
                    await self.send(conversation, message)
                except DeliveryFailed as failure:
                    log.error(
                        "WeChat: message %s of conversation %s lost with its reply: %s",
                        message["seq"],
                        conversation.id,
                        failure.reason,
                    )

        if taken:
            task = asyncio.create_task(push())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    def _rate_notice(self, openid: str, received: Received) -> str:
        now = time.monotonic()
        told = self._rate_noticed.get(openid)
        if told is not None and now - told < RATE_NOTICE_SECONDS:
            return ""
        self._rate_noticed[openid] = now
        self._rate_noticed.move_to_end(openid)
        while len(self._rate_noticed) > 10_000:
            self._rate_noticed.popitem(last=False)
        assert received.refusal is not None
        return received.refusal.text(received.language)

    async def _reply(
        self, request: web.Request, message: Any, text: str, reply_nonce: str | None
    ) -> web.StreamResponse:
        if not text:
            response = _success()
        else:
            xml = TextReply(source=message.target, target=message.source, content=_cdata(text))
            body = xml.render()
            if reply_nonce is not None:
                assert self.crypto is not None
                body = self.crypto.encrypt_message(body, reply_nonce)
            response = web.Response(text=body, content_type="application/xml")
        await response.prepare(request)
        return response

    # ---- PushChannel: the customer-service message API --------------------------------

    async def send(self, conversation: Conversation, message: dict[str, Any]) -> None:
        """One stored message as customer-service text messages (long ones in parts,
        a retry resuming after the parts WeChat already took)."""
        parts = render_text(message, self.limits, conversation.language)
        key = str(message.get("uid") or f"{conversation.id}:{message['seq']}")
        done = self._parts_sent.get(key, 0)
        for index in range(done, len(parts)):
            await self.api.send_text(conversation.external_user_id, _clean(parts[index]))
            self._parts_sent[key] = index + 1
            while len(self._parts_sent) > 10_000:
                self._parts_sent.popitem(last=False)
        self._parts_sent.pop(key, None)


def install(
    app: web.Application,
    service: ConversationService,
    settings: Settings,
    http: aiohttp.ClientSession,
) -> WeChat | None:
    """Adds `/channels/wechat` when WECHAT_TOKEN is set."""
    if not settings.wechat_token:
        return None
    channel = WeChat(service, settings, http)
    app.router.add_get(PATH, channel.verify)
    app.router.add_post(PATH, channel.receive)
    service.add_channel(channel)
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        log.warning(
            "WeChat: WECHAT_APP_ID/WECHAT_APP_SECRET not set; only passive replies "
            "(within %ss) reach customers",
            settings.wechat_passive_reply_seconds,
        )
    log.info("WeChat channel at %s (%s mode)", PATH, "safe" if channel.crypto else "plain")
    return channel


# ---- helpers --------------------------------------------------------------------------


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, f"body of {request.content_length} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(16 * 1024):
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _text_of(body: bytes) -> str:
    try:
        xml = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if not xml.strip():
        raise Refused(400, "empty body")
    return xml


def _refuse_doctype(xml: str) -> None:
    """WeChat's XML never has a DTD: refuse any, so no entity is ever expanded."""
    lowered = xml.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise Refused(400, "XML with a DTD or entities")


def _parse(xml: str) -> Any:
    _refuse_doctype(xml)
    try:
        message = parse_message(xml)
        kind = message.type
        openid, account = message.source, message.target
    except Exception as exc:  # noqa: BLE001 - expat errors, missing or odd elements
        raise Refused(400, f"malformed XML: {exc!r}"[:200]) from None
    if not isinstance(openid, str) or not ACCOUNT_ID.match(openid):
        raise Refused(400, "no FromUserName")
    if not isinstance(account, str) or not ACCOUNT_ID.match(account):
        raise Refused(400, "no ToUserName")
    if kind == "unknown":
        # parse_message's UnknownMessage: report the real type to the refusal.
        message.type = str(message._data.get("MsgType", "unknown")).lower()[:32]
    return message


def _msg_id(message: Any) -> str | None:
    return str(message.id) if message.id else None


def _event_of(message: Any) -> str:
    """The event's name (wechatpy knows some; the raw `Event` element names all)."""
    known = getattr(message, "event", "")
    return str(known or message._data.get("Event") or "unknown").lower()[:32]


def _clean(text: str) -> str:
    return XML_INVALID.sub("", text)


def _cdata(text: str) -> str:
    """Text safe inside wechatpy's CDATA section."""
    return _clean(text).replace("]]>", "]]]]><![CDATA[>")


def _success() -> web.Response:
    return web.Response(text=SUCCESS, content_type="text/plain")
