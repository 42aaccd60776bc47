"""The trainers' workbench in the console: the intents and responses pages and their
JSON API, editing a tmp copy of the bot's project (never the repository's own), each
edit in the YAML and in the change log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from desk.settings import ROOT, Settings
from desk.training.examples import intent_examples
from store.db import create_engine, session_factory
from store.models import TrainingChange
from tests.console.test_admin import csrf_of, sign_in
from tests.console_app import bearer, start_console
from tests.desk.training_project import copy_project, parsed_examples, safe_load

CHITCHAT = "bot/data/nlu/chitchat.yml"


@pytest.fixture
async def client(sqlite_url, tmp_path):
    project = copy_project(tmp_path / "project")
    client = await start_console(sqlite_url, training_project_dir=str(project.root))
    client.project = project
    engine = create_engine(sqlite_url)
    client.sessions = session_factory(engine)
    yield client
    await client.close()
    await engine.dispose()


def examples_of(client, intent: str) -> list[str]:
    return parsed_examples(client.project.root / CHITCHAT, intent)


def version(client, intent: str) -> str:
    return intent_examples(client.project, intent).version


async def log(client) -> list[tuple[str, str, str | None, str | None, str | None]]:
    async with client.sessions() as session:
        rows = await session.scalars(select(TrainingChange).order_by(TrainingChange.id))
        return [(r.subject, r.change, r.before, r.after, r.other_subject) for r in rows]


async def test_trainers_land_on_the_intents_list_with_its_counts(client):
    csrf = csrf_of(await (await client.get("/login")).text())
    landed = await client.post(
        "/login",
        data={"username": "trainer1", "password": "pw", "csrf": csrf},
        allow_redirects=False,
    )
    assert landed.status == 303 and landed.headers["Location"] == "/console/intents"
    page = await client.get("/console/intents")
    assert page.status == 200
    text = await page.text()
    zh = len(intent_examples(client.project, "greet").zh)
    en = len(intent_examples(client.project, "greet").en)
    row = re.search(r'<tr id="intent-greet">(.*?)</tr>', text, re.S).group(1)
    assert re.search(rf'data-language="zh">{zh}\b', row)
    assert re.search(rf'data-language="en">{en}\b', row)
    assert "意图与例句" in text
    # The conversations page tells a trainer where their tools are.
    refused = await client.get("/console")
    assert refused.status == 403 and 'href="/console/intents"' in await refused.text()
    found = await (await client.get("/console/intents", params={"q": "good day"})).text()
    assert 'href="/console/intents/greet">greet</a>: <span class="example">good day' in found


async def test_the_api_adds_edits_moves_and_deletes_an_example(client):
    headers = await bearer(client, "trainer1")
    listed = await (await client.get("/api/v1/training/intents", headers=headers)).json()
    greet = next(row for row in listed["intents"] if row["name"] == "greet")
    assert greet["counts"]["zh"] == len(intent_examples(client.project, "greet").zh)
    base = "/api/v1/training/intents/greet/examples"

    added = await client.post(
        base, json={"text": "早上好呀朋友", "version": version(client, "greet")}, headers=headers
    )
    assert added.status == 201
    assert "早上好呀朋友" in (await added.json())["intent"]["zh"]
    assert examples_of(client, "greet")[-1] == "早上好呀朋友"

    edited = await client.patch(
        base,
        json={"old": "早上好呀朋友", "new": "早上好啊朋友", "version": version(client, "greet")},
        headers=headers,
    )
    assert edited.status == 200
    assert "早上好啊朋友" in examples_of(client, "greet")
    assert "早上好呀朋友" not in examples_of(client, "greet")

    moved = await client.post(
        base + "/move",
        json={"text": "早上好啊朋友", "to": "goodbye", "version": version(client, "greet")},
        headers=headers,
    )
    assert moved.status == 200 and (await moved.json())["target"]["name"] == "goodbye"
    assert "早上好啊朋友" in examples_of(client, "goodbye")
    assert "早上好啊朋友" not in examples_of(client, "greet")

    deleted = await client.delete(
        "/api/v1/training/intents/goodbye/examples",
        json={"text": "早上好啊朋友", "version": version(client, "goodbye")},
        headers=headers,
    )
    assert deleted.status == 200
    assert "早上好啊朋友" not in examples_of(client, "goodbye")

    assert await log(client) == [
        ("greet", "add", None, "早上好呀朋友", None),
        ("greet", "edit", "早上好呀朋友", "早上好啊朋友", None),
        ("greet", "move", "早上好啊朋友", "早上好啊朋友", "goodbye"),
        ("goodbye", "delete", "早上好啊朋友", None, None),
    ]
    one = await (await client.get("/api/v1/training/intents/greet", headers=headers)).json()
    # Newest first, the move included on the intent it left.
    assert [row["change"] for row in one["changes"]] == ["move", "edit", "add"]


async def test_a_stale_version_or_a_duplicate_is_refused_over_the_api(client):
    headers = await bearer(client, "trainer1")
    seen = version(client, "greet")
    base = "/api/v1/training/intents/greet/examples"
    first = await client.post(base, json={"text": "先到先得", "version": seen}, headers=headers)
    assert first.status == 201
    stale = await client.post(base, json={"text": "后到的", "version": seen}, headers=headers)
    assert stale.status == 409
    body = await stale.json()
    assert body["error"]["code"] == "conflict"
    assert "先到先得" in body["current"]["examples"]
    assert body["current"]["version"] == version(client, "greet")
    assert "后到的" not in examples_of(client, "greet")

    duplicate = await client.post(
        base, json={"text": "good day", "version": version(client, "greet")}, headers=headers
    )
    assert duplicate.status == 409
    refusal = (await duplicate.json())["error"]
    assert refusal["code"] == "duplicate_example" and "greet" in refusal["message"]
    other = await client.post(
        "/api/v1/training/intents/goodbye/examples",
        json={"text": "good day", "version": version(client, "goodbye")},
        headers=headers,
    )
    assert other.status == 409 and "intent greet" in (await other.json())["error"]["message"]
    # Only the one that was written is logged.
    assert [row[:2] for row in await log(client)] == [("greet", "add")]


def field(page: str, action: str, name: str) -> str:
    """A hidden field's value in the first form posting to `action`."""
    form = page[page.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    return re.search(rf'name="{name}" value="([^"]*)"', form).group(1)


async def test_the_page_forms_edit_the_yaml_and_show_the_change_log(client):
    csrf = await sign_in(client, "trainer1")
    page = await (await client.get("/console/intents/greet")).text()
    seen = field(page, "/console/intents/greet/add", "version")
    assert field(page, "/console/intents/greet/add", "csrf") == csrf

    added = await client.post(
        "/console/intents/greet/add",
        data={"text": "<b>hello</b> there", "version": seen, "csrf": csrf},
    )
    assert added.status == 200
    text = await added.text()
    assert "已保存" in text
    assert "&lt;b&gt;hello&lt;/b&gt; there" in text and "<b>hello</b>" not in text
    assert examples_of(client, "greet")[-1] == "<b>hello</b> there"

    # The version is the new one on the page saved: edit with it.
    seen = field(text, "/console/intents/greet/edit", "version")
    edited = await client.post(
        "/console/intents/greet/edit",
        data={"old": "<b>hello</b> there", "new": "Hello there!!", "version": seen, "csrf": csrf},
    )
    assert edited.status == 200
    text = await edited.text()
    assert "Hello there!!" in examples_of(client, "greet")
    # A near-duplicate of another intent's example is saved, with a warning.
    near = await client.post(
        "/console/intents/goodbye/add",
        data={"text": "GOOD DAY!", "version": version(client, "goodbye"), "csrf": csrf},
    )
    assert near.status == 200 and "几乎相同" in await near.text() and "greet" in await near.text()

    moved = await client.post(
        "/console/intents/greet/move",
        data={
            "text": "Hello there!!",
            "to": "thank",
            "version": version(client, "greet"),
            "csrf": csrf,
        },
    )
    assert moved.status == 200 and "Hello there!!" in examples_of(client, "thank")
    deleted = await client.post(
        "/console/intents/thank/delete",
        data={"text": "Hello there!!", "version": version(client, "thank"), "csrf": csrf},
    )
    assert deleted.status == 200 and "Hello there!!" not in examples_of(client, "thank")

    page = await (await client.get("/console/intents/greet")).text()
    changes = re.findall(r'<li class="change" data-change="(\w+)">', page)
    assert changes == ["move", "edit", "add"]
    assert "&lt;b&gt;hello&lt;/b&gt; there" in page and "李娜 Li Na" in page
    thank = await (await client.get("/console/intents/thank")).text()
    assert re.findall(r'data-change="(\w+)"', thank) == ["delete", "move"]
    # A form without the CSRF token changes nothing.
    before = examples_of(client, "greet")
    forged = await client.post(
        "/console/intents/greet/add", data={"text": "伪造", "version": version(client, "greet")}
    )
    assert forged.status == 403 and examples_of(client, "greet") == before


async def test_a_stale_form_shows_the_other_trainers_examples_and_a_duplicate_its_intent(client):
    csrf = await sign_in(client, "trainer1")
    stale = version(client, "greet")
    first = await client.post(
        "/console/intents/greet/add", data={"text": "别人先加的", "version": stale, "csrf": csrf}
    )
    assert first.status == 200
    late = await client.post(
        "/console/intents/greet/add", data={"text": "我后加的", "version": stale, "csrf": csrf}
    )
    assert late.status == 409
    text = await late.text()
    assert "其他训练师刚刚修改过这里" in text and "别人先加的" in text
    assert field(text, "/console/intents/greet/add", "version") == version(client, "greet")
    assert "我后加的" not in examples_of(client, "greet")

    duplicate = await client.post(
        "/console/intents/goodbye/add",
        data={"text": "good day", "version": version(client, "goodbye"), "csrf": csrf},
    )
    assert duplicate.status == 409
    assert "意图 greet 已经有这条例句" in await duplicate.text()


async def test_responses_are_listed_faq_first_and_edited_per_language(client):
    csrf = await sign_in(client, "trainer1")
    page = await (await client.get("/console/responses")).text()
    rows = re.findall(r'<tr id="response-([^"]+)"', page)
    faq = [i for i, name in enumerate(rows) if name.startswith("utter_faq/")]
    assert faq and faq == list(range(len(faq)))
    seen = field(page, "/console/responses/utter_greet", "version")
    saved = await client.post(
        "/console/responses/utter_greet",
        data={"language": "en", "text": "Hi <there>!", "version": seen, "csrf": csrf},
    )
    assert saved.status == 200 and "Hi &lt;there&gt;!" in await saved.text()
    domain = safe_load(client.project.root / "bot/domain/chitchat.yml")
    variants = domain["responses"]["utter_greet"]
    assert variants[1]["text"] == "Hi <there>!" and variants[0]["text"].startswith("您好")
    stale = await client.post(
        "/console/responses/utter_greet",
        data={"language": "zh", "text": "嗨", "version": seen, "csrf": csrf},
    )
    assert stale.status == 409 and "其他训练师刚刚修改过这里" in await stale.text()
    async with client.sessions() as session:
        row = (await session.scalars(select(TrainingChange))).one()
    assert (row.subject_kind, row.subject, row.change, row.after) == (
        "response",
        "utter_greet",
        "edit_en",
        "Hi <there>!",
    )
    headers = await bearer(client, "trainer1")
    listed = await (await client.get("/api/v1/training/responses", headers=headers)).json()
    greet = next(r for r in listed["responses"] if r["name"] == "utter_greet")
    conflict = await client.put(
        "/api/v1/training/responses/utter_greet",
        json={"language": "zh", "text": "嗨", "version": seen},
        headers=headers,
    )
    assert conflict.status == 409
    assert (await conflict.json())["current"]["version"] == greet["version"]


def test_the_workbench_edits_the_repository_by_default_and_tests_a_copy(tmp_path):
    assert Settings(_env_file=None).training_project_dir == str(ROOT)
    project = copy_project(tmp_path / "copy")
    assert project.root != ROOT and (project.root / CHITCHAT).is_file()
