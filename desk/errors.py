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
UNKNOWN_EVENT = error_body("unknown_event", "There is no such event.")
# Named by the connection itself: never a client's event.
CONNECTION_EVENTS = ("connect", "disconnect")


class AnswersEveryEvent:
    """For a socket.io namespace: an event whose handler fails is still answered, with
    `{ok: false, error}` (a DeskError's own code and message; for anything else a
    plain "internal", the details only logged), so that no client waits for an
    acknowledgement that never comes and none is told our internals. Connecting and
    disconnecting keep their own behaviour (a refused connection must stay refused),
    and a client cannot send those as events of its own: socket.io would hand its
    "disconnect" to the handler of a real one (an agent still there would be marked
    offline), so events of those names are taken only while the connection is being
    opened or closed (socket.io lets no client's event through then)."""

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in CONNECTION_EVENTS:
            if not self._connection_changing(event, args[0] if args else None):
                log.info("a client sent a %s event of its own; refused", event)
                return {"ok": False, **UNKNOWN_EVENT}
            return await super().trigger_event(event, *args)  # type: ignore[misc]
        if not hasattr(self, f"on_{event}"):
            return {"ok": False, **UNKNOWN_EVENT}
        try:
            return await super().trigger_event(event, *args)  # type: ignore[misc]
        except DeskError as exc:
            return {"ok": False, **exc.body()}
        except Exception:
            log.exception("the %s event failed", event)
            return {"ok": False, **UNEXPECTED}

    def _connection_changing(self, event: str, sid: Any) -> bool:
        """Whether socket.io is opening (`connect`) or closing (`disconnect`) the
        connection `sid` now: only then does its manager hold it as pending."""
        manager = self.server.manager  # type: ignore[attr-defined]
        pending = manager.pending_connect if event == "connect" else manager.pending_disconnect
        return sid in pending.get(self.namespace, ())  # type: ignore[attr-defined]
