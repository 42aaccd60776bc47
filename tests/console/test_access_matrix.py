"""Every staff door, tried as every role: each HTTP route and socket event of the
console, called by the agent who handles the case, a colleague of the same team, an
agent of another team, a supervisor, an admin, a trainer and an anonymous caller,
against the answer the README documents.

Each call gets fresh records of its own (a conversation assigned to the owner, a
queued one, a resolved one, a callback, a follow-up, a complaint, a document, ...),
so one role's change never decides another's answer and the cells pass in any order."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import ClientSession
from sqlalchemy import select

from console.keys import tokens_key
from console.pages import CSRF_COOKIE
from desk.sign_in import COOKIE
from desk.training.project import Project
from store.db import create_engine, session_factory
from store.models import Agent, AgentRole
from tests.channels.fake_providers import FakeTelegram
from tests.console.access_doors import (
    API_DOORS,
    CASEWORKERS,
    CSRF,
    EVENTS,
    LOGIN,
    MODEL_PATHS,
    PAGE_DOORS,
    ROLES,
    STAFF,
    TRAINERS,
    TRAINING_PATHS,
    Door,
)
from tests.console.access_records import FILE_ID, Records, make_records
from tests.console_app import start_console
from tests.desk.training_project import copy_project
from tests.passwords import password_hash

# ---- the world and the calls ------------------------------------------------------------


@dataclass
class Matrix:
    client: Any
    sessions: Any
    staff: dict[str, Agent]
    tokens: dict[str, str]
    sockets: dict[str, socketio.AsyncClient]
    upload_dir: Path
    http: ClientSession
    project: Project

    async def socket(self, role: str) -> socketio.AsyncClient:
        """The role's console socket; opened again if the server dropped it (on a
        loaded machine a long module can outlast engine.io's ping timeout)."""
        sio = self.sockets[role]
        if "/agents" not in sio.namespaces:
            await sio.disconnect()
            sio = self.sockets[role] = await agents_socket(self.client.base, self.tokens[role])
        return sio

    async def records(self, door: Door | None = None) -> Records:
        spare = door is not None and "{agent}" in door.path
        training = door is not None and any(part in door.path for part in TRAINING_PATHS)
        project = self.project if training else None
        models = door is not None and any(part in door.path for part in MODEL_PATHS)
        return await make_records(
            self.sessions, self.staff, self.upload_dir, spare, project, models
        )


async def agents_socket(base: str, token: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        base,
        namespaces=["/agents"],
        auth={"token": token},
        headers={"Origin": base},
        transports=["websocket"],
    )
    return sio


@pytest.fixture(scope="module")
async def matrix(tmp_path_factory, migrated_sqlite) -> AsyncIterator[Matrix]:
    workdir = tmp_path_factory.mktemp("matrix")
    shutil.copyfile(migrated_sqlite, workdir / "desk.db")
    url = f"sqlite+aiosqlite:///{workdir / 'desk.db'}"
    telegram = await FakeTelegram().start()
    telegram.files[FILE_ID] = b"\x89PNG matrix"
    upload_dir = workdir / "uploads"
    upload_dir.mkdir()
    project = copy_project(workdir / "project")
    client = await start_console(
        url,
        housekeeping=False,
        auto_assign=False,
        service_hours="00:00-24:00",
        upload_dir=str(upload_dir),
        telegram_bot_token=telegram.token,
        telegram_webhook_secret="matrix-secret",
        telegram_api_base_url=telegram.base,
        training_project_dir=str(project.root),
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    staff: dict[str, Agent] = {}
    async with sessions.begin() as session:
        for role, username in STAFF.items():
            agent = await session.scalar(select(Agent).where(Agent.username == username))
            if agent is None:
                agent = Agent(
                    username=username,
                    display_name=f"{username} 同事",
                    password_hash=password_hash("pw"),
                    role=AgentRole.AGENT,
                    team="general",
                    capacity=50,
                )
                session.add(agent)
                await session.flush()
            agent.capacity = 50
            staff[role] = agent
    issue = client.app[tokens_key].issue
    tokens = {role: issue(agent) for role, agent in staff.items()}
    sockets = {role: await agents_socket(client.base, tokens[role]) for role in CASEWORKERS}
    http = ClientSession()
    yield Matrix(client, sessions, staff, tokens, sockets, upload_dir, http, project)
    await http.close()
    for sio in sockets.values():
        await sio.disconnect()
    await client.close()
    await engine.dispose()
    await telegram.close()


async def api_outcome(matrix: Matrix, door: Door, role: str, records: Records) -> Any:
    headers = {}
    if role != "anonymous":
        headers["Authorization"] = f"Bearer {matrix.tokens[role]}"
    url = matrix.client.base + door.path.format_map(records)
    body = door.body(records) if door.body else None
    async with matrix.http.request(door.method, url, json=body, headers=headers) as response:
        if door.listed is None or response.status != 200:
            return response.status
        key, record = door.listed
        ids = [row["id"] for row in (await response.json())[key]]
        return "seen" if records[record] in ids else "unseen"


async def page_outcome(matrix: Matrix, door: Door, role: str, records: Records) -> Any:
    cookies, csrf = f"{CSRF_COOKIE}={CSRF}", CSRF
    if role != "anonymous":
        cookies += f"; {COOKIE}={matrix.tokens[role]}"
        csrf = matrix.client.app[tokens_key].csrf_for(matrix.tokens[role])
    url = matrix.client.base + door.path.format_map(records)
    form = {**door.form(records), "csrf": csrf} if door.form else None
    async with matrix.http.request(
        door.method, url, data=form, headers={"Cookie": cookies}, allow_redirects=False
    ) as response:
        if response.status != 303:
            return response.status
        location = response.headers["Location"]
        if location.startswith("/login"):
            return LOGIN
        if "error=" in location:
            return "refused:" + location.split("error=", 1)[1]
        if "saved=1" in location:
            return "saved"
        return "back"


async def answers(matrix: Matrix, door: Door, outcome) -> dict[str, Any]:
    """What each role gets at the door, each with fresh records."""
    return {role: await outcome(matrix, door, role, await matrix.records(door)) for role in ROLES}


@pytest.mark.parametrize("door", API_DOORS, ids=lambda d: d.name)
async def test_every_api_route_as_every_role(matrix, door):
    assert await answers(matrix, door, api_outcome) == door.expect


@pytest.mark.parametrize("door", PAGE_DOORS, ids=lambda d: d.name)
async def test_every_page_as_every_role(matrix, door):
    assert await answers(matrix, door, page_outcome) == door.expect


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.name} {e.target}")
async def test_every_socket_event_as_every_role(matrix, event):
    answers = {}
    for role in CASEWORKERS:
        records = await matrix.records()
        data = {
            key: value.format_map(records) if isinstance(value, str) else value
            for key, value in event.data.items()
        }
        reply = await (await matrix.socket(role)).call(
            event.name,
            {"conversation_id": records[event.target], **data},
            namespace="/agents",
            timeout=10,
        )
        answers[role] = "ok" if reply["ok"] else reply["error"]["code"]
    assert answers == event.expect


@pytest.mark.parametrize("role", ["trainer", "anonymous"])
async def test_trainers_and_strangers_cannot_open_the_agents_socket(matrix, role):
    sio = socketio.AsyncClient(reconnection=False)
    auth = {"token": matrix.tokens[role]} if role != "anonymous" else {}
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            matrix.client.base,
            namespaces=["/agents"],
            auth=auth,
            headers={"Origin": matrix.client.base},
            transports=["websocket"],
        )


# Doors open to everyone by design: the customers' side, signing in and out, health, the
# console's own assets, and the socket.io transport (each namespace checks its callers).
PUBLIC = {
    ("GET", "/"),
    ("GET", "/widget"),
    ("GET", "/widget.js"),
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/me/language"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("PUT", "/api/v1/me/language"),
    ("PUT", "/api/v1/me/presence"),
    ("GET", "/static/{name}"),
    ("GET", "/static/vendor/{name}"),
    ("GET", "/socket.io/"),
    ("POST", "/socket.io/"),
    ("GET", "/channels/web/claims"),
    ("POST", "/channels/web/uploads"),
}


def _door_matches(door: Door, pattern: Any, path: str | None) -> bool:
    concrete = door.path.format_map(_AnyRecord()).split("?", 1)[0]
    return concrete == path if path is not None else bool(pattern.fullmatch(concrete))


class _AnyRecord(dict):
    def __missing__(self, key: str) -> str:
        return "1"


async def test_every_staff_route_is_a_door_of_the_matrix(matrix):
    """A route added without its row in the matrix fails here, so no door goes untried."""
    untried = []
    for resource in matrix.client.app.router.resources():
        info = resource.get_info()
        path, pattern = info.get("path"), info.get("pattern")
        shown = path or info.get("formatter") or info.get("prefix")
        for route in resource:
            if route.method in ("HEAD", "OPTIONS") or (route.method, shown) in PUBLIC:
                continue
            if shown.startswith("/channels/") and "/files/" not in shown:
                continue  # providers' webhooks: each checks its provider's signature
            doors = [d for d in (*API_DOORS, *PAGE_DOORS) if d.method == route.method]
            if not any(_door_matches(door, pattern, path) for door in doors):
                untried.append(f"{route.method} {shown}")
    assert untried == []


@pytest.mark.parametrize("role", ROLES)
async def test_only_trainers_and_admins_follow_trainings_live(matrix, role):
    """The trainers' namespace: connecting, and its one event (`job`), as every role."""
    sio = socketio.AsyncClient(reconnection=False)
    auth = {"token": matrix.tokens[role]} if role != "anonymous" else {}
    try:
        await sio.connect(
            matrix.client.base,
            namespaces=["/trainers"],
            auth=auth,
            headers={"Origin": matrix.client.base},
            transports=["websocket"],
        )
    except socketio.exceptions.ConnectionError:
        outcome = "refused"
    else:
        reply = await sio.call("job", {}, namespace="/trainers", timeout=10)
        outcome = "ok" if reply["ok"] and "job" in reply else reply["error"]["code"]
        await sio.disconnect()
    assert outcome == ("ok" if role in TRAINERS else "refused")


# Customers' tags in the agents' lists (`tags`): each role gets them only for the
# conversations it may view (`may_view`: one's own, whatever their state, and one's
# team's queue); the others are left out of the answer, as if unknown.
TAGS_SEEN = {
    "owner": {"conversation", "queued", "resolved"},
    "colleague": {"queued"},
    "other_team": set(),
    "supervisor": {"conversation", "queued", "resolved"},
    "admin": {"conversation", "queued", "resolved"},
}


async def test_customer_tags_as_every_role(matrix):
    seen = {}
    for role in CASEWORKERS:
        records = await matrix.records()
        asked = {name: records[name] for name in ("conversation", "queued", "resolved")}
        reply = await (await matrix.socket(role)).call(
            "tags", {"conversation_ids": list(asked.values())}, namespace="/agents", timeout=10
        )
        assert reply["ok"], reply
        seen[role] = {name for name, asked_id in asked.items() if str(asked_id) in reply["tags"]}
    assert seen == TAGS_SEEN
