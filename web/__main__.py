"""Run the gateway and console: `python -m web`."""

from __future__ import annotations

import logging

from aiohttp import web

from desk.settings import get_settings
from web.app import init_app


def banner(settings) -> str:
    base = settings.console_origin().replace("0.0.0.0", "127.0.0.1")
    lines = [
        "",
        "  Health Desk is running",
        f"    customer chat   {base}/",
        f"    agent console   {base}/console",
        f"    health          {base}/healthz",
    ]
    if settings.demo_mode:
        lines.append(
            f"    demo logins     agent1, agent2, supervisor1 (password: {settings.demo_password})"
        )
    lines.append("    (the bot answers once Rasa has loaded its model, about 30 s; see /healthz)")
    return "\n".join(lines + [""])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    settings = get_settings()
    web.run_app(
        init_app(settings),
        host=settings.console_host,
        port=settings.console_port,
        print=lambda _: print(banner(settings), flush=True),
    )


if __name__ == "__main__":
    main()
