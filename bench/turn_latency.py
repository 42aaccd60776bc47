"""Turn latency: N concurrent web chat customers through the whole stack
(socket.io → conversation service → Rasa → actions → store → socket.io),
and the same messages straight to Rasa's REST webhook on the same model.

    .venv/bin/python bench/turn_latency.py [--customers 20] [--turns 10]

By default it starts its own stack (Rasa, actions, console, on free ports, over
a fresh demo store); `--base-url` and `--rasa-url` measure a running one
instead (for example the one `make run` started). Prints p50/p95 per path,
the ratio, and messages per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store.demo import generate  # noqa: E402
from web.stack import Customer, Stack  # noqa: E402

# Turns the bot answers itself (no handoff, no verification), zh and en.
MESSAGES = [
    "你好",
    "hello",
    "谢谢",
    "thanks a lot",
    "你是机器人吗",
    "are you a bot",
    "在吗",
    "hi there",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def gateway_customer(base_url: str, turns: int, latencies: list[float]) -> None:
    customer = Customer(base_url)
    await customer.connect()
    try:
        for turn in range(turns):
            started = time.perf_counter()
            await customer.say(MESSAGES[turn % len(MESSAGES)])
            await customer.next(timeout=60)
            latencies.append(time.perf_counter() - started)
            await customer.drain(quiet=0.05)  # any further bubbles of the same reply
    finally:
        await customer.disconnect()


async def rasa_customer(
    http: aiohttp.ClientSession, rasa_url: str, turns: int, latencies: list[float]
) -> None:
    sender = f"bench-{uuid.uuid4().hex}"
    for turn in range(turns):
        started = time.perf_counter()
        async with http.post(
            f"{rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": MESSAGES[turn % len(MESSAGES)]},
        ) as response:
            await response.json()
        latencies.append(time.perf_counter() - started)


async def measure(label: str, customers, count: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(customers(latencies) for _ in range(count)))
    elapsed = time.perf_counter() - started
    print(
        f"{label:<22} turns={len(latencies):>4}  p50={percentile(latencies, 0.5) * 1000:7.1f} ms"
        f"  p95={percentile(latencies, 0.95) * 1000:7.1f} ms"
        f"  mean={statistics.mean(latencies) * 1000:7.1f} ms"
        f"  throughput={len(latencies) / elapsed:6.1f} msg/s"
    )
    return latencies, elapsed


async def run(base_url: str, rasa_url: str, customers: int, turns: int) -> None:
    print(f"{customers} concurrent customers x {turns} turns each")
    # warm both paths so that model loading is not measured
    await measure("warm-up", lambda lat: gateway_customer(base_url, 2, lat), 2)
    gateway, _ = await measure(
        "gateway (socket.io)", lambda lat: gateway_customer(base_url, turns, lat), customers
    )
    async with aiohttp.ClientSession() as http:
        direct, _ = await measure(
            "rasa REST webhook", lambda lat: rasa_customer(http, rasa_url, turns, lat), customers
        )
    print(
        f"ratio gateway/rasa     p50={percentile(gateway, 0.5) / percentile(direct, 0.5):.2f}x"
        f"  p95={percentile(gateway, 0.95) / percentile(direct, 0.95):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--base-url", help="a running console, e.g. http://127.0.0.1:8000")
    parser.add_argument("--rasa-url", default="http://127.0.0.1:5005")
    args = parser.parse_args()
    if args.base_url:
        asyncio.run(run(args.base_url, args.rasa_url, args.customers, args.turns))
        return
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{workdir}/desk.db"
        asyncio.run(generate(url, customers=200, progress=lambda *_: None))
        print("starting Rasa, the action server and the console ...", flush=True)
        stack = Stack.start(Path(workdir), url)
        try:
            asyncio.run(run(stack.base_url, stack.rasa_url, args.customers, args.turns))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
