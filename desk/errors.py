"""The one error the core raises for a request it will not carry out.

Adapters map it to their own shape: the HTTP API to its JSON error, the agents'
socket to an `{error, message}` answer, pages to a flash message."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class DeskError(Exception):
    """A request the conversation's state, the input or the caller's rights do not allow."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, dict[str, str]]:
        """The one JSON error shape every API answers with."""
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


UNEXPECTED = error_body("internal", "Something went wrong on our side; please try again.")


class AnswersEveryEvent:
    """For a socket.io namespace: an event whose handler fails unexpectedly is still
    answered, with `{ok: false, error}` (and logged), so that no client waits for an
    acknowledgement that never comes. Connecting and disconnecting keep their own
    behaviour (a refused connection must stay refused)."""

    async def trigger_event(self, event: str, *args: Any) -> Any:
        try:
            return await super().trigger_event(event, *args)  # type: ignore[misc]
        except Exception:
            if event in ("connect", "disconnect"):
                raise
            log.exception("the %s event failed", event)
            return {"ok": False, **UNEXPECTED}
