"""Starts the real system for end-to-end tests and benchmarks: the Rasa server
(its own Python 3.10 environment), the action server and the console, each as
its own process on free loopback ports, over a fresh SQLite store."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
import socketio

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "health-desk.tar.gz"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
RASA_TOKEN = "end-to-end-rasa-token"
WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET = (
    "healthdesk-token-7Q2",
    "wx5f0c1e2d3b4a6978",
    "f3a1c0de5e7b9a2c4d6e8f0a1b3c5d7e",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    workdir: Path
    database_url: str
    rasa_url: str
    actions_url: str
    base_url: str
    password: str = "test-password"
    # The WeChat channel is on, its API a local fake that tests start on this port.
    wechat_api_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        workdir: Path,
        database_url: str,
        timeout: float = 240,
        settings: dict[str, str] | None = None,
    ) -> Stack:
        """`settings` are more environment variables for the processes (the desk's
        settings, such as AUTO_ASSIGN), over the defaults below."""
        if not MODEL.exists() or not RASA.exists():
            raise RuntimeError("run `make train` first: the model or Rasa's environment is missing")
        rasa_port, actions_port, web_port = free_port(), free_port(), free_port()
        stack = cls(
            workdir=workdir,
            database_url=database_url,
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            actions_url=f"http://127.0.0.1:{actions_port}",
            base_url=f"http://127.0.0.1:{web_port}",
            wechat_api_port=free_port(),
        )
        # The trainers' workbench edits a copy of the bot's project, never the repository.
        project = workdir / "project"
        for part in ("config.yml", "bot/data", "bot/domain", "bot/tests"):
            copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copyfile
            (project / part).parent.mkdir(parents=True, exist_ok=True)
            copy(ROOT / part, project / part)
        endpoints = workdir / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "{stack.actions_url}/webhook"\n'
            f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{workdir / "tracker.db"}"\n'
        )
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "RASA_URL": stack.rasa_url,
            "ACTION_SERVER_URL": stack.actions_url,
            "CONSOLE_PORT": str(web_port),
            "CONSOLE_HOST": "127.0.0.1",
            "DEMO_MODE": "true",
            "DEMO_PASSWORD": stack.password,
            "SECRET_KEY": "end-to-end-tests",
            "SANIC_HOST": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
            # Agents answer around the clock here, so handoffs do not depend on the hour.
            "SERVICE_HOURS": "00:00-24:00",
            # Every test verifies demo customer 1, from one address: the limits on
            # codes and identifications are tested in tests/store and tests/bot.
            "VERIFICATION_CODES_PER_HOUR": "1000",
            "VERIFICATION_CODES_PER_DAY": "1000",
            "VERIFICATION_IDENTIFICATIONS_PER_ADDRESS": "1000",
            "RASA_TOKEN": RASA_TOKEN,
            "UPLOAD_DIR": str(workdir / "uploads"),
            "TRAINING_PROJECT_DIR": str(project),
            # The registry starts from the model Rasa is started with, kept apart.
            "MODEL_REGISTRY_DIR": str(workdir / "models"),
            "RASA_MODEL": str(MODEL),
            "WECHAT_TOKEN": WECHAT_TOKEN,
            "WECHAT_APP_ID": WECHAT_APP_ID,
            "WECHAT_APP_SECRET": WECHAT_APP_SECRET,
            "WECHAT_API_BASE_URL": f"http://127.0.0.1:{stack.wechat_api_port}/",
            # Every test customer comes from 127.0.0.1: no limit of new sessions per address.
            "WEB_SESSION_BURST": "100000",
            **(settings or {}),
        }
        commands = {
            "actions": [
                str(APP_PYTHON),
                "-m",
                "rasa_sdk",
                "--actions",
                "bot.actions",
                "--port",
                str(actions_port),
            ],
            "rasa": [
                str(RASA),
                "run",
                "--model",
                str(MODEL),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(ROOT / "credentials.yml"),
                "--interface",
                "127.0.0.1",
                "--enable-api",
                "--auth-token",
                RASA_TOKEN,
                "--port",
                str(rasa_port),
            ],
            "web": [str(APP_PYTHON), "-m", "web"],
        }
        stack.commands, stack.env = commands, env
        for name in commands:
            stack.launch(name)
        try:
            stack.wait_healthy(timeout)
            stack.sign_in("supervisor1")
        except BaseException:
            stack.stop()
            raise
        return stack

    def sign_in(self, username: str) -> str:
        """Sign an agent in through the API, which puts them online; returns the token."""
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/auth/login",
            data=json.dumps({"username": username, "password": self.password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["token"]

    def launch(self, name: str) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            self.commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def restart(self, name: str, timeout: float = 240) -> None:
        """Stop one process and start it again, then wait until the stack is healthy."""
        process = self.processes[name]
        process.terminate()
        process.wait(timeout=30)
        self.launch(name)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{self.commands[name][:3]} exited; logs in {self.workdir}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"the stack did not become healthy; logs in {self.workdir}")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class Customer:
    """A web chat customer: a real socket.io client speaking the widget protocol."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session_id: str | None = None
        self.last_seq = 0
        self._confirmed = asyncio.Event()
        self.sio.on("bot_uttered", self._on_bot_uttered)
        self.sio.on("session_confirm", self._on_session_confirm)

    async def _on_bot_uttered(self, data: dict[str, Any]) -> None:
        self.last_seq = max(self.last_seq, data.get("seq", 0))
        await self.inbox.put(data)

    async def _on_session_confirm(self, data: dict[str, Any]) -> None:
        self.session_id = data["session_id"]
        self._confirmed.set()

    async def connect(
        self, session_id: str | None = None, last_seq: int | None = None, history: bool = False
    ) -> str:
        """Open (or, with `session_id`, resume) a session; `last_seq` asks for what was
        missed since, `history` for the conversation so far."""
        self._confirmed.clear()
        await self.sio.connect(self.base_url, transports=["websocket"])
        request: dict[str, Any] = {"session_id": session_id}
        if last_seq is not None:
            request["last_seq"] = last_seq
        if history:
            request["history"] = True
        # Answered after whatever it replays has been sent: `received()` has it all then.
        await self.sio.call("session_request", request, timeout=10)
        await asyncio.wait_for(self._confirmed.wait(), 10)
        if self.session_id is None:
            raise RuntimeError("the server confirmed the session without a session_id")
        return self.session_id

    async def say(self, text: str, client_message_id: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"message": text, "session_id": self.session_id}
        if client_message_id:
            data["client_message_id"] = client_message_id
        return await self.sio.call("user_uttered", data, timeout=10)

    async def next(self, timeout: float = 30) -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def until(self, predicate, timeout: float = 30) -> list[dict[str, Any]]:
        """Messages received until one satisfies `predicate` (inclusive)."""
        received = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await self.next(max(remaining, 0.01))
            received.append(message)
            if predicate(message):
                return received

    def received(self) -> list[dict[str, Any]]:
        """What has arrived and not been read yet (after `connect`, what it replayed)."""
        arrived = []
        while not self.inbox.empty():
            arrived.append(self.inbox.get_nowait())
        return arrived

    async def disconnect(self) -> None:
        await self.sio.disconnect()


class AgentApi:
    """The agents' HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str):
        self.http = http
        self.base_url = base_url
        self.token: str | None = None

    async def login(self, username: str, password: str) -> None:
        async with self.http.post(
            f"{self.base_url}/api/v1/auth/login", json={"username": username, "password": password}
        ) as response:
            assert response.status == 200, await response.text()
            self.token = (await response.json())["token"]

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(
            method, f"{self.base_url}{path}", headers=headers, **kwargs
        ) as response:
            return response.status, await response.json()


REDIS = "redis://127.0.0.1:6379/0"


def start_web(database_url: str, log_path: Path, **settings: str) -> tuple[subprocess.Popen, str]:
    """One more console process (`python -m web`) on the shared store and a Redis
    message queue, with Rasa unreachable; returns it and its URL once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SOCKETIO_MESSAGE_QUEUE": REDIS,
        "SECRET_KEY": "shared-by-every-console-process",
        "CONSOLE_PORT": str(port),
        "RASA_URL": "http://127.0.0.1:9",
        "ACTION_SERVER_URL": "http://127.0.0.1:9",
        "RASA_TIMEOUT_SECONDS": "2",
        "DEMO_MODE": "true",
        "DEMO_PASSWORD": "pw",
        # Around the clock: nothing depends on the hour.
        "SERVICE_HOURS": "00:00-24:00",
        # Every test customer comes from 127.0.0.1: no limit of new sessions per address.
        "WEB_SESSION_BURST": "100000",
        **settings,
    }
    process = subprocess.Popen(
        [str(APP_PYTHON), "-m", "web"],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "wb"),  # noqa: SIM115 - the process keeps it
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
        except urllib.error.HTTPError:
            return process, base  # answering (503 without Rasa) is enough here
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.5)
    process.terminate()
    raise TimeoutError(log_path.read_text())


@contextmanager
def web_processes(
    database_url: str, workdir: Path, count: int = 2, **settings: str
) -> Iterator[list[str]]:
    """`count` console processes on one store and the Redis message queue; their URLs."""
    redis.Redis.from_url(REDIS).ping()
    # Its own channel on the shared Redis: two such groups never hear each other.
    settings = {"SOCKETIO_CHANNEL": f"socketio-{uuid.uuid4().hex[:12]}", **settings}
    processes = []
    try:
        for n in range(count):  # one after the other: each creates the demo agents
            processes.append(start_web(database_url, workdir / f"console-{n}.log", **settings))
        yield [base for _, base in processes]
    finally:
        for process, _ in processes:
            process.terminate()
            process.wait(timeout=20)
