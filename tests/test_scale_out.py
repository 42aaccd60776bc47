"""Two console processes sharing one PostgreSQL store and a Redis message
queue: a customer connected to one and an agent connected to the other still
talk to each other. Rasa is deliberately unreachable, so the bot-outage
handoff puts the conversation in the queue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
import redis
import socketio

from tests.stack import APP_PYTHON, ROOT, AgentApi, Customer, free_port

pytestmark = pytest.mark.postgres
REDIS = "redis://127.0.0.1:6379/0"


def start_console(database_url: str, log_path) -> tuple[subprocess.Popen, str]:
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
        # Around the clock, and agents pick from the queue: nothing depends on the hour
        # or on which process assigns first.
        "SERVICE_HOURS": "00:00-24:00",
        "AUTO_ASSIGN": "false",
    }
    process = subprocess.Popen(
        [str(APP_PYTHON), "-m", "console"],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(60):
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
        except urllib.error.HTTPError:
            return process, base  # answering (503 without Rasa) is enough here
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(open(log_path).read()) from None
            time.sleep(0.5)
    raise TimeoutError(open(log_path).read())


@pytest.fixture
def consoles(postgres_url, tmp_path):
    redis.Redis.from_url(REDIS).ping()
    processes = []
    try:
        for name in ("a", "b"):  # one after the other: both create the demo agents
            processes.append(start_console(postgres_url, tmp_path / f"console-{name}.log"))
        yield [base for _, base in processes]
    finally:
        for process, _ in processes:
            process.terminate()
            process.wait(timeout=20)


async def test_customer_and_agent_on_different_processes(consoles):
    customer_side, agent_side = consoles
    async with aiohttp.ClientSession() as http:
        agent = AgentApi(http, agent_side)
        await agent.login("agent1", "pw")
        console = socketio.AsyncClient(reconnection=False)
        changes: asyncio.Queue = asyncio.Queue()
        live: asyncio.Queue = asyncio.Queue()
        console.on("conversation", changes.put, namespace="/agents")
        console.on("message", live.put, namespace="/agents")
        await console.connect(
            agent_side,
            namespaces=["/agents"],
            auth={"token": agent.token},
            transports=["websocket"],
        )

        customer = Customer(customer_side)
        await customer.connect()
        await customer.say("hello, is anyone there?")
        await customer.until(lambda m: "queue" in m.get("text", ""))

        # the queue change happened on the customer's process and reached the agent's
        queued = await asyncio.wait_for(changes.get(), 10)
        assert queued["state"] == "queued"
        watched = await console.call(
            "watch", {"conversation_id": queued["id"]}, namespace="/agents"
        )
        assert watched["messages"][0]["text"] == "hello, is anyone there?"

        status, _ = await agent.request("POST", f"/api/v1/conversations/{queued['id']}/assign")
        assert status == 200
        joined = await customer.next(10)
        assert joined["sender"] == "system" and "Wang Fang" in joined["text"]
        status, _ = await agent.request(
            "POST", f"/api/v1/conversations/{queued['id']}/messages", json={"text": "Hi, I'm here."}
        )
        assert status == 201
        reply = await customer.next(10)
        assert (reply["sender"], reply["text"]) == ("agent", "Hi, I'm here.")

        await customer.say("great, thanks")
        while (message := await asyncio.wait_for(live.get(), 10))["sender"] != "customer" or (
            message["text"] != "great, thanks"
        ):
            pass
        await customer.disconnect()
        await console.disconnect()
