"""The one error casework raises, and the two refusals every part of it uses.

A `CaseworkError` is a `DeskError`, so the HTTP API turns it into a JSON error and the
pages into a flash message."""

from __future__ import annotations

from desk.errors import DeskError


class CaseworkError(DeskError):
    """A casework request that is malformed (400) or not allowed (403, 404, 409)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(code, message, status)


def _forbidden(message: str = "This is not yours to see.") -> CaseworkError:
    return CaseworkError("forbidden", message, 403)


def _not_found(what: str) -> CaseworkError:
    return CaseworkError("not_found", f"No such {what}.", 404)
