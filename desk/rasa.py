"""The bot participant: Rasa's REST channel on loopback, health probes, and the
model swap (Rasa's HTTP API loads another model while customers' turns wait at a
gate, so that none of them times out into a handoff)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

# Loading a model takes Rasa about 30 s on 2 cores; give it room on a busy machine.
MODEL_LOAD_TIMEOUT_SECONDS = 600


class BotUnavailable(Exception):
    """Rasa did not answer, or answered with an error."""


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
        self._swaps = asyncio.Lock()

    @property
    def swapping(self) -> bool:
        return not self._open.is_set()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._open.wait()
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
        if not self._token:
            return None
        async with self.gate.turn():
            return await self._latest_intent(sender)

    async def _latest_intent(self, sender: str) -> dict[str, Any] | None:
        try:
            async with self._http.get(
                f"{self._rasa_url}/conversations/{sender}/tracker",
                params={"include_events": "NONE", "token": self._token},
                timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    return None
                tracker = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        intent = ((tracker or {}).get("latest_message") or {}).get("intent") or {}
        if not intent.get("name"):
            return None
        return {
            "intent": intent["name"],
            "confidence": round(float(intent.get("confidence") or 0), 3),
        }

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
