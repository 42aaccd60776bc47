"""The bot participant: Rasa's REST channel on loopback, and health probes."""

from __future__ import annotations

from typing import Any

import aiohttp


class BotUnavailable(Exception):
    """Rasa did not answer, or answered with an error."""


class RasaClient:
    def __init__(
        self, http: aiohttp.ClientSession, rasa_url: str, actions_url: str, timeout: float
    ):
        self._http = http
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
