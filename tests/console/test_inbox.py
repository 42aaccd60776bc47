"""The review inbox in the console: its page and JSON API for trainers, the agents'
flag from the transcript, and the masking guarantee: a trainer calling every route a
trainer may open (taken from the access matrix's doors, so routes added later are
called too) never receives a demo customer's identifiers, though the customers wrote
them and the bot quoted them back."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from console.keys import service_key
from store.db import create_engine, session_factory
from store.demo import generate
from store.models import Claim, Conversation, ConversationState, Customer, InsuredMember, Policy
from store.workbench import BotModel, ParsedMessage, TrainingJob
from tests.console.access_doors import API_DOORS, PAGE_DOORS
from tests.console.test_admin import sign_in
from tests.console_app import bearer, start_console
from tests.desk.inbox_rows import store_message
from tests.desk.test_inbox_capture import TrackerBot, tracker
from tests.desk.training_project import copy_project, parsed_examples

MARKUP = "<img src=x onerror=alert(1)><b>bold</b>"


@pytest.fixture
async def client(sqlite_url, tmp_path):
    project = copy_project(tmp_path / "project")
    client = await start_console(
        sqlite_url, housekeeping=False, auto_assign=False, training_project_dir=str(project.root)
    )
    client.project = project
    engine = create_engine(sqlite_url)
    client.sessions = session_factory(engine)
    yield client
    await client.close()
    await engine.dispose()


async def test_the_inbox_page_shows_messages_as_text_with_their_actions(client):
    await store_message(client.sessions, MARKUP, intent="greet", rank=0, fallback=True)
    await store_message(client.sessions, "保单到期了吗", intent="ask_policy", minutes=1)
    await sign_in(client, "trainer1")
    page = await client.get("/console/inbox")
    assert page.status == 200
    html = await page.text()
    assert MARKUP not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    # the fallback first, and the keys and actions in the trainer's language (Chinese)
    texts = re.findall(r'<span class="text">([^<]*)</span>', html)
    assert texts == ["&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;bold&lt;/b&gt;", "保单到期了吗"]
    assert "快捷键" in html and 'data-action="confirm">确认<' in html
    assert '<a href="/console/inbox">待审消息</a>' in html
    english = await (
        await client.get("/console/inbox?status=all", headers={"Accept-Language": "en"})
    ).text()
    assert "data-action" in english
    bad = await client.get("/console/inbox?since=yesterday")
    assert bad.status == 200 and "筛选条件无法识别" in await bad.text()


async def test_a_trainer_reviews_over_the_api(client):
    auth = await bearer(client, "trainer1")
    first = await store_message(client.sessions, "你们的产品有哪些呀", intent="greet", rank=1)
    second = await store_message(client.sessions, "随便问问", intent="greet", minutes=1)
    listed = await (await client.get("/api/v1/training/inbox?size=1", headers=auth)).json()
    assert [item["id"] for item in listed["items"]] == [first.id] and listed["more"] is True
    relabelled = await client.post(
        f"/api/v1/training/inbox/{first.id}/decision",
        json={"action": "relabel", "label": "ask_product"},
        headers=auth,
    )
    assert relabelled.status == 200
    assert (await relabelled.json())["status"] == "relabelled"
    product = client.project.root / "bot/data/nlu/service.yml"
    assert parsed_examples(product, "ask_product")[-1] == "你们的产品有哪些呀"
    again = await client.post(
        f"/api/v1/training/inbox/{first.id}/decision", json={"action": "ignore"}, headers=auth
    )
    assert again.status == 409 and (await again.json())["error"]["code"] == "already_reviewed"
    bad = await client.post(
        f"/api/v1/training/inbox/{second.id}/decision", json={"action": "burn"}, headers=auth
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_action"
    undone = await client.post(f"/api/v1/training/inbox/{first.id}/undo", headers=auth)
    assert (await undone.json())["status"] == "new"
    assert "你们的产品有哪些呀" not in parsed_examples(product, "ask_product")
    bulk = await client.post(
        "/api/v1/training/inbox/decisions",
        json={"ids": [first.id, second.id], "action": "ignore"},
        headers=auth,
    )
    assert [item["status"] for item in (await bulk.json())["done"]] == ["ignored", "ignored"]
    missing = await client.get("/api/v1/training/inbox/999999/conversation", headers=auth)
    assert missing.status == 404
    filtered = await client.get("/api/v1/training/inbox?min_confidence=2", headers=auth)
    assert filtered.status == 400 and (await filtered.json())["error"]["code"] == "bad_filter"


async def test_an_agent_flags_a_customer_message_the_bot_misunderstood(client):
    supervisor = await bearer(client, "supervisor1")
    row = await store_message(client.sessions, "保单能退吗", intent="greet", minutes=1)
    path = f"/api/v1/conversations/{row.conversation_id}/messages/1/flag"
    flagged = await client.post(path, json={"intent": "ask_policy"}, headers=supervisor)
    assert flagged.status == 200 and (await flagged.json())["flag_intent"] == "ask_policy"
    async with client.sessions() as session:
        stored = await session.get(ParsedMessage, row.id)
    assert (stored.rank, stored.flag_intent, stored.status) == (3, "ask_policy", "new")
    assert stored.flagged_by is not None and stored.flagged_at is not None
    for body, seq, status, code in [
        ({"intent": "no_such_intent"}, 1, 400, "unknown_intent"),
        ({"intent": "Bad Name"}, 1, 400, "bad_intent_name"),
        ({}, 1, 400, "bad_intent_name"),
        ({"intent": "ask_policy"}, 2, 404, "not_found"),  # the bot's message
        ({"intent": "ask_policy"}, 9, 404, "not_found"),
    ]:
        path = f"/api/v1/conversations/{row.conversation_id}/messages/{seq}/flag"
        refused = await client.post(path, json=body, headers=supervisor)
        assert (refused.status, (await refused.json())["error"]["code"]) == (status, code)


async def test_a_flag_on_a_message_the_bot_never_parsed_puts_it_in_the_inbox_masked(client):
    supervisor = await bearer(client, "supervisor1")
    service = client.app[service_key]
    conversation, _ = await service.open("web", "flag-unparsed")
    async with client.sessions.begin() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(state=ConversationState.QUEUED, queued_at=conversation.created_at)
        )
    await service.customer_message(conversation.id, "我手机13912345678，转账没到")
    path = f"/api/v1/conversations/{conversation.id}/messages/1/flag"
    flagged = await client.post(path, json={"intent": "ask_claim_status"}, headers=supervisor)
    assert flagged.status == 200
    async with client.sessions() as session:
        [row] = (await session.scalars(select(ParsedMessage))).all()
    assert (row.text, row.intent, row.rank, row.flag_intent) == (
        "我手机<MOBILE>，转账没到",
        "",
        3,
        "ask_claim_status",
    )


# ---- the masking guarantee -----------------------------------------------------------


async def demo_identifiers(sessions) -> dict[int, dict[str, list[str]]]:
    """Each demo customer's names, ID cards, mobile, bank card, policy and claim numbers."""
    found: dict[int, dict[str, list[str]]] = {}
    async with sessions() as session:
        for customer in await session.scalars(select(Customer).where(Customer.id.in_([1, 2]))):
            policies = list(
                await session.scalars(select(Policy).where(Policy.holder_id == customer.id))
            )
            ids = [p.id for p in policies]
            members = list(
                await session.scalars(select(InsuredMember).where(InsuredMember.policy_id.in_(ids)))
            )
            claims = list(await session.scalars(select(Claim).where(Claim.policy_id.in_(ids))))
            found[customer.id] = {
                "names": sorted({customer.name, *(m.name for m in members)}),
                "numbers": sorted(
                    {
                        customer.id_card_number,
                        customer.mobile,
                        customer.bank_account or "",
                        *(m.id_card_number for m in members),
                        *(p.number for p in policies),
                        *(c.number for c in claims),
                    }
                    - {""}
                ),
            }
    return found


class QuotingBot(TrackerBot):
    """Answers each message by quoting it back, identifiers and all; its tracker (for
    the test stories) keeps each message and a slot holding it."""

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        await super().send(sender, text, metadata)
        self.events.setdefault(sender, []).extend(
            [
                {
                    "event": "user",
                    "text": text,
                    "parse_data": self.trackers[text]["latest_message"],
                },
                {"event": "slot", "name": "identity_number", "value": text},
                {"event": "action", "name": "utter_greet"},
            ]
        )
        return [
            {"text": f"您说的是：{text}", "buttons": [{"title": text[:60], "payload": "/affirm"}]}
        ]

    async def tracker_events(self, sender: str) -> list[dict[str, Any]]:
        return self.events.get(sender, [])


def readable(body: str) -> str:
    """A body as a person reads it: JSON without its \\u escapes, HTML unescaped, so a
    name leaks in the check as it would on the screen."""
    try:
        return json.dumps(json.loads(body), ensure_ascii=False)
    except ValueError:
        return html.unescape(body)


def trainer_get_paths() -> list[str]:
    """Every GET route of the access matrix that a trainer may open, without its query."""
    return sorted(
        {
            door.path.split("?")[0]
            for door in (*API_DOORS, *PAGE_DOORS)
            # 503: the trainer's door, which needs Rasa, as the matrix runs it without
            if door.method == "GET" and door.expect["trainer"] in (200, 503)
        }
    )


async def test_a_trainer_never_receives_a_customers_identifiers(client, sqlite_url):
    await generate(sqlite_url, customers=2, progress=lambda *_: None)
    identifiers = await demo_identifiers(client.sessions)
    assert set(identifiers) == {1, 2} and all(len(v["numbers"]) >= 5 for v in identifiers.values())
    service = client.app[service_key]
    said: dict[str, dict[str, Any]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    for customer_id, known in identifiers.items():
        names, numbers = known["names"], known["numbers"]
        lines = [f"我是{name}，帮我查一下" for name in names]
        lines += [f"号码是 {number} 谢谢" for number in numbers]
        lines.append(f"{names[0]} {' '.join(numbers)}")
        for line in lines:
            said[line] = tracker([("inform", 0.5), ("ask_policy", 0.45)])
        conversation, _ = await service.open("web", f"guarantee-{customer_id}")
        async with client.sessions.begin() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(customer_id=customer_id, handoff_reason="customer_request")
            )
        service.bot = QuotingBot(said)
        service.bot.events = events
        for line in lines:
            await service.customer_message(conversation.id, line, wait_for_bot=True)
    async with client.sessions() as session:
        rows = list(await session.scalars(select(ParsedMessage).order_by(ParsedMessage.id)))
    assert len(rows) == len(said)
    # One is made an example (the intent's pages then show it), one flagged by an agent.
    auth = await bearer(client, "trainer1")
    supervisor = await bearer(client, "supervisor1")
    decided = await client.post(
        f"/api/v1/training/inbox/{rows[0].id}/decision",
        json={"action": "relabel", "label": "greet"},
        headers=auth,
    )
    assert decided.status == 200
    await client.post(
        f"/api/v1/conversations/{rows[1].conversation_id}/messages/{rows[1].seq}/flag",
        json={"intent": "ask_policy"},
        headers=supervisor,
    )
    # A model in the registry and a finished training, for the models' pages.
    async with client.sessions.begin() as session:
        model = BotModel(file="guarantee.tar.gz", sha256="0" * 64, kind="finetune", data_hash="0")
        job = TrainingJob(kind="finetune", status="succeeded", requested_by=1, log="done")
        session.add_all([model, job])
        await session.flush()
        model_id, job_id = model.id, job.id
    await sign_in(client, "trainer1")
    paths = trainer_get_paths()
    assert "/api/v1/training/inbox/{parsed}/conversation" in paths and "/console/inbox" in paths
    assert "/api/v1/training/conversations/{conversation}/story" in paths
    assert {"/console/changes", "/api/v1/training/changes"} <= set(paths)  # the audit log
    bodies: dict[str, str] = {}
    for path in paths:
        for row in rows if "{parsed}" in path or "{reviewed}" in path else rows[:1]:
            url = path.format(
                parsed=row.id,
                reviewed=row.id,
                conversation=row.conversation_id,
                model=model_id,
                job=job_id,
            )
            for query in ("?status=all&size=200", "?status=reviewed", ""):
                response = await client.get(
                    url + query, headers=auth if url.startswith("/api/") else {}
                )
                assert response.status == 200, url
                bodies[url + query] = readable(await response.text())
    assert any("<NAME>" in body and "<ID_CARD>" in body for body in bodies.values())
    stories = [body for url, body in bodies.items() if url.endswith("/story")]
    assert stories and all("<NAME>" in body and "<ID_CARD>" in body for body in stories)
    forbidden = [
        value for known in identifiers.values() for value in known["names"] + known["numbers"]
    ]
    # The demo trainer is called 李娜 Li Na, like a demo customer: their own name is no leak.
    me = "李娜 Li Na"
    leaks = [
        (url, value)
        for url, body in bodies.items()
        for value in forbidden
        if value in body.replace(me, "")
    ]
    assert sorted({value for _, value in leaks}) == [], leaks[:3]
