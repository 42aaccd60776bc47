"""People and languages: the admin pages and API for agents, teams and canned
responses, role checks, and each agent's interface language; in-process."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from yarl import URL

from console.admin import local_path
from console.keys import sessions_key
from console.pages import require_role
from desk.canned import unknown_variables
from store.models import Agent, AgentRole, Event
from tests.console_app import start_console


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(sqlite_url)
    yield client
    await client.close()


async def token(client, username: str, password: str = "pw") -> str:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status == 200, await response.text()
    return (await response.json())["token"]


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def sign_in(client, username: str, password: str = "pw") -> str:
    """Sign in through the login form (the session cookie stays in the client's
    jar) and return the CSRF token for the next forms."""
    csrf = csrf_of(await (await client.get("/login")).text())
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf},
        allow_redirects=False,
    )
    assert response.status == 303
    # Signed in, the forms carry a token derived from the session: read it off a page.
    return csrf_of(await (await client.get("/login")).text())


async def post_form(client, path: str, data: dict) -> str:
    """Post a form and return where it sends the browser."""
    response = await client.post(path, data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def stored_agent(client, username: str) -> Agent:
    async with client.server.app[sessions_key]() as session:
        return await session.scalar(select(Agent).where(Agent.username == username))


NEW_AGENT = {
    "username": "agent9",
    "display_name": "周敏 Zhou Min",
    "role": "agent",
    "team": "claims",
    "capacity": 4,
    "password": "correct horse",
}


async def test_only_admins_reach_the_admin_page_and_manage_agents(client):
    assert (await client.get("/admin", allow_redirects=False)).status == 303
    for username in ("agent1", "supervisor1", "trainer1"):
        await sign_in(client, username)
        refused = await client.get("/admin")
        assert refused.status == 403
        assert "此页面仅供管理员使用" in await refused.text()
    # a trainer is told why conversations and customers are not for them
    assert "训练师不处理客户会话" in await refused.text()
    await sign_in(client, "admin1")
    page = await client.get("/admin")
    assert page.status == 200
    text = await page.text()
    assert "赵磊 Zhao Lei" in text and "admin.css" in text

    for username in ("agent1", "supervisor1"):
        refused = await client.post(
            "/api/v1/agents", json=NEW_AGENT, headers=bearer(await token(client, username))
        )
        assert refused.status == 403 and (await refused.json())["error"]["code"] == "forbidden"
        patched = await client.patch(
            "/api/v1/agents/1", json={"capacity": 9}, headers=bearer(await token(client, username))
        )
        assert patched.status == 403


async def test_a_new_agent_signs_in_with_an_argon2_hashed_password(client):
    csrf = await sign_in(client, "admin1")
    form = {**NEW_AGENT, "capacity": "4", "csrf": csrf}
    assert await post_form(client, "/admin/agents", form) == "/admin?saved=1"
    assert "已保存" in await (await client.get("/admin?saved=1")).text()
    stored = await stored_agent(client, "agent9")
    assert stored.password_hash.startswith("$argon2") and "correct horse" not in (
        stored.password_hash
    )
    assert (stored.team, stored.capacity, stored.role) == ("claims", 4, AgentRole.AGENT)
    assert await token(client, "agent9", "correct horse")

    admin = bearer(await token(client, "admin1"))
    created = await client.post(
        "/api/v1/agents", json={**NEW_AGENT, "username": "lead_2"}, headers=admin
    )
    assert created.status == 201
    view = await created.json()
    assert view["username"] == "lead_2" and view["capacity"] == 4 and view["active"] is True
    assert "password" not in view and "password_hash" not in view
    assert await token(client, "lead_2", "correct horse")
    async with client.server.app[sessions_key]() as session:
        kinds = (await session.scalars(select(Event.kind))).all()
    assert kinds.count("agent_created") == 2


async def test_new_agents_are_validated_and_usernames_are_unique(client):
    admin = bearer(await token(client, "admin1"))
    taken = await client.post(
        "/api/v1/agents", json={**NEW_AGENT, "username": "agent1"}, headers=admin
    )
    assert taken.status == 409 and (await taken.json())["error"]["code"] == "username_taken"
    for change, code in (
        ({"username": "A"}, "bad_username"),
        ({"display_name": " "}, "bad_display_name"),
        ({"role": "owner"}, "bad_role"),
        ({"team": "nowhere"}, "unknown_team"),
        ({"capacity": 0}, "bad_capacity"),
        ({"capacity": 21}, "bad_capacity"),
        ({"capacity": True}, "bad_capacity"),
        ({"password": "short"}, "short_password"),
    ):
        refused = await client.post("/api/v1/agents", json={**NEW_AGENT, **change}, headers=admin)
        assert refused.status == 400, change
        assert (await refused.json())["error"]["code"] == code
    assert await stored_agent(client, "agent9") is None

    csrf = await sign_in(client, "admin1")
    form = {**NEW_AGENT, "username": "agent2", "capacity": "3", "csrf": csrf}
    back = await post_form(client, "/admin/agents", form)
    assert back == "/admin?error=username_taken"
    assert "该用户名已被使用" in await (await client.get(back)).text()
    # only known codes are shown; anything else in the query is ignored
    assert "<script>" not in await (await client.get("/admin?error=<script>")).text()


async def test_an_admin_cannot_demote_or_deactivate_themself(client):
    admin = bearer(await token(client, "admin1"))
    me = await stored_agent(client, "admin1")
    demoted = await client.patch(f"/api/v1/agents/{me.id}", json={"role": "agent"}, headers=admin)
    assert demoted.status == 409 and (await demoted.json())["error"]["code"] == "self_demotion"
    off = await client.patch(f"/api/v1/agents/{me.id}", json={"active": False}, headers=admin)
    assert off.status == 409 and (await off.json())["error"]["code"] == "self_deactivation"
    renamed = await client.patch(
        f"/api/v1/agents/{me.id}", json={"display_name": "孙伟", "capacity": 5}, headers=admin
    )
    assert renamed.status == 200 and (await renamed.json())["capacity"] == 5

    csrf = await sign_in(client, "admin1")
    form = {"display_name": "孙伟", "role": "agent", "team": "general", "capacity": "3"}
    back = await post_form(client, f"/admin/agents/{me.id}", {**form, "csrf": csrf, "active": "on"})
    assert back == "/admin?error=self_demotion"
    back = await post_form(
        client, f"/admin/agents/{me.id}", {**form, "role": "admin", "csrf": csrf}
    )
    assert back == "/admin?error=self_deactivation"
    assert (await stored_agent(client, "admin1")).role == AgentRole.ADMIN
    missing = await client.patch("/api/v1/agents/9999", json={"capacity": 2}, headers=admin)
    assert missing.status == 404


async def test_a_deactivated_agent_cannot_sign_in_and_a_reset_password_works(client):
    admin = bearer(await token(client, "admin1"))
    agent2 = await stored_agent(client, "agent2")
    old_token = await token(client, "agent2")
    csrf = await sign_in(client, "admin1")
    edit = {"display_name": "刘洋", "role": "supervisor", "team": "complaints", "capacity": "6"}
    # the box is unticked: the agent is deactivated, and set offline
    assert await post_form(client, f"/admin/agents/{agent2.id}", {**edit, "csrf": csrf}) == (
        "/admin?saved=1"
    )
    stored = await stored_agent(client, "agent2")
    assert not stored.is_active and stored.presence == "offline"
    assert (stored.role, stored.team, stored.capacity) == (AgentRole.SUPERVISOR, "complaints", 6)
    refused = await client.post("/api/v1/auth/login", json={"username": "agent2", "password": "pw"})
    assert refused.status == 401
    assert (await client.get("/api/v1/agents", headers=bearer(old_token))).status == 401

    back_on = await client.patch(
        f"/api/v1/agents/{agent2.id}", json={"active": True}, headers=admin
    )
    assert back_on.status == 200 and (await back_on.json())["active"] is True
    reset = {"password": "a new secret", "csrf": csrf}
    assert await post_form(client, f"/admin/agents/{agent2.id}/password", reset) == (
        "/admin?saved=1"
    )
    short = {"password": "short", "csrf": csrf}
    assert await post_form(client, f"/admin/agents/{agent2.id}/password", short) == (
        "/admin?error=short_password"
    )
    assert await token(client, "agent2", "a new secret")


async def test_teams_are_listed_created_and_validated(client):
    admin = bearer(await token(client, "admin1"))
    listed = await (await client.get("/api/v1/teams", headers=admin)).json()
    assert [team["code"] for team in listed["teams"]] == ["general", "claims", "complaints"]
    team = {"code": "vip_service", "name_zh": "贵宾服务", "name_en": "VIP service"}
    created = await client.post("/api/v1/teams", json=team, headers=admin)
    assert created.status == 201 and await created.json() == team
    again = await client.post("/api/v1/teams", json=team, headers=admin)
    assert again.status == 409 and (await again.json())["error"]["code"] == "team_taken"
    for change, code in (
        ({"code": "VIP"}, "bad_team_code"),
        ({"code": "x"}, "bad_team_code"),
        ({"code": "vip-2"}, "bad_team_code"),
        ({"code": "vip_two", "name_en": ""}, "bad_team_name"),
    ):
        refused = await client.post("/api/v1/teams", json={**team, **change}, headers=admin)
        assert refused.status == 400 and (await refused.json())["error"]["code"] == code
    agent = bearer(await token(client, "agent1"))
    assert (await client.get("/api/v1/teams", headers=agent)).status == 200
    assert (await client.post("/api/v1/teams", json=team, headers=agent)).status == 403
    # agents can now join the new team
    moved = await client.post(
        "/api/v1/agents", json={**NEW_AGENT, "team": "vip_service"}, headers=admin
    )
    assert moved.status == 201 and (await moved.json())["team"] == "vip_service"

    csrf = await sign_in(client, "admin1")
    form = {"code": "night_shift", "name_zh": "夜班", "name_en": "Night shift", "csrf": csrf}
    assert await post_form(client, "/admin/teams", form) == "/admin?saved=1"
    assert await post_form(client, "/admin/teams", {**form, "code": "Night"}) == (
        "/admin?error=bad_team_code"
    )
    assert "夜班" in await (await client.get("/admin")).text()


async def test_canned_responses_are_managed_by_supervisors_with_known_variables_only(client):
    supervisor = bearer(await token(client, "supervisor1"))
    reply = {"shortcut": "claim_docs", "language": "en", "text": "Hi {customer_name}, {agent_name}"}
    created = await client.post("/api/v1/canned", json=reply, headers=supervisor)
    assert created.status == 201
    canned = await created.json()
    assert canned["shortcut"] == "claim_docs" and canned["text"] == reply["text"]

    unknown = await client.post(
        "/api/v1/canned",
        json={**reply, "shortcut": "policy", "text": "Your policy {policy_number}"},
        headers=supervisor,
    )
    assert unknown.status == 400
    error = (await unknown.json())["error"]
    assert error["code"] == "unknown_variable" and "{policy_number}" in error["message"]
    for change, code in (
        ({"text": "a stray { brace"}, "unknown_variable"),
        ({"text": "x" * 1001}, "bad_text"),
        ({"text": "   "}, "bad_text"),
        ({"shortcut": "Bad Shortcut"}, "bad_shortcut"),
        ({"language": "fr"}, "bad_language"),
    ):
        refused = await client.post("/api/v1/canned", json={**reply, **change}, headers=supervisor)
        assert refused.status == 400 and (await refused.json())["error"]["code"] == code
    duplicate = await client.post("/api/v1/canned", json=reply, headers=supervisor)
    assert duplicate.status == 409

    agent = bearer(await token(client, "agent1"))
    english = await (await client.get("/api/v1/canned?language=en", headers=agent)).json()
    assert {c["language"] for c in english["canned"]} == {"en"}
    assert "claim_docs" in {c["shortcut"] for c in english["canned"]}
    assert (await client.get("/api/v1/canned?language=fr", headers=agent)).status == 400
    assert (await client.post("/api/v1/canned", json=reply, headers=agent)).status == 403
    trainer = bearer(await token(client, "trainer1"))
    assert (await client.get("/api/v1/canned", headers=trainer)).status == 403

    assert (await client.delete(f"/api/v1/canned/{canned['id']}", headers=agent)).status == 403
    deleted = await client.delete(f"/api/v1/canned/{canned['id']}", headers=supervisor)
    assert deleted.status == 200
    gone = await client.delete(f"/api/v1/canned/{canned['id']}", headers=supervisor)
    assert gone.status == 404

    # the same through the page, which supervisors (not only admins) may use
    csrf = await sign_in(client, "supervisor1")
    form = {"shortcut": "thanks", "language": "zh", "text": "谢谢{customer_name}", "csrf": csrf}
    assert await post_form(client, "/admin/canned", form) == "/admin/canned?saved=1"
    bad = {**form, "shortcut": "oops", "text": "您的保单 {policy}"}
    back = await post_form(client, "/admin/canned", bad)
    assert back == "/admin/canned?error=unknown_variable"
    assert "未知变量" in await (await client.get(back)).text()
    rows = await (await client.get("/api/v1/canned?language=zh", headers=supervisor)).json()
    [thanks] = [c for c in rows["canned"] if c["shortcut"] == "thanks"]
    delete = f"/admin/canned/{thanks['id']}/delete"
    assert await post_form(client, delete, {"csrf": csrf}) == "/admin/canned?saved=1"
    assert "谢谢{customer_name}" not in await (await client.get("/admin/canned")).text()
    await sign_in(client, "agent1")
    assert (await client.get("/admin/canned")).status == 403


async def test_agent_lists_show_presence_to_supervisors_only(client):
    supervisor = await (
        await client.get("/api/v1/agents", headers=bearer(await token(client, "supervisor1")))
    ).json()
    by_name = {a["username"]: a for a in supervisor["agents"]}
    assert by_name["agent3"]["team"] == "complaints" and by_name["agent3"]["capacity"] == 3
    assert by_name["agent1"]["presence"] == "offline"
    assert by_name["supervisor1"]["presence"] == "online"  # signing in to the API is being online
    assert by_name["admin1"]["role"] == "admin" and by_name["trainer1"]["role"] == "trainer"
    agent = await (
        await client.get("/api/v1/agents", headers=bearer(await token(client, "agent1")))
    ).json()
    assert agent["agents"] and all("presence" not in a for a in agent["agents"])


async def test_switching_language_changes_the_pages(client):
    login = await client.get("/login")
    assert '<html lang="zh-CN">' in await login.text() and "坐席登录" in await login.text()
    english = await (await client.get("/login?lang=en")).text()
    assert '<html lang="en">' in english and "Agent sign-in" in english
    assert 'href="/login?lang=zh"' in english
    asked = await client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Agent sign-in" in await asked.text()
    csrf = csrf_of(english)
    wrong = await client.post(
        "/login?lang=en", data={"username": "agent1", "password": "no", "csrf": csrf}
    )
    assert wrong.status == 401 and "Wrong username or password." in await wrong.text()

    csrf = await sign_in(client, "admin1")
    assert "人员与团队" in await (await client.get("/admin")).text()
    switched = {"language": "en", "next": "/admin", "csrf": csrf}
    assert await post_form(client, "/me/language", switched) == "/admin"
    page = await (await client.get("/admin")).text()
    assert "People and teams" in page and '<html lang="en">' in page
    assert (await stored_agent(client, "admin1")).ui_language == "en"
    # an unknown language changes nothing
    await post_form(client, "/me/language", {**switched, "language": "fr"})
    assert (await stored_agent(client, "admin1")).ui_language == "en"

    agent = bearer(await token(client, "agent1"))
    put = await client.put("/api/v1/me/language", json={"language": "en"}, headers=agent)
    assert put.status == 200 and await put.json() == {"language": "en"}
    assert (await stored_agent(client, "agent1")).ui_language == "en"
    bad = await client.put("/api/v1/me/language", json={"language": "de"}, headers=agent)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_language"


async def test_forms_without_their_token_are_refused(client):
    csrf = await sign_in(client, "admin1")
    me = await stored_agent(client, "admin1")
    for path, data in (
        ("/admin/agents", {**NEW_AGENT, "capacity": "3"}),
        (f"/admin/agents/{me.id}", {"display_name": "x", "role": "agent"}),
        (f"/admin/agents/{me.id}/password", {"password": "whatever123"}),
        ("/admin/teams", {"code": "forged", "name_zh": "x", "name_en": "x"}),
        ("/admin/canned", {"shortcut": "forged", "language": "zh", "text": "x"}),
        ("/admin/canned/1/delete", {}),
        ("/me/language", {"language": "en"}),
    ):
        assert (await client.post(path, data=data)).status == 403, path
        forged = await client.post(path, data={**data, "csrf": "guessed"})
        assert forged.status == 403, path
    assert await stored_agent(client, "agent9") is None
    assert (await stored_agent(client, "admin1")).ui_language == "zh"
    assert csrf


async def test_a_planted_csrf_cookie_does_not_pass_for_a_signed_in_agent(client):
    """A page on a sibling host or port can set a cookie for ours, so a token that only
    has to equal a cookie can be forged; the signed-in token is derived from the session."""
    csrf = await sign_in(client, "admin1")
    session = client.session.cookie_jar.filter_cookies(URL(client.base))["hd_session"].value
    # the victim's browser sends their session and the planted cookie
    cookies = {"Cookie": f"hd_session={session}; hd_csrf=planted"}
    planted = {**NEW_AGENT, "capacity": "3", "csrf": "planted"}
    async with aiohttp.ClientSession() as browser:
        form = await browser.post(
            f"{client.base}/admin/agents", data=planted, headers=cookies, allow_redirects=False
        )
        assert form.status == 403
        api = await browser.put(
            f"{client.base}/api/v1/me/language",
            json={"language": "en"},
            headers={**cookies, "X-CSRF-Token": "planted"},
        )
        assert api.status == 403 and (await api.json())["error"]["code"] == "csrf"
    assert await stored_agent(client, "agent9") is None
    # the session's own token passes, whatever the cookie says
    saved = await post_form(client, "/admin/agents", {**NEW_AGENT, "capacity": "3", "csrf": csrf})
    assert saved == "/admin?saved=1"
    api = await client.put(
        "/api/v1/me/language", json={"language": "en"}, headers={"X-CSRF-Token": csrf}
    )
    assert api.status == 200


async def test_language_switch_never_redirects_off_site(client):
    csrf = await sign_in(client, "agent1")
    for evil in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        "/\t/evil.example",
    ):
        back = await post_form(
            client, "/me/language", {"language": "en", "next": evil, "csrf": csrf}
        )
        assert back == "/console", evil
    kept = {"language": "zh", "next": "/console/callbacks?scope=mine", "csrf": csrf}
    assert await post_form(client, "/me/language", kept) == "/console/callbacks?scope=mine"


def test_local_paths_and_canned_variables():
    assert local_path("/admin") == "/admin"
    assert local_path("https://evil.example") == "/console"
    assert local_path("///evil.example") == "/console"
    assert local_path(None) == "/console"
    assert unknown_variables("Hi {customer_name}, I'm {agent_name}") == []
    assert unknown_variables("{customer_name} {claim} }") == ["{claim}", "}"]


def test_require_role_refuses_in_the_agents_language():
    trainer = Agent(username="t", display_name="T", role=AgentRole.TRAINER, ui_language="en")
    require_role(trainer, AgentRole.TRAINER)
    with pytest.raises(web.HTTPForbidden) as refused:
        require_role(trainer, AgentRole.AGENT, AgentRole.SUPERVISOR, AgentRole.ADMIN)
    assert refused.value.text.startswith("This page is for: Agent, Supervisor, Admin.")
    assert "Trainers do not work conversations" in refused.value.text
