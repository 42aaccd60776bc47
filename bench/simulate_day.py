"""A day at the desk, played through the real running stack, that proves the figures:
customers on the web chat (real socket.io clients) and on the app API (signed HTTP),
who ask the bot FAQ questions and say goodbye, ask for a person, leave the queue, rate
and come back; agents as API clients with their consoles open over the agents'
socket.io namespace, in shifts, answering the conversations planned for them after the
planned wait and resolving them after the planned handling time. It writes its ground
truth (what it did and when, `bench/day_truth.py`) and compares it with the dashboard's
figures (`/api/v1/analytics/...`).

    .venv/bin/python bench/simulate_day.py [--scale 0.01] [--seed 1] [--minutes 10]
        [--url http://127.0.0.1:8000 --password demo] [--out truth.json]

Without `--url` it starts its own stack (`web.stack.Stack`) on a fresh SQLite store
with what the day needs: AUTO_ASSIGN=false (agents take what the plan gives them, so
a customer can still be waiting when they leave), the small targets of the plan and
an app API key. A running stack given with `--url` must be started so too (APP_API_KEYS
with `--app-key`); its figures then include whatever else happened that day.

The day's shape, the plan and the thresholds are in `bench/day_plan.py`; why the time
figures are checked as they are, in `bench/day_truth.py`."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.day_plan import ABANDONED, ANSWERED, DayPlan, Shift, plan_day  # noqa: E402
from bench.day_truth import GroundTruth, Stored, Watch, stored_times  # noqa: E402
from store.db import migrate_async  # noqa: E402
from web.stack import AgentApi, Customer, Stack  # noqa: E402

LEAVE_QUEUE = "/leave_queue"  # the queue message's "stop waiting" button
APP_KEY = ("sim", "simulated-app-secret")
AGENT_PASSWORD = "simulated-agent-password"
# Longest a bot turn or a delivery may take before the contact counts as a surprise.
TURN_TIMEOUT = 60.0
FIGURES = ("queue", "bot", "resolution", "outcome", "agents")


def stack_settings(plan: DayPlan) -> dict[str, str]:
    """What a stack must be started with for the plan."""
    return {
        "AUTO_ASSIGN": "false",
        "APP_API_KEYS": f"{APP_KEY[0]}:{APP_KEY[1]}",
        **plan.targets.settings(),
    }


def is_rating_request(message: dict[str, Any]) -> bool:
    return any(q.get("payload", "").startswith("/rate") for q in message.get("quick_replies") or [])


def is_queue_message(message: dict[str, Any]) -> bool:
    return any(q.get("payload") == LEAVE_QUEUE for q in message.get("quick_replies") or [])


def rating_payload(score: int) -> str:
    return f'/rate{{"score": {score}}}'


class WebChat:
    """A web chat customer (web.stack.Customer)."""

    def __init__(self, base_url: str, key: str):
        self.customer = Customer(base_url)
        self.key = key
        self.session_id: str | None = None

    async def open(self) -> None:
        """Open the chat, or open it again after closing it (the same conversation)."""
        self.session_id = await self.customer.connect(self.session_id)

    async def say(self, text: str, step: str) -> None:
        ack = await self.customer.say(text, client_message_id=f"{self.key}-{step}")
        if not ack.get("ok"):
            raise RuntimeError(f"refused: {ack}")

    async def until(self, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return await self.customer.until(wanted, timeout=TURN_TIMEOUT)

    async def close(self) -> None:
        if self.customer.sio.connected:
            await self.customer.disconnect()

    @staticmethod
    def marker(key: str, step: str) -> str:
        """How the customer's message is known in the console: its client message id."""
        return f"{key}-{step}"


class AppUser:
    """A customer of the insurer's app: signed requests, replies read by cursor."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, key: str):
        self.http, self.base_url, self.key = http, base_url, key
        self.after = 0

    def _headers(self, method: str, target: str, body: bytes, idempotency: str) -> dict:
        stamp = str(int(time.time()))
        digest = hashlib.sha256(body).hexdigest()
        canonical = "\n".join([method, target, stamp, idempotency, digest])
        mac = hmac.new(APP_KEY[1].encode(), canonical.encode(), hashlib.sha256).hexdigest()
        headers = {"X-Key-Id": APP_KEY[0], "X-Timestamp": stamp, "X-Signature": f"sha256={mac}"}
        if idempotency:
            headers["Idempotency-Key"] = idempotency
        return headers

    async def open(self) -> None:
        pass

    async def say(self, text: str, step: str) -> None:
        field = "payload" if text.startswith("/") else "text"
        body = json.dumps({"user_id": self.key, field: text}).encode()
        target = "/channels/app/v1/messages"
        headers = {
            **self._headers("POST", target, body, f"{self.key}-{step}"),
            "Content-Type": "application/json",
        }
        async with self.http.post(self.base_url + target, data=body, headers=headers) as answer:
            if answer.status != 201:
                raise RuntimeError(f"refused: {answer.status} {await answer.text()}")

    async def until(self, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + TURN_TIMEOUT
        while time.monotonic() < deadline:
            target = f"/channels/app/v1/conversations/{self.key}/messages?after={self.after}"
            async with self.http.get(
                self.base_url + target, headers=self._headers("GET", target, b"", "")
            ) as answer:
                page = await answer.json()
            for message in page["messages"]:
                self.after = max(self.after, message["seq"])
                if message["sender"] == "customer":
                    continue
                received.append(message)
                if wanted(message):
                    return received
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.key}: nothing wanted among {received}")

    async def close(self) -> None:
        pass

    @staticmethod
    def marker(key: str, step: str) -> str:
        """The app channel stores the idempotency key's hash first in the message id."""
        return hashlib.sha256(f"{key}-{step}".encode()).hexdigest()[:32]


class Directory:
    """Finds the conversation of a customer who asked for a person: the queue as an
    admin sees it, each new conversation's messages read once for the client message
    id the simulator gave the customer's words."""

    def __init__(self, api: AgentApi):
        self.api = api
        self.wanted: dict[str, asyncio.Future[int]] = {}
        # Each queued conversation's customer message ids, read once.
        self.markers: dict[int, list[str]] = {}

    async def conversation(self, marker: str) -> int:
        future = self.wanted.setdefault(marker, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(future), TURN_TIMEOUT)

    async def run(self) -> None:
        while True:
            if any(not f.done() for f in self.wanted.values()):
                status, body = await self.api.request("GET", "/api/v1/conversations?state=queued")
                for conversation in body.get("conversations", []) if status == 200 else []:
                    found = conversation["id"]
                    if found not in self.markers:
                        status, page = await self.api.request(
                            "GET", f"/api/v1/conversations/{found}/messages?after=0"
                        )
                        self.markers[found] = [
                            m.get("client_message_id") or "" for m in page.get("messages", [])
                        ]
                    for wanted, future in self.wanted.items():
                        if not future.done() and any(
                            m.startswith(wanted) for m in self.markers[found]
                        ):
                            future.set_result(found)
            await asyncio.sleep(0.15)


class Agent:
    """An agent with a shift: console open (online) from its start, closed after its
    end once the conversations planned for them are done."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, shift: Shift, planned: int):
        self.api = AgentApi(http, base_url)
        self.base_url, self.shift = base_url, shift
        self.planned, self.done = planned, 0
        self.all_done = asyncio.Event()
        if planned == 0:
            self.all_done.set()
        self.console = socketio.AsyncClient(reconnection=False)
        self.on_duty = asyncio.Event()

    async def sign_in(self) -> None:
        await self.api.login(self.shift.username, AGENT_PASSWORD)
        await self.console.connect(
            self.base_url,
            namespaces=["/agents"],
            auth={"token": self.api.token},
            transports=["websocket"],
        )
        self.on_duty.set()

    async def sign_out(self) -> None:
        await self.api.request("PUT", "/api/v1/me/presence", json={"presence": "offline"})
        await self.console.disconnect()

    async def serve(self, watch: Watch, directory: Directory, marker: str) -> None:
        """Take the conversation, reply after the planned wait, resolve after the
        planned handling time."""
        contact = watch.contact
        try:
            conversation = await directory.conversation(marker)
            watch.conversation_id = conversation
            await asyncio.wait_for(self.on_duty.wait(), TURN_TIMEOUT)
            await asyncio.sleep(max(0.0, watch.queued + contact.wait - time.time()))
            path = f"/api/v1/conversations/{conversation}"
            status, body = await self.api.request("POST", f"{path}/assign")
            if status != 200:
                raise RuntimeError(f"assign: {status} {body}")
            sent = time.time()
            status, body = await self.api.request(
                "POST", f"{path}/messages", json={"text": "您好，我来帮您。Hello, I can help."}
            )
            watch.reply = (sent, time.time())
            if status != 201:
                raise RuntimeError(f"reply: {status} {body}")
            await asyncio.sleep(max(0.0, watch.reply[1] + contact.handle - time.time()))
            sent = time.time()
            status, body = await self.api.request(
                "POST", f"{path}/resolve", json={"reason": contact.reason}
            )
            watch.resolve = (sent, time.time())
            if status != 200:
                raise RuntimeError(f"resolve: {status} {body}")
        except Exception as failed:  # noqa: BLE001 - recorded as the contact's surprise
            watch.surprises.append(f"agent {self.shift.username}: {failed!r}")

    def finished_one(self) -> None:
        """One of the contacts planned for the agent is over, however it went."""
        self.done += 1
        if self.done >= self.planned:
            self.all_done.set()


async def _contained(customer: WebChat | AppUser, watch: Watch) -> None:
    contact = watch.contact
    rounds = [(0.0, contact.question, contact.goodbye, contact.rating, "")]
    if contact.comes_back is not None:
        back = contact.comes_back
        rounds.append((back.after, back.question, back.goodbye, back.rating, "again-"))
    for number, (after, question, goodbye, rating, step) in enumerate(rounds):
        if number:
            # Gone, and back later: the same conversation starts again with the bot.
            await customer.close()
            await asyncio.sleep(after)
            await customer.open()
        await customer.say(question, f"{step}q")
        await customer.until(lambda m: m.get("sender") == "bot")
        await customer.say(goodbye, f"{step}g")
        await customer.until(is_rating_request)
        watch.seen_off += 1
        if rating is not None:
            await customer.say(rating_payload(rating), f"{step}r")
            await customer.until(lambda m: m.get("sender") == "system")
            watch.rated.append(rating)


async def _handed_over(
    customer: WebChat | AppUser, watch: Watch, agents: dict[str, Agent], directory: Directory
) -> None:
    contact = watch.contact
    watch.asked = time.time()
    await customer.say(contact.ask, "h")
    heard = await customer.until(lambda m: is_queue_message(m) or "/queue" in json.dumps(m))
    watch.queued = time.time()
    if not is_queue_message(heard[-1]):
        raise RuntimeError(f"not queued: {heard[-1]}")
    if contact.outcome == ABANDONED:
        await asyncio.sleep(max(0.0, watch.queued + contact.wait - time.time()))
        sent = time.time()
        await customer.say(LEAVE_QUEUE, "l")
        watch.leave = (sent, time.time())
        await customer.until(lambda m: m.get("sender") == "system")
        return
    marker = type(customer).marker(contact.key, "h")
    serving = asyncio.create_task(agents[contact.agent].serve(watch, directory, marker))
    try:
        await customer.until(lambda m: m.get("sender") == "agent")
        await customer.until(is_rating_request)
    finally:
        await serving
    if contact.rating is not None:
        await customer.say(rating_payload(contact.rating), "r")
        await customer.until(lambda m: m.get("sender") == "system")
        watch.rated.append(contact.rating)


async def _contact(
    http: aiohttp.ClientSession,
    base_url: str,
    watch: Watch,
    start: float,
    agents: dict[str, Agent],
    directory: Directory,
) -> None:
    contact = watch.contact
    await asyncio.sleep(max(0.0, start + contact.arrive - time.time()))
    customer: WebChat | AppUser = (
        WebChat(base_url, contact.key)
        if contact.channel == "web"
        else AppUser(http, base_url, contact.key)
    )
    try:
        await customer.open()
        if contact.outcome in (ANSWERED, ABANDONED):
            await _handed_over(customer, watch, agents, directory)
        else:
            await _contained(customer, watch)
    except Exception as failed:  # noqa: BLE001 - recorded as the contact's surprise
        watch.surprises.append(repr(failed))
    finally:
        await customer.close()
        if contact.outcome == ANSWERED:
            agents[contact.agent].finished_one()


async def _shift(agent: Agent, start: float) -> None:
    if agent.shift.start > 0:
        await asyncio.sleep(max(0.0, start + agent.shift.start - time.time()))
        await agent.sign_in()
    await asyncio.sleep(max(0.0, start + agent.shift.end - time.time()))
    await agent.all_done.wait()
    await agent.sign_out()


async def _create_agents(admin: AgentApi, shifts: tuple[Shift, ...]) -> None:
    for shift in shifts:
        status, body = await admin.request(
            "POST",
            "/api/v1/agents",
            json={
                "username": shift.username,
                "display_name": shift.display_name,
                "password": AGENT_PASSWORD,
                "team": "general",
                "capacity": shift.capacity,
            },
        )
        # A stack run before has them (a new prefix per run avoids it).
        if status != 201 and "username_taken" not in json.dumps(body):
            raise RuntimeError(f"creating {shift.username}: {status} {body}")


async def warm_up(rasa_url: str) -> None:
    """A few turns straight to Rasa (its REST channel: the desk never sees them), so
    that the day's first customers do not wait for its cold start."""
    async with aiohttp.ClientSession() as http:
        for text in ("等待期是多久", "再见", "转人工", "how long is the waiting period", "bye"):
            async with http.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": "warm-up", "message": text},
                timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT),
            ) as answer:
                await answer.read()


async def simulate(base_url: str, plan: DayPlan, password: str) -> GroundTruth:
    """Play the day on the stack at `base_url` (`password`: the demo logins')."""
    watches = [Watch(contact) for contact in plan.contacts]
    async with aiohttp.ClientSession() as http:
        admin = AgentApi(http, base_url)
        await admin.login("admin1", password)
        await _create_agents(admin, plan.shifts)
        agents = {
            s.username: Agent(
                http, base_url, s, sum(1 for c in plan.contacts if c.agent == s.username)
            )
            for s in plan.shifts
        }
        # The first shift is on duty before the first customer comes.
        for agent in agents.values():
            if agent.shift.start <= 0:
                await agent.sign_in()
        directory = Directory(admin)
        finding = asyncio.create_task(directory.run())
        start = time.time()
        try:
            await asyncio.gather(
                *(_contact(http, base_url, w, start, agents, directory) for w in watches),
                *(_shift(agent, start) for agent in agents.values()),
            )
        finally:
            finding.cancel()
        return GroundTruth(plan, watches, start, time.time())


async def dashboard(base_url: str, password: str, truth: GroundTruth) -> dict[str, Any]:
    """The figures for the simulated day(s), as a supervisor reads them (UTC days)."""
    first = datetime.fromtimestamp(truth.started, UTC).date()
    last = datetime.fromtimestamp(truth.finished, UTC).date()
    query = f"start={first}&end={last}&tz=UTC"
    async with aiohttp.ClientSession() as http:
        reader = AgentApi(http, base_url)
        await reader.login("supervisor1", password)
        found = {}
        for name in FIGURES:
            status, body = await reader.request("GET", f"/api/v1/analytics/{name}?{query}")
            if status != 200:
                raise RuntimeError(f"{name}: {status} {body}")
            found[name] = body
    return found


def compare(truth: GroundTruth, figures: dict[str, Any], stored: Stored | None) -> list[str]:
    """Every difference between the ground truth and the dashboard (none: proved)."""
    differences = list(truth.surprises())
    for name, expected in truth.expected().items():
        if name == "agents":
            rows = {row["username"]: row for row in figures["agents"]["agents"]}
            shown = {u: {k: rows.get(u, {}).get(k) for k in e} for u, e in expected.items()}
        else:
            shown = {k: figures[name].get(k) for k in expected}
        for key in expected:
            if shown[key] != expected[key]:
                differences.append(f"{name}.{key}: truth {expected[key]}, dashboard {shown[key]}")
    shown_times = {"asa": figures["queue"]["asa"], "aht": _team_aht(figures)}
    for name, figure in truth.bounds().items():
        for key, (low, high) in figure.items():
            value = shown_times[name][key]
            if low is None and value is None:
                continue
            if (
                value is None
                or low is None
                or high is None
                or not low - 5e-4 <= value <= high + 5e-4
            ):
                differences.append(f"{name}.{key}: {value} outside the watch's {low}..{high}")
    if stored is not None:
        differences += stored.outside(truth)
        for name, times in stored.figures().items():
            if times != shown_times[name]:
                differences.append(
                    f"{name}: stored times give {times}, dashboard {shown_times[name]}"
                )
    return differences


def _team_aht(figures: dict[str, Any]) -> dict[str, Any]:
    [general] = [t for t in figures["agents"]["teams"] if t["team"] == "general"]
    return general["aht"]


def report(truth: GroundTruth, figures: dict[str, Any]) -> str:
    """The headline figures, ground truth beside the dashboard."""
    expected = truth.expected()
    lines = [f"{'figure':34} {'ground truth':>14} {'dashboard':>14}"]
    for name, keys in (
        ("queue", ("handoffs", "answered_within_target", "service_level", "abandoned",
                   "short_abandons", "abandon_rate")),
        ("bot", ("sessions", "contained", "containment", "durable_containment")),
        ("resolution", ("resolved", "pending", "settled", "fcr")),
        ("outcome", ("rating_requests", "ratings", "response_rate", "csat", "mean_score")),
    ):  # fmt: skip
        for key in keys:
            lines.append(
                f"{name + '.' + key:34} {expected[name][key]!s:>14} {figures[name][key]!s:>14}"
            )
    bounds = truth.bounds()
    for name, shown in (("asa", figures["queue"]["asa"]), ("aht", _team_aht(figures))):
        for key, (low, high) in bounds[name].items():
            watch = f"{low:.2f}..{high:.2f}" if low is not None and high is not None else "-"
            lines.append(f"{name + '.' + key + ' (s)':34} {watch:>14} {shown[key]!s:>14}")
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    # A prefix of its own: agents and customers of an earlier run on the stack stay apart.
    plan = plan_day(args.scale, args.seed, args.minutes, prefix=f"s{uuid.uuid4().hex[:6]}-")
    print(f"{len(plan.contacts)} contacts over {plan.seconds:.0f} s, {len(plan.shifts)} agents")
    stack = None
    database_url = None
    if args.url:
        base_url, password = args.url.rstrip("/"), args.password
    else:
        workdir = Path(tempfile.mkdtemp(prefix="simulate-day-"))
        database_url = f"sqlite+aiosqlite:///{workdir / 'desk.db'}"

        await migrate_async(database_url)
        stack = await asyncio.to_thread(
            Stack.start, workdir, database_url, settings=stack_settings(plan)
        )
        base_url, password = stack.base_url, stack.password
        await warm_up(stack.rasa_url)
        print(f"stack up at {base_url} (logs in {workdir})")
    try:
        truth = await simulate(base_url, plan, password)
        figures = await dashboard(base_url, password, truth)
        stored = await stored_times(database_url, truth) if database_url else None
    finally:
        if stack is not None:
            stack.stop()
    print(f"played in {truth.finished - truth.started:.1f} s")
    print(report(truth, figures))
    differences = compare(truth, figures, stored)
    if args.out:
        Path(args.out).write_text(
            json.dumps({**truth.as_json(), "dashboard": figures}, ensure_ascii=False, indent=1)
        )
    print("\n".join(differences) if differences else "the dashboard agrees with the ground truth")
    return 1 if differences else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.01, help="share of the seed's 15,000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10, help="the compressed day's length")
    parser.add_argument("--url", help="a running stack (else one is started)")
    parser.add_argument("--password", default="demo", help="the demo logins' password")
    parser.add_argument("--out", help="write the ground truth and the figures here (JSON)")
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
