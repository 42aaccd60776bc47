"""The review inbox's capture: each customer message the bot parsed is kept, masked,
with what Rasa's tracker says it understood, in the bot turn that answers it (SQLite
and PostgreSQL), and trouble that follows lowers the rank of the messages before it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from desk.conversations import ConversationService
from desk.rasa import Parse, parse_of
from desk.training.capture import Thresholds
from store.models import (
    Conversation,
    InsuredMember,
    Message,
    Policy,
    PolicyKind,
    PolicyStatus,
)
from store.workbench import ParsedMessage
from tests.console.test_casework import new_customer
from tests.desk.test_conversations import Recorder


def tracker(
    ranking: list[tuple[str, float]],
    *,
    fallback: bool = False,
    faq: str | None = None,
    requested: str | None = None,
) -> dict[str, Any]:
    """A tracker as Rasa's `GET /conversations/{sender}/tracker` answers it."""
    entries = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    if fallback:
        entries.insert(0, {"name": "nlu_fallback", "confidence": 0.7})
    latest: dict[str, Any] = {"intent": entries[0], "intent_ranking": entries}
    if faq:
        latest["response_selector"] = {
            "faq": {"response": {"intent_response_key": faq, "confidence": 0.9}}
        }
    return {"latest_message": latest, "slots": {"requested_slot": requested}}


class TrackerBot:
    """Rasa as the bot turn sees it: a reply per message, and a tracker scripted per
    text (the real parser, `parse_of`, reads it). `handoff` texts hand over."""

    def __init__(self, trackers: dict[str, dict[str, Any]], handoff: tuple[str, ...] = ()):
        self.trackers = trackers
        self.handoff = handoff
        self.last: dict[str, str] = {}

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        self.last[sender] = text
        if text in self.handoff:
            return [{"custom": {"handoff": {"reason": "customer_request", "summary": text}}}]
        return [{"text": f"echo: {text}"}]

    async def latest_parse(self, sender: str, text: str | None = None) -> Parse | None:
        return parse_of(self.trackers.get(self.last.get(sender, "")))


async def verified_customer(sessions) -> int:
    """张伟, holder of a policy insuring his wife 刘敏."""
    async with sessions.begin() as session:
        customer = new_customer(1, "张伟", "13800138000")
        session.add(customer)
        await session.flush()
        policy = Policy(
            number="P0000000000026",
            holder_id=customer.id,
            product_code="HYB-LTM",
            product_name="好医保",
            kind=PolicyKind.LONG_TERM_MEDICAL,
            long_term=True,
            status=PolicyStatus.ACTIVE,
            sum_insured=Decimal("4000000"),
            premium=Decimal("586"),
            effective_date=date(2023, 3, 15),
            expiry_date=date(2043, 3, 14),
        )
        session.add(policy)
        await session.flush()
        session.add(
            InsuredMember(
                policy_id=policy.id,
                name="刘敏",
                relation="spouse",
                id_card_number="110108198809030466",
                birth_date=date(1988, 9, 3),
            )
        )
        return customer.id


async def talk(sessions, bot: TrackerBot, texts: list[str], customer_id: int | None = None):
    service = ConversationService(
        sessions, bot, Recorder(), auto_assign=False, inbox_thresholds=Thresholds(0.6, 0.1)
    )
    conversation, _ = await service.open("web", f"capture-{id(bot)}")
    if customer_id is not None:
        async with sessions.begin() as session:
            (await session.get(Conversation, conversation.id)).customer_id = customer_id
    for text in texts:
        await service.customer_message(conversation.id, text, wait_for_bot=True)
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(ParsedMessage)
                .where(ParsedMessage.conversation_id == conversation.id)
                .order_by(ParsedMessage.seq)
            )
        ).all()
        messages = {
            m.seq: m
            for m in await session.scalars(
                select(Message).where(Message.conversation_id == conversation.id)
            )
        }
    return conversation, rows, messages


def row_of(row: ParsedMessage) -> tuple:
    return (
        row.seq,
        row.text,
        row.intent,
        round(row.confidence, 2),
        row.runner_up,
        None if row.runner_up_confidence is None else round(row.runner_up_confidence, 2),
        row.faq_topic,
        row.fallback,
        row.awaiting,
        row.rank,
        row.trouble,
        row.status,
    )


async def test_each_parsed_message_is_kept_masked_with_what_the_bot_understood(sessions):
    customer_id = await verified_customer(sessions)
    bot = TrackerBot(
        {
            "我的理赔到哪了": tracker([("ask_claim_status", 0.95), ("ask_policy", 0.03)]),
            "刘敏的保单 手机13800138000": tracker(
                [("ask_policy", 0.55), ("ask_claim_status", 0.2)], requested="otp_code"
            ),
            "123456": tracker([("inform", 0.91), ("deny", 0.02)]),
            "阿巴阿巴": tracker([("greet", 0.31), ("ask_product", 0.3)], fallback=True),
            "等待期多久": tracker([("faq", 0.92), ("ask_product", 0.05)], faq="faq/waiting_period"),
            "理赔还是保单": tracker([("ask_claim_status", 0.7), ("ask_policy", 0.65)]),
            "/affirm": tracker([("affirm", 1.0)]),
        }
    )
    texts = [
        "我的理赔到哪了",
        "刘敏的保单 手机13800138000",
        "123456",
        "阿巴阿巴",
        "等待期多久",
        "理赔还是保单",
        "/affirm",
    ]
    conversation, rows, messages = await talk(sessions, bot, texts, customer_id)
    assert [row_of(row) for row in rows] == [
        (
            1,
            "我的理赔到哪了",
            "ask_claim_status",
            0.95,
            "ask_policy",
            0.03,
            None,
            False,
            None,
            9,
            None,
            "new",
        ),
        (
            3,
            "<NAME>的保单 手机<MOBILE>",
            "ask_policy",
            0.55,
            "ask_claim_status",
            0.2,
            None,
            False,
            "otp_code",
            1,
            None,
            "new",
        ),
        # after the code request, the digits are the code
        (5, "<CODE>", "inform", 0.91, "deny", 0.02, None, False, None, 9, None, "new"),
        # the fallback fired: the best real intent is kept, and the rank says so
        (7, "阿巴阿巴", "greet", 0.31, "ask_product", 0.3, None, True, None, 0, None, "new"),
        (
            9,
            "等待期多久",
            "faq",
            0.92,
            "ask_product",
            0.05,
            "faq/waiting_period",
            False,
            None,
            9,
            None,
            "new",
        ),
        # the top two within 0.1: unsure
        (
            11,
            "理赔还是保单",
            "ask_claim_status",
            0.7,
            "ask_policy",
            0.65,
            None,
            False,
            None,
            1,
            None,
            "new",
        ),
        # a button's payload is not language: not kept
    ]
    for row in rows:
        assert row.message_id == messages[row.seq].id
        assert (row.channel, row.language) == ("web", "zh")
        assert row.at == messages[row.seq].created_at
    # Agents see what they saw before: the top of Rasa's ranking, nlu_fallback included.
    assert messages[7].payload == {"intent": "nlu_fallback", "confidence": 0.7}
    assert messages[1].payload == {"intent": "ask_claim_status", "confidence": 0.95}


async def test_without_a_verified_customer_names_are_not_known(sessions):
    await verified_customer(sessions)
    bot = TrackerBot({"刘敏的保单": tracker([("ask_policy", 0.9)])})
    _, [row], _ = await talk(sessions, bot, ["刘敏的保单"])
    assert row.text == "刘敏的保单" and row.runner_up is None and row.rank == 9


async def test_a_handoff_marks_the_two_messages_before_it(sessions):
    bot = TrackerBot(
        {
            "你好": tracker([("greet", 0.99)]),
            "保单能退吗": tracker([("ask_policy", 0.9)]),
            "怎么退保": tracker([("ask_product", 0.9)]),
            "转人工": tracker([("request_human", 0.99)]),
        },
        handoff=("转人工",),
    )
    _, rows, _ = await talk(sessions, bot, ["你好", "保单能退吗", "怎么退保", "转人工"])
    assert [(row.text, row.rank, row.trouble) for row in rows] == [
        ("你好", 9, None),  # three turns before: out of reach
        ("保单能退吗", 2, "handoff"),
        ("怎么退保", 2, "handoff"),
        ("转人工", 9, None),
    ]


async def test_a_question_asked_again_marks_the_one_it_repeats(sessions):
    bot = TrackerBot(
        {
            "理赔到哪了": tracker([("ask_claim_status", 0.8)]),
            "你好": tracker([("greet", 0.99)]),
            "我问的是理赔进度": tracker([("ask_claim_status", 0.9)]),
            "您好": tracker([("greet", 0.95)]),
            "在吗": tracker([("bot_challenge", 0.4)]),
            "在吗？": tracker([("greet", 0.95)]),
        }
    )
    texts = ["理赔到哪了", "你好", "我问的是理赔进度", "您好", "在吗", "在吗？"]
    _, rows, _ = await talk(sessions, bot, texts)
    assert [(row.text, row.rank, row.trouble) for row in rows] == [
        ("理赔到哪了", 2, "repeat"),  # the same intent again, two turns later
        ("你好", 9, None),  # greeting twice is no trouble ...
        ("我问的是理赔进度", 9, None),
        ("您好", 9, None),
        ("在吗", 1, "repeat"),  # ... but the same words again are; unsure stays first
        ("在吗？", 9, None),
    ]


async def test_a_cancel_while_the_bot_asks_for_something_marks_the_messages_before(sessions):
    bot = TrackerBot(
        {
            "我要理赔": tracker([("file_claim", 0.9)], requested="policy_number"),
            "不是这个": tracker([("deny", 0.9)]),
            "不用了谢谢": tracker([("deny", 0.9)]),
        }
    )
    _, rows, _ = await talk(sessions, bot, ["我要理赔", "不是这个", "不用了谢谢"])
    assert [(row.text, row.rank, row.trouble) for row in rows] == [
        ("我要理赔", 2, "cancel"),
        # the bot asked for nothing after this one: a second no is no cancel
        ("不是这个", 9, None),
        ("不用了谢谢", 9, None),
    ]


def test_the_parse_of_a_tracker_without_an_intent_is_none():
    assert parse_of({"latest_message": {}}) is None
    assert parse_of(None) is None
    parse = parse_of(tracker([("faq", 0.8)]))
    assert parse is not None and parse.faq_topic is None and parse.runner_up is None
