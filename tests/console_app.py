"""The real console app in-process, on a free loopback port, for socket and HTTP tests."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from desk.settings import Settings
from web.app import init_app


async def start_console(
    database_url: str, *, housekeeping: bool = True, **overrides: Any
) -> TestClient:
    """Started, with demo agents (password "pw") and Rasa unreachable unless
    `overrides` say otherwise; `client.base` is its URL, `client.settings` its settings.

    `housekeeping=False`: the app's own background rounds (not even the one at
    start) never run, so nothing races the test; it runs each round itself with
    `desk.housekeeping.run_once(service, grace_seconds, now)` (or a push channel's
    `retry_due(now)`), at the time it chooses."""
    # Bound now and handed to the server: a port picked and let go could be taken by
    # another test process before the server binds it.
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
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
            # No model to take in at start, and a registry of the test's own (made
            # only if a test registers a model).
            "rasa_model": "",
            "model_registry_dir": str(Path(tempfile.gettempdir()) / f"health-desk-models-{port}"),
            # Off: the test drives each round with `desk.housekeeping.run_once`.
            **({} if housekeeping else {"housekeeping_seconds": 0}),
            **overrides,
        }
    )
    server = TestServer(
        await init_app(settings),
        host="127.0.0.1",
        port=port,
        socket_factory=lambda host, port, family: listening,
    )
    client = TestClient(server)
    await client.start_server()
    client.base = f"http://127.0.0.1:{port}"
    client.settings = settings
    return client


async def bearer(client: TestClient, username: str, password: str = "pw") -> dict[str, str]:
    """The API's Authorization header for a demo agent, signed in through the API."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status == 200
    return {"Authorization": f"Bearer {(await response.json())['token']}"}
