"""WeChat's server API, as the WeChat channel uses it: an access token and
customer-service text messages (`cgi-bin/message/custom/send`).

The two calls go over the console's shared aiohttp session rather than wechatpy's
`WeChatClient`: that client is synchronous (`requests`, one thread per call), its
token request ignores `API_BASE_URL` (it always calls api.weixin.qq.com, so
`WECHAT_API_BASE_URL` could not point at a proxy or a test fake), and its automatic
token refresh retries without bound. Here a token error refreshes once and
WeChat's error codes map onto permanent or retryable `DeliveryFailed`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from desk.delivery import DeliveryFailed

log = logging.getLogger(__name__)

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
            cached = self._token
            if cached and time.monotonic() < self._expires_at and cached != stale:
                return cached
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
