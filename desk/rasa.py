"""The bot participant: Rasa's REST channel on loopback, and health probes."""

from __future__ import annotations

from typing import Any

import aiohttp


class BotUnavailable(Exception):
    """Rasa did not answer, or answered with an error."""


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

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """One customer turn; returns the bot's replies as Rasa's REST channel gives them."""
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
