"""Every staff door, tried as every role: each HTTP route and socket event of the
console, called by the agent who handles the case, a colleague of the same team, an
agent of another team, a supervisor, an admin, a trainer and an anonymous caller,
against the answer the README documents.

Each call gets fresh records of its own (a conversation assigned to the owner, a
queued one, a resolved one, a callback, a follow-up, a complaint, a document, ...),
so one role's change never decides another's answer and the cells pass in any order."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import ClientSession
from sqlalchemy import select

from console.keys import tokens_key
from console.pages import CSRF_COOKIE
from desk.sign_in import COOKIE, hash_password
from store.db import create_engine, migrate_async, session_factory
from store.models import (
    Agent,
    AgentRole,
    Callback,
    CannedResponse,
    Complaint,
    Conversation,
    ConversationState,
    Customer,
    Document,
    FollowUp,
)
from tests.channels.fake_providers import FakeTelegram
from tests.console_app import start_console

ROLES = ("owner", "colleague", "other_team", "supervisor", "admin", "trainer", "anonymous")
STAFF = {
    "owner": "agent1",
    "colleague": "colleague1",
    "other_team": "agent2",
    "supervisor": "supervisor1",
    "admin": "admin1",
    "trainer": "trainer1",
}
CSRF = "matrix-csrf"
serial = itertools.count(1)


def only(allowed: Any, refused: Any, *roles: str, anonymous: Any = 401) -> dict[str, Any]:
    """`allowed` for `roles`, `refused` for the other signed-in roles."""
    answers = {role: (allowed if role in roles else refused) for role in ROLES}
    answers["anonymous"] = anonymous
    return answers


CASE_HANDLERS = ("owner", "supervisor", "admin")
CASEWORKERS = ("owner", "colleague", "other_team", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")
EVERYONE = (*CASEWORKERS, "trainer")


# ---- the records each call acts on ------------------------------------------------------


@dataclass
class Records:
    """Ids of fresh records, and unique names for what a call creates."""

    conversation: int  # assigned to the owner, team general, with a known customer
    queued: int  # waiting in the general team's queue
    resolved: int  # the owner resolved it
    customer: int
    callback: int
    follow_up: int
    complaint: int
    document: int
    canned: int
    canned_shortcut: str
    agent: int  # a plain agent an admin may edit
    telegram_user: str  # the owner's Telegram conversation, holding FILE_ID
    unique: str

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


FILE_ID = "AgACAgIAAxk-matrix"


def letters(n: int) -> str:
    """A unique lowercase word (team codes and usernames allow no digits)."""
    word = ""
    while True:
        n, r = divmod(n, 26)
        word += chr(97 + r)
        if n == 0:
            return word


async def make_records(sessions, staff: dict[str, Agent], upload_dir: Path) -> Records:
    n = next(serial)
    owner = staff["owner"]
    soon = datetime.now(UTC) + timedelta(days=2)
    async with sessions.begin() as session:
        customer, stranger = (
            Customer(
                name=name,
                id_card_number=f"11010119{n:08d}{k:02d}",
                mobile=f"13{k}{n:08d}",
                birth_date=date(1980, 1, 1),
                gender="M",
                province="河北",
                city="保定",
                city_tier=3,
                has_social_insurance=False,
                tags=[],
            )
            for k, name in ((8, "张伟"), (9, "李娜"))
        )
        session.add_all([customer, stranger])
        await session.flush()

        def conversation(
            state, agent_id=None, channel="web", external=None, whose=customer
        ) -> Conversation:
            return Conversation(
                channel=channel,
                external_user_id=external or f"matrix-{n}-{state.value}",
                customer_id=whose.id,
                state=state,
                team="general",
                assigned_agent_id=agent_id,
                queued_at=datetime.now(UTC),
            )

        mine = conversation(ConversationState.ASSIGNED, owner.id)
        # Another customer's: a customer waiting in a team's queue may be seen by the team.
        queued = conversation(ConversationState.QUEUED, whose=stranger)
        resolved = conversation(ConversationState.RESOLVED, owner.id)
        telegram = conversation(ConversationState.ASSIGNED, owner.id, "telegram", str(900000 + n))
        spare = Agent(
            username=f"spare_{letters(n)}",
            display_name="Spare",
            password_hash=staff["owner"].password_hash,
            role=AgentRole.AGENT,
            team="general",
        )
        session.add_all([mine, queued, resolved, telegram, spare])
        await session.flush()
        complaint = Complaint(
            number=f"TS{n:012d}",
            customer_id=customer.id,
            conversation_id=mine.id,
            category="service",
            description="客服态度差",
            owner_agent_id=owner.id,
            due_at=soon,
            history=[],
        )
        session.add(complaint)
        await session.flush()
        callback = Callback(
            customer_id=customer.id,
            conversation_id=mine.id,
            phone=customer.mobile,
            window_start=soon,
            window_end=soon + timedelta(hours=1),
            reason="回电说明理赔进度",
            assigned_agent_id=owner.id,
            created_by_agent_id=owner.id,
        )
        follow_up = FollowUp(
            kind="conversation",
            title="补充材料",
            customer_id=customer.id,
            conversation_id=mine.id,
            team="general",
            assignee_agent_id=owner.id,
            due_at=soon,
        )
        stored = upload_dir / f"matrix-{n}.pdf"
        stored.write_bytes(b"%PDF-1.4 matrix")
        document = Document(
            conversation_id=mine.id,
            customer_id=customer.id,
            channel="web",
            name="invoice.pdf",
            mime="application/pdf",
            size=15,
            sha256="0" * 64,
            path=stored.name,
        )
        canned = CannedResponse(shortcut=f"m{n}", language="zh", text="您好")
        session.add_all([callback, follow_up, document, canned])
        await session.flush()
        return Records(
            conversation=mine.id,
            queued=queued.id,
            resolved=resolved.id,
            customer=customer.id,
            callback=callback.id,
            follow_up=follow_up.id,
            complaint=complaint.id,
            document=document.id,
            canned=canned.id,
            canned_shortcut=canned.shortcut,
            agent=spare.id,
            telegram_user=telegram.external_user_id,
            unique=letters(n),
        )


# ---- the doors ---------------------------------------------------------------------------


def later(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(days=1, hours=hours)).isoformat()


@dataclass(frozen=True)
class Door:
    """One route: `path` is formatted with the call's `Records`; `body` is JSON (API)
    and `form` a posted page form; `listed` is (list key, record) for a list whose
    answer says whether the record is in it ("seen" or "unseen")."""

    method: str
    path: str
    expect: dict[str, Any]
    body: Callable[[Records], dict[str, Any]] | None = None
    form: Callable[[Records], dict[str, Any]] | None = None
    listed: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def callback_body(r: Records) -> dict[str, Any]:
    return {
        "conversation_id": r.conversation,
        "window_start": later(0),
        "window_end": later(1),
        "reason": "客户要求回电",
    }


def follow_up_body(r: Records) -> dict[str, Any]:
    return {"title": "核对发票", "due_at": later(2), "conversation_id": r.conversation}


CONVERSATION = "/api/v1/conversations/{conversation}"
LOGIN = "login"

API_DOORS = [
    # Conversations: who may see them, who may act on them.
    Door(
        "GET",
        "/api/v1/conversations?state=assigned",
        {**only("seen", "unseen", *CASE_HANDLERS), "trainer": 403},
        listed=("conversations", "conversation"),
    ),
    Door(
        "GET",
        "/api/v1/conversations?state=queued",
        {**only("seen", "unseen", "owner", "colleague", *MANAGERS), "trainer": 403},
        listed=("conversations", "queued"),
    ),
    Door("GET", CONVERSATION, only(200, 403, *CASE_HANDLERS)),
    Door("GET", "/api/v1/conversations/{queued}", only(200, 403, "owner", "colleague", *MANAGERS)),
    Door("GET", CONVERSATION + "/messages", only(200, 403, *CASE_HANDLERS)),
    Door("GET", CONVERSATION + "/notes", only(200, 403, *CASE_HANDLERS)),
    Door(
        "POST",
        "/api/v1/conversations/{queued}/assign",
        only(200, 403, "owner", "colleague", *MANAGERS),
        body=lambda r: {},
    ),
    Door(
        "POST",
        CONVERSATION + "/assign",
        {**only(200, 403, *CASE_HANDLERS), "colleague": 409},
        body=lambda r: {},
    ),
    Door(
        "POST",
        CONVERSATION + "/messages",
        {**only(201, 403, "owner"), "supervisor": 409, "admin": 409},
        body=lambda r: {"text": "您好"},
    ),
    Door(
        "POST",
        CONVERSATION + "/resolve",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"reason": "answered"},
    ),
    Door(
        "POST",
        "/api/v1/conversations/{resolved}/resolve",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"reason": "answered"},
    ),
    Door(
        "POST",
        CONVERSATION + "/transfer",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"team": "claims", "note": "理赔问题"},
    ),
    Door(
        "POST",
        CONVERSATION + "/notes",
        only(201, 403, *CASE_HANDLERS),
        body=lambda r: {"text": "已核实身份"},
    ),
    Door(
        "PUT",
        CONVERSATION + "/labels",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"labels": ["vip"]},
    ),
    Door("GET", "/api/v1/documents/{document}", only(200, 403, *CASE_HANDLERS)),
    # The Telegram file proxy says "no such file" to whoever may not see it.
    Door(
        "GET",
        "/channels/telegram/files/{telegram_user}/" + FILE_ID,
        only(200, 404, *CASE_HANDLERS),
    ),
    # The agent's own settings.
    Door(
        "PUT",
        "/api/v1/me/presence",
        only(200, 403, *CASEWORKERS),
        body=lambda r: {"presence": "away"},
    ),
    Door(
        "PUT", "/api/v1/me/language", only(200, 403, *EVERYONE), body=lambda r: {"language": "en"}
    ),
    # People.
    Door("GET", "/api/v1/agents", only(200, 403, *EVERYONE)),
    Door(
        "POST",
        "/api/v1/agents",
        only(201, 403, "admin"),
        body=lambda r: {
            "username": f"new_{r.unique}",
            "display_name": "New",
            "password": "a long password",
        },
    ),
    Door(
        "PATCH",
        "/api/v1/agents/{agent}",
        only(200, 403, "admin"),
        body=lambda r: {"capacity": 4},
    ),
    Door("GET", "/api/v1/teams", only(200, 403, *EVERYONE)),
    Door(
        "POST",
        "/api/v1/teams",
        only(201, 403, "admin"),
        body=lambda r: {"code": f"team_{r.unique}", "name_zh": "新组", "name_en": "New"},
    ),
    Door("GET", "/api/v1/canned", only(200, 403, *CASEWORKERS)),
    Door(
        "POST",
        "/api/v1/canned",
        only(201, 403, *MANAGERS),
        body=lambda r: {"shortcut": f"c_{r.unique}", "language": "en", "text": "Hello"},
    ),
    Door("DELETE", "/api/v1/canned/{canned}", only(200, 403, *MANAGERS)),
    # Casework.
    Door("GET", "/api/v1/customers/{customer}", only(200, 403, *CASE_HANDLERS)),
    Door(
        "GET",
        "/api/v1/callbacks?scope=all",
        {**only("seen", "unseen", *CASE_HANDLERS), "trainer": 403},
        listed=("callbacks", "callback"),
    ),
    Door("POST", "/api/v1/callbacks", only(201, 403, *CASE_HANDLERS), body=callback_body),
    Door(
        "POST",
        "/api/v1/callbacks/{callback}/attempts",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"outcome": "no_answer", "note": "无人接听"},
    ),
    Door(
        "GET",
        "/api/v1/follow-ups",
        {**only("seen", "unseen", "owner", "colleague", *MANAGERS), "trainer": 403},
        listed=("follow_ups", "follow_up"),
    ),
    Door("POST", "/api/v1/follow-ups", only(201, 403, *CASE_HANDLERS), body=follow_up_body),
    Door(
        "PATCH",
        "/api/v1/follow-ups/{follow_up}",
        only(200, 403, "owner", "colleague", *MANAGERS),
        body=lambda r: {"note": "已联系"},
    ),
    Door(
        "GET",
        "/api/v1/complaints",
        {**only("seen", "unseen", *CASE_HANDLERS), "trainer": 403},
        listed=("complaints", "complaint"),
    ),
    Door(
        "PATCH",
        "/api/v1/complaints/{complaint}",
        only(200, 403, *CASE_HANDLERS),
        body=lambda r: {"status": "in_progress"},
    ),
]

# Pages answer 200, a 403 page, a redirect to the login, or a form's redirect back
# saying "saved" or "refused:<code>".
PAGE_DOORS = [
    Door("GET", "/console", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/dev/outbox", only(200, 403, *EVERYONE, anonymous=LOGIN)),
    Door("GET", "/admin", only(200, 403, "admin", anonymous=LOGIN)),
    Door(
        "POST",
        "/admin/agents",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {
            "username": f"form_{r.unique}",
            "display_name": "Form",
            "password": "a long password",
            "role": "agent",
            "team": "general",
            "capacity": "3",
        },
    ),
    Door(
        "POST",
        "/admin/agents/{agent}",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {
            "display_name": "Spare",
            "role": "agent",
            "team": "general",
            "capacity": "5",
            "active": "on",
        },
    ),
    Door(
        "POST",
        "/admin/agents/{agent}/password",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {"password": "another long password"},
    ),
    Door(
        "POST",
        "/admin/teams",
        only("saved", 403, "admin", anonymous=LOGIN),
        form=lambda r: {"code": f"form_{r.unique}", "name_zh": "表单组", "name_en": "Form"},
    ),
    Door("GET", "/admin/canned", only(200, 403, *MANAGERS, anonymous=LOGIN)),
    Door(
        "POST",
        "/admin/canned",
        only("saved", 403, *MANAGERS, anonymous=LOGIN),
        form=lambda r: {"shortcut": f"f_{r.unique}", "language": "zh", "text": "您好"},
    ),
    Door(
        "POST",
        "/admin/canned/{canned}/delete",
        only("saved", 403, *MANAGERS, anonymous=LOGIN),
        form=lambda r: {},
    ),
    Door(
        "POST",
        "/me/language",
        only("back", 403, *EVERYONE, anonymous=LOGIN),
        form=lambda r: {"language": "en", "next": "/console"},
    ),
    Door("GET", "/console/callbacks", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/console/follow-ups", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door("GET", "/console/complaints", only(200, 403, *CASEWORKERS, anonymous=LOGIN)),
    Door(
        "POST",
        "/console/callbacks",
        {**only("saved", "refused:forbidden", *CASE_HANDLERS, anonymous=LOGIN), "trainer": 403},
        form=callback_body,
    ),
    Door(
        "POST",
        "/console/callbacks/{callback}/attempts",
        {**only("saved", "refused:forbidden", *CASE_HANDLERS, anonymous=LOGIN), "trainer": 403},
        form=lambda r: {"outcome": "no_answer"},
    ),
    Door(
        "POST",
        "/console/follow-ups/{follow_up}",
        {
            **only("saved", "refused:forbidden", "owner", "colleague", *MANAGERS, anonymous=LOGIN),
            "trainer": 403,
        },
        form=lambda r: {"note": "已联系"},
    ),
    Door(
        "POST",
        "/console/complaints/{complaint}",
        {**only("saved", "refused:forbidden", *CASE_HANDLERS, anonymous=LOGIN), "trainer": 403},
        form=lambda r: {"status": "in_progress"},
    ),
]


# ---- socket events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A socket event on `target`'s conversation; `expect` is "ok" or the refusal code."""

    name: str
    expect: dict[str, str]
    target: str = "conversation"
    data: dict[str, Any] = field(default_factory=dict)


def refused_unless(*roles: str, code: str = "forbidden", **special: str) -> dict[str, str]:
    answers = {role: ("ok" if role in roles else code) for role in CASEWORKERS}
    return {**answers, **special}


EVENTS = [
    Event("watch", refused_unless(*CASE_HANDLERS)),
    Event("accept", refused_unless("owner", "colleague", *MANAGERS), target="queued"),
    Event("accept", refused_unless(*CASE_HANDLERS, colleague="already_assigned")),
    Event(
        "send",
        refused_unless("owner", supervisor="not_assigned", admin="not_assigned"),
        data={"text": "您好"},
    ),
    Event("note", refused_unless(*CASE_HANDLERS), data={"text": "已核实"}),
    Event("labels", refused_unless(*CASE_HANDLERS), data={"labels": ["vip"]}),
    Event("transfer", refused_unless(*CASE_HANDLERS), data={"team": "claims", "note": "理赔问题"}),
    Event("resolve", refused_unless(*CASE_HANDLERS), data={"reason": "answered"}),
    Event(
        "resolve", refused_unless(*CASE_HANDLERS), target="resolved", data={"reason": "answered"}
    ),
    Event("canned", refused_unless(*CASE_HANDLERS), data={"shortcut": "{canned_shortcut}"}),
    # Acknowledgements and typing by someone not handling it change nothing; they are
    # answered alike so that they tell nothing either.
    Event("ack", refused_unless(*CASEWORKERS), data={"seq": 1}),
    Event("typing", refused_unless(*CASEWORKERS), data={"typing": True}),
]


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

    async def records(self) -> Records:
        return await make_records(self.sessions, self.staff, self.upload_dir)


@pytest.fixture(scope="module")
async def matrix(tmp_path_factory) -> AsyncIterator[Matrix]:
    workdir = tmp_path_factory.mktemp("matrix")
    url = f"sqlite+aiosqlite:///{workdir / 'desk.db'}"
    await migrate_async(url)
    telegram = await FakeTelegram().start()
    telegram.files[FILE_ID] = b"\x89PNG matrix"
    upload_dir = workdir / "uploads"
    upload_dir.mkdir()
    client = await start_console(
        url,
        housekeeping=False,
        auto_assign=False,
        service_hours="00:00-24:00",
        upload_dir=str(upload_dir),
        telegram_bot_token=telegram.token,
        telegram_webhook_secret="matrix-secret",
        telegram_api_base_url=telegram.base,
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
                    password_hash=hash_password("pw"),
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
    sockets = {}
    for role in CASEWORKERS:
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(
            client.base,
            namespaces=["/agents"],
            auth={"token": tokens[role]},
            headers={"Origin": client.base},
            transports=["websocket"],
        )
        sockets[role] = sio
    http = ClientSession()
    yield Matrix(client, sessions, staff, tokens, sockets, upload_dir, http)
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
    cookies = f"{CSRF_COOKIE}={CSRF}"
    if role != "anonymous":
        cookies += f"; {COOKIE}={matrix.tokens[role]}"
    url = matrix.client.base + door.path.format_map(records)
    form = {**door.form(records), "csrf": CSRF} if door.form else None
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


@pytest.mark.parametrize("door", API_DOORS, ids=lambda d: d.name)
async def test_every_api_route_as_every_role(matrix, door):
    answers = {}
    for role in ROLES:
        answers[role] = await api_outcome(matrix, door, role, await matrix.records())
    assert answers == door.expect


@pytest.mark.parametrize("door", PAGE_DOORS, ids=lambda d: d.name)
async def test_every_page_as_every_role(matrix, door):
    answers = {}
    for role in ROLES:
        answers[role] = await page_outcome(matrix, door, role, await matrix.records())
    assert answers == door.expect


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{e.name} {e.target}")
async def test_every_socket_event_as_every_role(matrix, event):
    answers = {}
    for role in CASEWORKERS:
        records = await matrix.records()
        data = {
            key: value.format_map(records) if isinstance(value, str) else value
            for key, value in event.data.items()
        }
        reply = await matrix.sockets[role].call(
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
