"""The bot participant: Rasa's REST channel on loopback, what it understood in a
customer's message (from its tracker), health probes, and the model swap (Rasa's
HTTP API loads another model while customers' turns wait at a gate, so that none of
them times out into a handoff)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

# Loading a model takes Rasa about 30 s on 2 cores; give it room on a busy machine.
MODEL_LOAD_TIMEOUT_SECONDS = 600


class BotUnavailable(Exception):
    """Rasa did not answer, or answered with an error."""


# The intent Rasa's FallbackClassifier puts on top when no intent was sure enough.
FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class Parse:
    """What the bot understood in a customer's last message.

    `shown` and `shown_confidence` are the top of Rasa's ranking, as agents see it
    (`nlu_fallback` when the fallback fired); `intent` and `confidence` are the best
    real intent, and `runner_up` the next one, for the trainers' inbox."""

    shown: str
    shown_confidence: float
    intent: str
    confidence: float
    runner_up: str | None = None
    runner_up_confidence: float | None = None
    # For `faq`: the topic the response selector chose, `faq/waiting_period`.
    faq_topic: str | None = None
    fallback: bool = False
    # The slot the bot asked for next (`requested_slot`).
    awaiting: str | None = None

    def for_agents(self) -> dict[str, Any]:
        return {"intent": self.shown, "confidence": round(self.shown_confidence, 3)}


def parse_of(tracker: Any) -> Parse | None:
    """The `Parse` of a tracker as `GET /conversations/{sender}/tracker` answers it."""
    if not isinstance(tracker, dict):
        return None
    latest = tracker.get("latest_message") or {}
    top = latest.get("intent") or {}
    if not isinstance(top, dict) or not top.get("name"):
        return None
    ranking = [
        (str(entry["name"]), _number(entry.get("confidence")))
        for entry in latest.get("intent_ranking") or []
        if isinstance(entry, dict) and entry.get("name") and entry["name"] != FALLBACK_INTENT
    ]
    shown, shown_confidence = str(top["name"]), _number(top.get("confidence"))
    if shown != FALLBACK_INTENT and not any(name == shown for name, _ in ranking):
        ranking.insert(0, (shown, shown_confidence))
    intent, confidence = ranking[0] if ranking else (shown, shown_confidence)
    runner_up = ranking[1] if len(ranking) > 1 else (None, None)
    topic = None
    if intent == "faq":
        selector = (latest.get("response_selector") or {}).get("faq") or {}
        key = (selector.get("response") or {}).get("intent_response_key")
        topic = str(key) if key else None
    requested = (tracker.get("slots") or {}).get("requested_slot")
    return Parse(
        shown=shown,
        shown_confidence=shown_confidence,
        intent=intent,
        confidence=confidence,
        runner_up=runner_up[0],
        runner_up_confidence=runner_up[1],
        faq_topic=topic,
        fallback=shown == FALLBACK_INTENT,
        awaiting=str(requested) if requested else None,
    )


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


class SwapGate:
    """Customers' turns pass freely while no model swap runs. A swap closes the gate
    to new turns, waits for the turns in flight to finish, and opens it again when the
    new model is loaded: a turn never meets Rasa busy loading (which would hold it
    past the gateway's timeout) and none is refused."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0
        # Turns waiting for a swap to end (its log says how many it held).
        self.held = 0
        self._swaps = asyncio.Lock()

    @property
    def swapping(self) -> bool:
        return not self._open.is_set()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if not self._open.is_set():
            self.held += 1
            try:
                await self._open.wait()
            finally:
                self.held -= 1
        # No await between the check and the count: a swap starting now waits for us.
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @asynccontextmanager
    async def swap(self) -> AsyncIterator[None]:
        async with self._swaps:
            self._open.clear()
            try:
                await self._idle.wait()
                yield
            finally:
                self._open.set()


class RasaClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        rasa_url: str,
        actions_url: str,
        timeout: float,
        token: str = "",
    ):
        self._http = http
        # Rasa's HTTP API (for what the bot understood) is on only with a token.
        self._token = token
        self._rasa_url = rasa_url.rstrip("/")
        self._actions_url = actions_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.gate = SwapGate()

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """One customer turn; returns the bot's replies as Rasa's REST channel gives them.
        While a model swap runs the turn waits for it (the wait is not Rasa's time)."""
        async with self.gate.turn():
            return await self._send(sender, text, metadata)

    async def _send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            async with self._http.post(
                f"{self._rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text, "metadata": metadata},
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise BotUnavailable(f"Rasa answered {response.status}")
                replies = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BotUnavailable(str(exc) or exc.__class__.__name__) from exc
        return replies if isinstance(replies, list) else []

    async def latest_intent(self, sender: str) -> dict[str, Any] | None:
        """The intent the bot saw in the sender's last message, for the agents."""
        parse = await self.latest_parse(sender)
        return parse.for_agents() if parse else None

    async def latest_parse(self, sender: str, text: str | None = None) -> Parse | None:
        """What the bot understood in the sender's last message, `text` (needs the API
        token). When the bot fell back, Rasa's fallback reverted the message, so the
        tracker's latest message is the one before: the text is then parsed itself."""
        if not self._token:
            return None
        async with self.gate.turn():
            tracker = await self._api("GET", f"/conversations/{sender}/tracker", None)
            if not isinstance(tracker, dict):
                return None
            latest = tracker.get("latest_message") or {}
            if text is None or str(latest.get("text") or "").strip() == text.strip():
                return parse_of(tracker)
            parsed = await self._api("POST", "/model/parse", {"text": text})
            found = parse_of({**tracker, "latest_message": parsed})
            return replace(found, fallback=True) if found else None

    async def _api(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """One call of Rasa's HTTP API; None when it does not answer well."""
        try:
            async with self._http.request(
                method,
                f"{self._rasa_url}{path}",
                params={"include_events": "NONE", "token": self._token},
                json=body,
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    return None
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def _answers(self, url: str) -> bool:
        try:
            async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def health(self) -> dict[str, bool]:
        return {
            "rasa": await self._answers(f"{self._rasa_url}/"),
            "actions": await self._answers(f"{self._actions_url}/health"),
        }

    async def tracker_events(self, sender: str) -> list[dict[str, Any]]:
        """Every event of the sender's tracker (what the bot understood and did), for
        the trainers' test stories; needs Rasa's HTTP API (a token)."""
        if not self._token:
            raise BotUnavailable("Rasa's HTTP API is off (no RASA_TOKEN)")
        try:
            async with self._http.get(
                f"{self._rasa_url}/conversations/{sender}/tracker",
                params={"include_events": "ALL", "token": self._token},
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise BotUnavailable(f"Rasa answered {response.status}")
                tracker = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise BotUnavailable(str(exc) or exc.__class__.__name__) from exc
        events = (tracker or {}).get("events")
        return events if isinstance(events, list) else []

    # ---- the model (Rasa's HTTP API; needs the token) ------------------------------------

    def urls(self, extra: list[str] | None = None) -> list[str]:
        """Every Rasa process a deploy reaches: this client's, and any others."""
        found = [self._rasa_url]
        for url in extra or []:
            if url.rstrip("/") not in found:
                found.append(url.rstrip("/"))
        return found

    async def model_status(self, url: str | None = None) -> dict[str, Any] | None:
        """The model a Rasa process has loaded (`model_file`, `model_id`), or None
        when it does not answer (down, still loading, or no token)."""
        if not self._token:
            return None
        try:
            async with self._http.get(
                f"{(url or self._rasa_url).rstrip('/')}/status",
                params={"token": self._token},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                if response.status != 200:
                    return None
                status = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        return status if isinstance(status, dict) else None

    async def load_model(self, path: str, url: str | None = None) -> str | None:
        """Has a Rasa process load the model file at `path` (absolute, on this
        machine); None when it did, else what went wrong. Rasa keeps serving its
        old model when a load fails."""
        if not self._token:
            return "Rasa's HTTP API is off (no RASA_TOKEN)"
        try:
            async with self._http.put(
                f"{(url or self._rasa_url).rstrip('/')}/model",
                params={"token": self._token},
                json={"model_file": path},
                timeout=aiohttp.ClientTimeout(total=MODEL_LOAD_TIMEOUT_SECONDS),
            ) as response:
                if response.status == 204:
                    return None
                return f"Rasa answered {response.status}: {(await response.text())[:300]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Rasa did not answer: {exc or exc.__class__.__name__}"
