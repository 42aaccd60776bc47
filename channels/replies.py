"""The one JSON error shape (`desk.errors.error_body`) as the channels' HTTP routes
answer it, with a provider's extra headers (CORS, Retry-After) where they need them."""

from __future__ import annotations

from aiohttp import web

from desk.errors import error_body


def json_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(code, message), status=status, headers=headers)
