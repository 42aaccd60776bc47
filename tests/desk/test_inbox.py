"""The review inbox on SQLite and PostgreSQL: its order for learning, filters, search
and pages; the trainers' decisions and their undoing, each writing exactly the
expected change to a copy of the bot's project and logging who and when; and the
conversation around a message, masked."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from desk.errors import DeskError
from desk.training import inbox, review
from desk.training.inbox import InboxQuery
from desk.training.review import BulkDecision, Decision
from store.models import AgentRole, TrainingChange
from store.workbench import ParsedMessage
from tests.desk.inbox_rows import make_staff, store_message
from tests.desk.test_inbox_capture import verified_customer
from tests.desk.training_project import changes, copy_project, snapshot


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")


@pytest.fixture
async def trainer(sessions):
    return await make_staff(sessions, "trainer1", AgentRole.TRAINER)


async def texts(sessions, **filters) -> list[str]:
    page = await inbox.listing(sessions, InboxQuery(**filters))
    return [row.text for row in page.items]


async def test_the_inbox_is_ordered_for_learning(sessions):
    await store_message(sessions, "plain", minutes=0)
    await store_message(sessions, "fell back", rank=0, fallback=True, minutes=1)
    await store_message(sessions, "unsure, older", rank=1, minutes=2)
    await store_message(sessions, "trouble", rank=2, trouble="handoff", minutes=3)
    await store_message(sessions, "flagged", rank=3, flag_intent="ask_claim_status", minutes=4)
    await store_message(sessions, "unsure, newer", rank=1, minutes=5)
    await store_message(
        sessions, "reviewed", rank=0, status="confirmed", reviewed=True, label="x", minutes=6
    )
    order = ["fell back", "unsure, newer", "unsure, older", "trouble", "flagged", "plain"]
    assert await texts(sessions) == order  # not yet reviewed, by default
    assert await texts(sessions, status="all") == [*order, "reviewed"]
    assert await texts(sessions, status="reviewed") == ["reviewed"]
    assert await texts(sessions, status="confirmed") == ["reviewed"]


async def test_filters_search_and_pages(sessions):
    await store_message(sessions, "我的保单", intent="ask_policy", confidence=0.9, minutes=0)
    await store_message(
        sessions,
        "Where is my CLAIM",
        intent="ask_claim_status",
        confidence=0.4,
        language="en",
        minutes=1,
    )
    await store_message(
        sessions, "理赔 100% 到账了吗", intent="ask_claim_status", channel="wechat", minutes=2
    )
    await store_message(sessions, "next day", intent="greet", confidence=0.7, minutes=24 * 60)
    assert await texts(sessions, intent="ask_claim_status") == [
        "理赔 100% 到账了吗",
        "Where is my CLAIM",
    ]
    assert await texts(sessions, language="en") == ["Where is my CLAIM"]
    assert await texts(sessions, channel="wechat") == ["理赔 100% 到账了吗"]
    assert await texts(sessions, since=date(2026, 11, 2)) == ["next day"]
    assert await texts(sessions, until=date(2026, 11, 1)) == [
        "理赔 100% 到账了吗",
        "Where is my CLAIM",
        "我的保单",
    ]
    assert await texts(sessions, min_confidence=0.5, max_confidence=0.8) == ["next day"]
    # search: any case, and `%` is a character, not a wildcard
    assert await texts(sessions, q="claim") == ["Where is my CLAIM"]
    assert await texts(sessions, q="100%") == ["理赔 100% 到账了吗"]
    assert await texts(sessions, q="0%到") == []
    first = await inbox.listing(sessions, InboxQuery(size=3))
    second = await inbox.listing(sessions, InboxQuery(size=3, page=2))
    assert (len(first.items), first.more) == (3, True)
    assert ([row.text for row in second.items], second.more) == (["我的保单"], False)


async def review_log(sessions) -> list[tuple]:
    async with sessions() as session:
        rows = await session.scalars(select(TrainingChange).order_by(TrainingChange.id))
        return [
            (r.subject_kind, r.subject, r.other_subject, r.change, r.before, r.after) for r in rows
        ]


async def row_of(sessions, parsed_id: int) -> ParsedMessage:
    async with sessions() as session:
        row = await session.get(ParsedMessage, parsed_id)
        assert row is not None
        return row


async def test_confirm_adds_the_example_and_undo_takes_it_out(sessions, project, trainer):
    row = await store_message(sessions, "我的保单号是<POLICY_NO>", intent="ask_policy")
    before = snapshot(project)
    item = await review.decide(sessions, project, trainer, row.id, Decision(action="confirm"))
    assert (item["status"], item["label"], item["held_out"]) == ("confirmed", "ask_policy", False)
    assert changes(before, project) == {
        "bot/data/nlu/policy.yml": ["+      - 我的保单号是<POLICY_NO>"]
    }
    stored = await row_of(sessions, row.id)
    assert (stored.reviewed, stored.reviewed_by) == (True, trainer.id)
    assert stored.reviewed_at is not None
    undone = await review.undo(sessions, project, trainer, row.id)
    assert (undone["status"], undone["label"], undone["reviewed_at"]) == ("new", None, None)
    assert snapshot(project) == before
    assert await review_log(sessions) == [
        ("review", str(row.id), "ask_policy", "confirm", "ask_policy", "我的保单号是<POLICY_NO>"),
        ("intent", "ask_policy", None, "add", None, "我的保单号是<POLICY_NO>"),
        ("review", str(row.id), "ask_policy", "undo", "confirmed", "我的保单号是<POLICY_NO>"),
        ("intent", "ask_policy", None, "delete", "我的保单号是<POLICY_NO>", None),
    ]
    assert (await row_of(sessions, row.id)).reviewed is False


async def test_an_faq_is_confirmed_under_its_topic_and_relabelled_to_another(
    sessions, project, trainer
):
    faq = await store_message(
        sessions, "观察期多少天", intent="faq", faq_topic="faq/waiting_period"
    )
    wrong = await store_message(sessions, "哪些医院能用", intent="ask_product")
    before = snapshot(project)
    await review.decide(sessions, project, trainer, faq.id, Decision(action="confirm"))
    relabelled = await review.decide(
        sessions, project, trainer, wrong.id, Decision(action="relabel", label="faq/hospitals")
    )
    assert (relabelled["status"], relabelled["label"]) == ("relabelled", "faq/hospitals")
    lines = changes(before, project)["bot/data/nlu/faq.yml"]
    assert lines == ["+      - 观察期多少天", "+      - 哪些医院能用"]
    faq_file = (project.root / "bot/data/nlu/faq.yml").read_text().splitlines()
    hospitals = faq_file.index("  - intent: faq/hospitals")
    assert faq_file.index("  - intent: faq/waiting_period") < hospitals
    cooling = faq_file.index("  - intent: faq/cooling_off")
    renewal = faq_file.index("  - intent: faq/renewal")
    assert faq_file.index("      - 观察期多少天") < cooling  # the end of waiting_period's
    assert hospitals < faq_file.index("      - 哪些医院能用") < renewal


async def test_out_of_scope_ignore_and_hold_out(sessions, project, trainer):
    away = await store_message(sessions, "股票怎么买", intent="ask_product")
    ignored = await store_message(sessions, "嗯嗯", intent="affirm")
    held = await store_message(sessions, "保单啥时候到期", intent="ask_policy")
    held_other = await store_message(sessions, "理赔钱到了没", intent="ask_policy")
    before = snapshot(project)
    decided = [
        await review.decide(sessions, project, trainer, away.id, Decision(action="out_of_scope")),
        await review.decide(sessions, project, trainer, ignored.id, Decision(action="ignore")),
        await review.decide(sessions, project, trainer, held.id, Decision(action="hold_out")),
        await review.decide(
            sessions,
            project,
            trainer,
            held_other.id,
            Decision(action="hold_out", label="ask_claim_status"),
        ),
    ]
    assert [(d["status"], d["label"], d["held_out"]) for d in decided] == [
        ("out_of_scope", "out_of_scope", False),
        ("ignored", None, False),
        ("confirmed", "ask_policy", True),
        ("relabelled", "ask_claim_status", True),
    ]
    # only the out-of-scope example is written; held-out labels stay out of the data
    assert changes(before, project) == {"bot/data/nlu/out_of_scope.yml": ["+      - 股票怎么买"]}
    for row in (ignored, held):
        await review.undo(sessions, project, trainer, row.id)
    assert changes(before, project) == {"bot/data/nlu/out_of_scope.yml": ["+      - 股票怎么买"]}
    assert await texts(sessions) == ["保单啥时候到期", "嗯嗯"]


async def test_refusals(sessions, project, trainer):
    duplicate = await store_message(sessions, "您好", intent="ask_policy")
    row = await store_message(sessions, "保单", intent="ask_policy")
    before = snapshot(project)
    with pytest.raises(DeskError) as refused:
        await review.decide(sessions, project, trainer, duplicate.id, Decision(action="confirm"))
    assert refused.value.code == "duplicate_example"
    assert "greet" in refused.value.message  # the intent that has it
    assert (await row_of(sessions, duplicate.id)).status == "new"
    for decision, code in [
        (Decision(action="relabel"), "label_required"),
        (Decision(action="relabel", label="Not An Intent"), "bad_intent_name"),
        (Decision(action="relabel", label="no_such_intent"), "not_found"),
        (Decision(action="hold_out", label="no_such_intent"), "not_found"),
    ]:
        with pytest.raises(DeskError) as refused:
            await review.decide(sessions, project, trainer, row.id, decision)
        assert refused.value.code == code
    with pytest.raises(DeskError) as refused:
        await review.undo(sessions, project, trainer, row.id)
    assert refused.value.code == "not_reviewed"
    await review.decide(sessions, project, trainer, row.id, Decision(action="ignore"))
    with pytest.raises(DeskError) as refused:
        await review.decide(sessions, project, trainer, row.id, Decision(action="ignore"))
    assert refused.value.code == "already_reviewed"
    agent = await make_staff(sessions, "agent1", AgentRole.AGENT)
    with pytest.raises(DeskError) as refused:
        await review.undo(sessions, project, agent, row.id)
    assert refused.value.code == "forbidden"
    with pytest.raises(DeskError) as refused:
        await review.decide(sessions, project, trainer, 999_999, Decision(action="ignore"))
    assert refused.value.code == "not_found"
    assert snapshot(project) == before
    assert [entry[3] for entry in await review_log(sessions)] == ["ignore"]


async def test_a_bulk_decision_goes_ahead_for_all_it_may(sessions, project, trainer):
    rows = [await store_message(sessions, f"我想问问保单{n}", intent="ask_policy") for n in "一二"]
    reviewed = await store_message(sessions, "已看过", intent="ask_policy", minutes=9)
    await review.decide(sessions, project, trainer, reviewed.id, Decision(action="ignore"))
    before = snapshot(project)
    body = BulkDecision(ids=[rows[0].id, reviewed.id, rows[1].id], action="relabel", label="greet")
    result = await review.decide_all(sessions, project, trainer, body)
    assert [(d["id"], d["status"], d["label"]) for d in result["done"]] == [
        (rows[0].id, "relabelled", "greet"),
        (rows[1].id, "relabelled", "greet"),
    ]
    assert [(r["id"], r["code"]) for r in result["refused"]] == [(reviewed.id, "already_reviewed")]
    assert changes(before, project) == {
        "bot/data/nlu/chitchat.yml": ["+      - 我想问问保单一", "+      - 我想问问保单二"]
    }


async def test_the_conversation_around_a_message_is_masked_with_hints(sessions):
    customer_id = await verified_customer(sessions)
    row = await store_message(
        sessions,
        "<NAME>的理赔",
        customer_text="刘敏的理赔",
        bot_text="张伟您好，您的理赔 C0000000000174 正在审核，保单 P0000000000026",
        conversation={
            "customer_id": customer_id,
            "handoff_reason": "customer_request",
            "resolution_reason": "claim_explained",
        },
    )
    found = await inbox.around(sessions, row.id)
    assert found["handoff_reason"] == "customer_request"
    assert found["resolution_reason"] == "claim_explained"
    assert [(m["seq"], m["sender"], m["text"], m["reviewed"]) for m in found["messages"]] == [
        (1, "customer", "<NAME>的理赔", True),
        (2, "bot", "<NAME>您好，您的理赔 <CLAIM_NO> 正在审核，保单 <POLICY_NO>", False),
    ]
