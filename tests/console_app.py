"""The real console app in-process, on a free loopback port, for socket and HTTP tests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from console.app import init_app
from console.settings import Settings
from tests.stack import free_port


async def start_console(database_url: str, **overrides: Any) -> TestClient:
    """Started, with demo agents (password "pw") and Rasa unreachable unless
    `overrides` say otherwise; `client.base` is its URL, `client.settings` its settings."""
    port = free_port()
    settings = Settings(
        **{
            "database_url": database_url,
            "rasa_url": "http://127.0.0.1:9",
            "action_server_url": "http://127.0.0.1:9",
            "rasa_timeout_seconds": 2,
            "demo_mode": True,
            "demo_password": "pw",
            "secret_key": "test-secret",
            "console_port": port,
            **overrides,
        }
    )
    client = TestClient(TestServer(await init_app(settings), host="127.0.0.1", port=port))
    await client.start_server()
    client.base = f"http://127.0.0.1:{port}"
    client.settings = settings
    return client
