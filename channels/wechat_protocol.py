"""WeChat's wire protocol, as the WeChat channel checks and speaks it: which requests
are WeChat's (the signature over timestamp and nonce, the replay window, and in safe
mode the `msg_signature` and AES decryption), what a message's XML says, and the
XML or "success" we answer with.

wechatpy does the protocol: signatures (`check_signature`), parsing
(`parse_message`, on xmltodict, which refuses entity declarations; we also refuse
any DOCTYPE before parsing), safe mode (`WeChatCrypto`) and the reply XML
(`TextReply`, in the channel)."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner, check_signature

# What WeChat takes as "no reply, and do not retry".
SUCCESS = "success"
# An openid, or the account's own id (gh_...).
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# XML 1.0 forbids these characters, and "]]>" would end the CDATA section.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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


class Gatekeeper:
    """Lets in only what WeChat signed, once: the signature (with the account's
    token), a timestamp within the replay window, a (timestamp, nonce) pair not seen
    before, and in safe mode the `msg_signature` over the encrypted message."""

    def __init__(
        self, token: str, app_id: str, window_seconds: float, crypto: WeChatCrypto | None
    ) -> None:
        self.token = token
        self.app_id = app_id
        self.window = window_seconds
        self.crypto = crypto
        self.replays = ReplayGuard(window_seconds)

    def check_signed(self, request: web.Request) -> dict[str, str]:
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

    def check_fresh(self, params: dict[str, str]) -> None:
        """Remembers the signed pair; called once every signature has checked."""
        if not self.replays.first_time(params["timestamp"], params["nonce"]):
            raise Refused(403, "replayed timestamp and nonce")

    def open_echostr(self, msg_signature: str, params: dict[str, str], echostr: str) -> str:
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

    def decrypt(self, msg_signature: str, params: dict[str, str], xml: str) -> str:
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


async def read_limited(request: web.Request, limit: int) -> bytes:
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


def text_of(body: bytes) -> str:
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


def parse_xml(xml: str) -> Any:
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


def msg_id(message: Any) -> str | None:
    return str(message.id) if message.id else None


def event_of(message: Any) -> str:
    """The event's name (wechatpy knows some; the raw `Event` element names all)."""
    known = getattr(message, "event", "")
    return str(known or message._data.get("Event") or "unknown").lower()[:32]


def clean_text(text: str) -> str:
    return XML_INVALID.sub("", text)


def cdata(text: str) -> str:
    """Text safe inside wechatpy's CDATA section."""
    return clean_text(text).replace("]]>", "]]]]><![CDATA[>")


def no_reply() -> web.Response:
    """WeChat's "success": no reply, and no retry."""
    return web.Response(text=SUCCESS, content_type="text/plain")
