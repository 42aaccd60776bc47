"""The customer's pages: the chat at `/`, and the embeddable widget, `/widget.js`
(the one script tag an insurer puts in its pages) and `/widget` (the chat page in
its embedded layout, frameable by the allowed widget origins only)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from desk.settings import Settings
from desk.texts import LANGUAGES, Catalogue, language_of, preferred

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
WIDGET = Catalogue(HERE / "locales")
strings = WIDGET.strings
# A CSP source for an origin: scheme, host (optionally *.), port (optionally *).
ORIGIN_SOURCE = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:(\d+|\*))?$")
LOCAL_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d+)?$")
# The chat page's policy; the widget's frame differs only in who may frame it.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def origin_check(settings: Settings):
    """Which origins may open the customers' socket and post uploads: the configured
    widget origins, the console's own, and (demo mode) any localhost page."""
    allowed = set(settings.widget_origin_list()) | settings.console_origins()

    def origin_allowed(origin: str | None) -> bool:
        if not origin:
            return False  # no Origin header: a same-origin request, which engine.io allows
        origin = origin.rstrip("/")
        return origin in allowed or (settings.demo_mode and bool(LOCAL_ORIGIN.match(origin)))

    return origin_allowed


def frame_ancestors(settings: Settings) -> str:
    """Who may frame `/widget`: the console itself, the configured widget origins
    and, in demo mode, any localhost page."""
    sources = ["'self'"]
    for origin in settings.widget_origin_list():
        if ORIGIN_SOURCE.match(origin):
            sources.append(origin)
        else:
            log.warning("WIDGET_ORIGINS entry %r is not an origin; ignored", origin)
    if settings.demo_mode:
        sources += ["http://localhost:*", "http://127.0.0.1:*"]
    return " ".join(sources)


def widget_csp(settings: Settings) -> str:
    return CSP.replace("frame-ancestors 'none'", f"frame-ancestors {frame_ancestors(settings)}")


TYPE_NAMES = {
    "image/jpeg": "JPG",
    "image/png": "PNG",
    "application/pdf": "PDF",
    "image/gif": "GIF",
    "image/webp": "WebP",
}


def size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{max(1, round(size / 1024))} KB"


def chat_page(settings: Settings, request: web.Request, embed: bool = False) -> dict[str, Any]:
    """What chat.html needs, for `/` and for `/widget`: the language (`?lang=`, else
    the browser's), the widget's strings in it, and the upload limits."""
    lang = (
        language_of(request.query.get("lang"))
        if request.query.get("lang")
        else preferred(request.headers.get("Accept-Language"))
    )
    types = settings.upload_type_list()
    config = {
        "embed": embed,
        "lang": lang,
        "strings": strings(lang, "widget."),
        "max_message_chars": settings.max_message_chars,
        "upload_max_bytes": settings.upload_max_bytes,
        "upload_max_label": size_label(settings.upload_max_bytes),
        "upload_types": types,
        "upload_type_names": ", ".join(TYPE_NAMES.get(t, t) for t in types),
    }
    return {"lang": lang, "embed": embed, "t": config["strings"], "config": config}


def launcher_strings() -> dict[str, dict[str, str]]:
    """What widget.js shows before its frame loads, in both languages."""
    keys = ("launcher_open", "launcher_close", "launcher_text", "launcher_unread", "frame_title")
    return {
        lang: {k: v for k, v in strings(lang, "widget.").items() if k[len("widget.") :] in keys}
        for lang in LANGUAGES
    }


def install_pages(app: web.Application, settings: Settings) -> None:
    """`/`, `/widget.js`, `/widget`, and `chat_page(...)` for chat.html."""
    env = aiohttp_jinja2.get_env(app)
    env.globals["chat_page"] = lambda request, embed=False: chat_page(settings, request, embed)
    csp = widget_csp(settings)

    async def widget_page(request: web.Request) -> web.StreamResponse:
        response = aiohttp_jinja2.render_template("chat.html", request, {"embed": True})
        # Set here, so the app's default (frame-ancestors 'none') is not applied.
        response.headers["Content-Security-Policy"] = csp
        response.headers["Cache-Control"] = "no-cache"
        return response

    async def widget_script(request: web.Request) -> web.StreamResponse:
        source = (STATIC / "widget.js").read_text(encoding="utf-8")
        return web.Response(
            text=source.replace(
                "/*STRINGS*/{}", json.dumps(launcher_strings(), ensure_ascii=False)
            ),
            content_type="text/javascript",
            headers={
                "Cache-Control": "public, max-age=300",
                # Loaded by the insurer's pages, which may isolate themselves.
                "Cross-Origin-Resource-Policy": "cross-origin",
            },
        )

    async def chat(request: web.Request) -> web.StreamResponse:
        return aiohttp_jinja2.render_template("chat.html", request, {})

    app.router.add_get("/", chat, name="chat")
    app.router.add_get("/widget", widget_page, name="widget")
    app.router.add_get("/widget.js", widget_script, name="widget_js")
