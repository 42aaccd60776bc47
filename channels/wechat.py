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
only); what the reply answers counts as delivered once the reply is written (if
WeChat hung up, it is still owed and goes by the API). Everything else (a slow
bot, the rest of a long answer, agents' replies, queue updates) goes by the
customer-service message API, `message/custom/send`, through the delivery cursor
of `PushChannel`: in order, retried with backoff.

The wire protocol (signatures, replay guard, safe mode, the XML) is in
`channels.wechat_protocol`, the two API calls (access token, customer-service
text) in `channels.wechat_api`."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply

from channels.wechat_api import WeChatAPI
from channels.wechat_protocol import (
    Gatekeeper,
    Refused,
    cdata,
    clean_text,
    event_of,
    msg_id,
    no_reply,
    parse_xml,
    read_limited,
    text_of,
)
from desk.delivery import PushChannel, render_text
from desk.intake import Attachment, Inbound, Limits, Received, Refusal
from desk.pseudonyms import pseudonym
from store.models import Conversation

if TYPE_CHECKING:
    from desk.conversations import ConversationService
    from desk.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "wechat"
PATH = "/channels/wechat"
# WeChat's messages are small; anything bigger is not WeChat.
MAX_BODY_BYTES = 64 * 1024
# WeChat takes at most 2048 bytes of text in one message (a passive reply or one
# customer-service message); 600 characters of Chinese (3 bytes each) fit.
MAX_TEXT_BYTES = 2048
LIMITS = Limits(max_text_chars=600, buttons=False)
# Events that are notifications, not something a person did: nobody to answer.
SILENT_EVENTS = {"location", "view", "templatesendjobfinish", "masssendjobfinish"}
SUBSCRIBE_EVENTS = {"subscribe", "subscribe_scan", "subscribe_scan_product"}
# WeChat waits 5 s for an answer; past this, a reply might arrive too late.
REPLY_DEADLINE_SECONDS = 4.5
# A customer flooding us is told so once a minute, then gets no answer.
RATE_NOTICE_SECONDS = 60


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
        self.passive_seconds = settings.wechat_passive_reply_seconds
        self.crypto: WeChatCrypto | None = None
        if settings.wechat_encoding_aes_key:
            if not settings.wechat_app_id:
                raise ValueError("WECHAT_ENCODING_AES_KEY (safe mode) needs WECHAT_APP_ID")
            try:
                self.crypto = WeChatCrypto(
                    settings.wechat_token,
                    settings.wechat_encoding_aes_key,
                    settings.wechat_app_id,
                )
            except (AssertionError, ValueError) as exc:
                raise ValueError(
                    "WECHAT_ENCODING_AES_KEY must be the 43-character key from mp.weixin.qq.com"
                ) from exc
        self.api = WeChatAPI(
            http, settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret
        )
        self.gate = Gatekeeper(
            settings.wechat_token,
            settings.wechat_app_id,
            settings.replay_window_seconds,
            self.crypto,
        )
        self._rate_noticed: OrderedDict[str, float] = OrderedDict()
        # Parts of a long message already sent: a retry resumes after them.
        self._parts_sent: OrderedDict[str, int] = OrderedDict()

    # ---- HTTP: WeChat calls us ------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """Server URL verification: echo `echostr` when the signature is ours."""
        try:
            params = self.gate.check_signed(request)
            echostr = request.query.get("echostr", "")
            if not echostr or len(echostr) > 1024:
                raise Refused(400, "no echostr")
            msg_signature = request.query.get("msg_signature")
            if msg_signature and self.crypto is not None:
                echostr = self.gate.open_echostr(msg_signature, params, echostr)
            self.gate.check_fresh(params)
        except Refused as refused:
            return self._refuse(request, refused)
        log.info("WeChat server URL verified")
        return web.Response(text=echostr, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """A message or event from a follower; answered within WeChat's 5 seconds."""
        started = time.monotonic()
        try:
            body = await read_limited(request, MAX_BODY_BYTES)
            params = self.gate.check_signed(request)
            encrypted = request.query.get("encrypt_type", "raw").lower() == "aes"
            if self.crypto is not None and not encrypted:
                # In safe mode only the encrypted message is signed as a whole.
                raise Refused(403, "plain message while safe mode is on")
            if encrypted and self.crypto is None:
                raise Refused(400, "encrypted message but no WECHAT_ENCODING_AES_KEY")
            xml = text_of(body)
            if encrypted:
                xml = self.gate.decrypt(request.query.get("msg_signature", ""), params, xml)
            self.gate.check_fresh(params)
            message = parse_xml(xml)
        except Refused as refused:
            return self._refuse(request, refused)
        nonce = params["nonce"] if encrypted else None
        return await self._answer(request, message, nonce, started)

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
        event = event_of(message) if kind == "event" else None
        if kind == "text":
            inbound = Inbound(openid, text=message.content, message_id=msg_id(message))
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
                message_id=msg_id(message),
            )
        elif event in SUBSCRIBE_EVENTS or event == "unsubscribe":
            event = "subscribe" if event in SUBSCRIBE_EVENTS else event
            inbound = Inbound(openid, event=event, message_id=f"{openid}:{message.time}:{event}")
        elif event in SILENT_EVENTS:
            log.info("WeChat %s event from %s ignored", event, pseudonym(openid))
            return no_reply()
        else:
            what = f"{event} event" if event else f"{kind} message"
            refusal = Refusal("unsupported", f"WeChat {what}s are not supported")
            log.warning("WeChat %s from %s refused: %s", what, pseudonym(openid), refusal.message)
            text = f"{refusal.text('zh')}\n{refusal.text('en')}"
            return self._reply_to(message, text, reply_nonce)

        if inbound.event == "unsubscribe":
            await self.service.receive(CHANNEL, inbound)
            return no_reply()

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
                log.warning(
                    "WeChat message from %s took too long for a passive reply", pseudonym(openid)
                )
                notice: str | None = ""
            else:
                notice = self._notice(received, openid)
            response = self._reply_to(message, notice or "", reply_nonce)
            try:
                if notice is not None:
                    await self._write(request, response)
                else:
                    parts: list[str] = []
                    async with self.answering(target.id, self._fitting(parts, received.language)):
                        response = self._reply_to(message, "\n\n".join(parts), reply_nonce)
                        # What the reply answers counts as delivered only once it is
                        # written; written before letting go, so that what did not
                        # fit is pushed after it.
                        await self._write(request, response)
            except ConnectionError:
                # Whatever the reply answered is still owed: pushed when we let go.
                log.warning(
                    "WeChat hung up before our reply to %s; it goes by the API",
                    pseudonym(openid),
                )
        return response

    def _notice(self, received: Received, openid: str) -> str | None:
        """The reply when it answers no message of the bot's (a refusal, a resend;
        "" for none), or None when the reply answers what the conversation is owed."""
        if received.refusal is not None:
            if received.refusal.code == "rate_limited":
                return self._rate_notice(openid, received)
            return received.refusal.text(received.language)
        if received.duplicate:
            # WeChat's retry of a message we already have: answered once already (or
            # the answer is still coming by the customer-service API).
            seq = (received.message or {}).get("seq")
            log.info(
                "WeChat resent message %s of %s; stored once, answered once", seq, pseudonym(openid)
            )
            return ""
        return None

    def _fitting(self, parts: list[str], language: str) -> Callable[[list[dict[str, Any]]], int]:
        """`accept` for a passive reply: how many whole messages fit one reply (the
        rest are pushed after it), their text collected in `parts`."""

        def fits(messages: list[dict[str, Any]]) -> int:
            taken = 0
            for message in messages:
                candidate = parts + render_text(message, self.limits, language)
                if len("\n\n".join(candidate).encode()) > MAX_TEXT_BYTES:
                    break
                parts[:] = candidate
                taken += 1
            return taken

        return fits

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

    @staticmethod
    async def _write(request: web.Request, response: web.StreamResponse) -> None:
        """Hand the reply to WeChat; ConnectionError if WeChat is no longer there."""
        await response.prepare(request)
        await response.write_eof()

    def _reply_to(self, message: Any, text: str, reply_nonce: str | None) -> web.Response:
        """The passive reply with `text` (WeChat's "success" for none)."""
        if not text:
            return no_reply()
        xml = TextReply(source=message.target, target=message.source, content=cdata(text))
        body = xml.render()
        if reply_nonce is not None:
            assert self.crypto is not None
            body = self.crypto.encrypt_message(body, reply_nonce)
        return web.Response(text=body, content_type="application/xml")

    # ---- PushChannel: the customer-service message API --------------------------------

    async def send(self, conversation: Conversation, message: dict[str, Any]) -> None:
        """One stored message as customer-service text messages (long ones in parts,
        a retry resuming after the parts WeChat already took)."""
        parts = render_text(message, self.limits, conversation.language)
        key = str(message.get("uid") or f"{conversation.id}:{message['seq']}")
        done = self._parts_sent.get(key, 0)
        for index in range(done, len(parts)):
            await self.api.send_text(conversation.external_user_id, clean_text(parts[index]))
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
