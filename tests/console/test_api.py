"""The HTTP API, pages and socket security of the console, in-process, with
Rasa unreachable (so the bot-outage handoff is exercised too)."""

from __future__ import annotations

import re

import pytest
import socketio

from tests.console_app import start_console
from web.stack import Customer


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(
        sqlite_url,
        # Agents pick from the queue themselves here, so what is queued stays put.
        auto_assign=False,
        # Around the clock, so that handoffs do not depend on when the tests run.
        service_hours="00:00-24:00",
    )
    yield client
    await client.close()


async def token(client, username="agent1", password="pw") -> str:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status == 200
    return (await response.json())["token"]


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def form_token(client) -> str:
    """The CSRF token of the login form (its cookie stays in the client's jar)."""
    page = await (await client.get("/login")).text()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def test_forms_without_their_token_are_refused(client):
    await form_token(client)
    forged = await client.post("/login", data={"username": "agent1", "password": "pw"})
    assert forged.status == 403
    wrong = await client.post(
        "/login", data={"username": "agent1", "password": "pw", "csrf": "guessed"}
    )
    assert wrong.status == 403
    assert (await client.post("/logout", data={})).status == 403


async def test_guessing_passwords_is_blocked_for_a_while(client):
    for _ in range(5):
        wrong = await client.post(
            "/api/v1/auth/login", json={"username": "agent2", "password": "guess"}
        )
        assert wrong.status == 401
    # now even the right password waits, on the API and on the sign-in page
    blocked = await client.post("/api/v1/auth/login", json={"username": "agent2", "password": "pw"})
    assert blocked.status == 429
    assert (await blocked.json())["error"]["code"] == "too_many_attempts"
    csrf = await form_token(client)
    page = await client.post("/login", data={"username": "agent2", "password": "pw", "csrf": csrf})
    assert page.status == 429 and "15 分钟后再试" in await page.text()
    # other agents are not affected
    assert await token(client, "agent1")


async def test_the_outbox_is_for_signed_in_staff(client):
    assert (await client.get("/dev/outbox", allow_redirects=False)).status == 303


async def test_login_errors_are_clear(client):
    wrong = await client.post("/api/v1/auth/login", json={"username": "agent1", "password": "no"})
    assert wrong.status == 401 and (await wrong.json())["error"]["code"] == "bad_credentials"
    nobody = await client.post("/api/v1/auth/login", json={"username": "ghost", "password": "pw"})
    assert nobody.status == 401
    malformed = await client.post("/api/v1/auth/login", data="{not json")
    assert malformed.status == 400 and (await malformed.json())["error"]["code"] == "malformed"
    missing = await client.post("/api/v1/auth/login", json={"username": "agent1"})
    assert missing.status == 400


async def test_api_needs_a_valid_token(client):
    assert (await client.get("/api/v1/conversations")).status == 401
    assert (await client.get("/api/v1/conversations", headers=bearer("forged"))).status == 401
    good = await token(client)
    listed = await client.get("/api/v1/conversations?state=queued", headers=bearer(good))
    assert listed.status == 200 and (await listed.json()) == {"conversations": []}
    bad_state = await client.get("/api/v1/conversations?state=lost", headers=bearer(good))
    assert bad_state.status == 400
    unknown = await client.get("/api/v1/conversations/999/messages", headers=bearer(good))
    assert unknown.status == 404
    assert (
        await client.post("/api/v1/conversations/abc/assign", headers=bearer(good))
    ).status == 404


async def test_bot_outage_queues_and_only_the_assigned_agent_works_it(client):
    # Signed in through the API, the agents are online, so the handoff queues.
    first, second = await token(client, "agent1"), await token(client, "agent2")
    customer = Customer(client.base)
    await customer.connect()
    await customer.say("<script>alert(1)</script> hello")
    received = await customer.until(lambda m: "queue" in m.get("text", ""), timeout=15)
    assert "agent" in received[0]["text"]
    await customer.disconnect()

    [queued] = (
        await (await client.get("/api/v1/conversations?state=queued", headers=bearer(first))).json()
    )["conversations"]
    assert queued["handoff_reason"] == "bot_unavailable"
    cid = queued["id"]
    assert (
        await client.post(f"/api/v1/conversations/{cid}/assign", headers=bearer(first))
    ).status == 200
    # agent2 is on another team: refused for that, before anything about its state is said
    taken = await client.post(f"/api/v1/conversations/{cid}/assign", headers=bearer(second))
    assert taken.status == 403 and (await taken.json())["error"]["code"] == "forbidden"
    assert (
        await client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(second))
    ).status == 403
    refused = await client.post(
        f"/api/v1/conversations/{cid}/messages", headers=bearer(second), json={"text": "hi"}
    )
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "forbidden"
    messages = await (
        await client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(first))
    ).json()
    # stored as typed; the pages render it as text, never as markup
    assert messages["messages"][0]["text"] == "<script>alert(1)</script> hello"
    empty = await client.post(
        f"/api/v1/conversations/{cid}/messages", headers=bearer(first), json={"text": "  "}
    )
    assert empty.status == 400
    # Resolved, the agent is wrapping it up until they say they are done (once).
    resolved = await client.post(
        f"/api/v1/conversations/{cid}/resolve", headers=bearer(first), json={"reason": "answered"}
    )
    assert resolved.status == 200
    done = await client.post(f"/api/v1/conversations/{cid}/wrap-up", headers=bearer(first))
    body = await done.json()
    assert done.status == 200 and (body["conversation_id"], body["auto"]) == (cid, False)
    assert 0 <= body["seconds"] < 60
    again = await client.post(f"/api/v1/conversations/{cid}/wrap-up", headers=bearer(first))
    assert again.status == 409 and (await again.json())["error"]["code"] == "no_wrap_up"


async def test_pages_send_a_content_security_policy_and_sign_in_with_a_strict_cookie(client):
    chat = await client.get("/")
    assert "script-src 'self'" in chat.headers["Content-Security-Policy"]
    assert (await client.get("/console", allow_redirects=False)).status == 303
    csrf = await form_token(client)
    bad = await client.post("/login", data={"username": "agent1", "password": "x", "csrf": csrf})
    assert bad.status == 401
    good = await client.post(
        "/login",
        data={"username": "agent1", "password": "pw", "csrf": csrf},
        allow_redirects=False,
    )
    assert good.status == 303
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = await client.get("/console")
    assert page.status == 200 and "王芳" in await page.text()
    outbox = await client.get("/dev/outbox")
    assert outbox.status == 200 and "SMS outbox" in await outbox.text()


async def test_socket_origins_and_agent_authentication(client):
    agent = await token(client)

    async def connects(namespace, origin=None, auth=None) -> bool:
        sio = socketio.AsyncClient(reconnection=False)
        headers = {"Origin": origin} if origin else {}
        try:
            await sio.connect(
                client.base,
                namespaces=[namespace],
                auth=auth,
                headers=headers,
                transports=["websocket"],
                wait_timeout=5,
            )
        except socketio.exceptions.ConnectionError:
            return False
        # `connect` returns once the server has taken (or refused) the namespace.
        ok = sio.connected and namespace in sio.namespaces
        await sio.disconnect()
        return ok

    assert await connects("/agents", client.base, {"token": agent})
    assert not await connects("/agents", "http://evil.example", {"token": agent})
    assert not await connects("/agents", "http://localhost:3000", {"token": agent})
    assert not await connects("/agents", client.base, {"token": "forged"})
    assert not await connects("/agents", client.base)
    # demo mode lets a widget on any localhost port in, nothing else
    assert await connects("/", "http://localhost:3000")
    assert not await connects("/", "http://evil.example")


HUGE = "99999999999999999999"
OUT_OF_RANGE = [
    ("GET", f"/api/v1/conversations/{HUGE}", None),
    ("GET", f"/api/v1/conversations/{HUGE}/messages", None),
    ("GET", f"/api/v1/conversations/{HUGE}/notes", None),
    ("POST", f"/api/v1/conversations/{HUGE}/assign", None),
    ("POST", f"/api/v1/conversations/{HUGE}/messages", {"text": "hi"}),
    ("POST", f"/api/v1/conversations/{HUGE}/resolve", {"reason": "answered"}),
    ("POST", f"/api/v1/conversations/{HUGE}/wrap-up", None),
    ("POST", f"/api/v1/conversations/{HUGE}/transfer", {"team": "claims", "note": "n"}),
    ("PUT", f"/api/v1/conversations/{HUGE}/labels", {"labels": []}),
    ("GET", f"/api/v1/customers/{HUGE}", None),
    ("POST", f"/api/v1/callbacks/{HUGE}/attempts", {"outcome": "reached"}),
    ("PATCH", f"/api/v1/follow-ups/{HUGE}", {"status": "done"}),
    ("PATCH", f"/api/v1/complaints/{HUGE}", {"status": "done"}),
    ("PATCH", f"/api/v1/agents/{HUGE}", {"capacity": 2}),
    ("DELETE", f"/api/v1/canned/{HUGE}", None),
    ("GET", f"/api/v1/documents/{HUGE}", None),
    ("POST", "/api/v1/conversations/1/transfer", {"agent_id": int(HUGE), "note": "n"}),
    ("POST", "/api/v1/callbacks", {"conversation_id": int(HUGE), "phone": "13800000000"}),
]


async def test_ids_no_row_can_have_answer_4xx_not_500(database_url):
    """On PostgreSQL such a number does not even fit the column: it must be refused
    before it reaches the store."""
    client = await start_console(database_url, auto_assign=False)
    try:
        admin = await token(client, "admin1")
        answers = {}
        for method, path, body in OUT_OF_RANGE:
            response = await client.request(method, path, json=body, headers=bearer(admin))
            answers[(method, path)] = (response.status, frozenset((await response.json())["error"]))
    finally:
        await client.close()
    assert {key: status for key, (status, _) in answers.items() if not 400 <= status < 500} == {}
    assert {fields for _, fields in answers.values()} == {frozenset({"code", "message"})}
