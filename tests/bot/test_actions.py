"""Custom actions run directly, as rasa-sdk's and financial-demo's tests do:
a Tracker built from a dict, a CollectingDispatcher, exact events and responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import update

from bot.actions import common
from bot.actions.callbacks import CHINA, next_window
from bot.actions.claims import ActionClaimStatus, ActionPolicySummary
from bot.actions.documents import ActionClaimDocuments
from bot.actions.fallback import ActionDefaultFallback
from bot.actions.handoff import ActionHandoff
from bot.actions.session import ActionSessionStart
from bot.actions.verification import ActionAfterVerification
from desk.settings import get_settings
from store.demo import generate
from store.identities import link_verified
from store.models import ChannelIdentity, Conversation


def user(text: str, intent: str = "nlu_fallback", entities=None) -> dict:
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities or [],
        },
    }


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def tracker(events: list[dict], slots: dict | None = None, sender: str = "test-sender") -> Tracker:
    latest = next(e for e in reversed(events) if e["event"] == "user")
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {"language": "zh", "customer_id": None, **(slots or {})},
            "latest_message": latest["parse_data"],
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


async def run(action_class, events, slots=None):
    dispatcher = CollectingDispatcher()
    result = await action_class().run(dispatcher, tracker(events, slots), {})
    return result, dispatcher.messages


async def test_first_fallback_says_so_and_forgets_the_message():
    events, messages = await run(ActionDefaultFallback, [action("action_listen"), user("嗯嗯啊啊")])
    assert events == [UserUtteranceReverted()]
    assert [m["response"] for m in messages] == ["utter_default"]


async def test_second_fallback_in_a_row_hands_over():
    history = [
        user("asdf"),
        action("action_default_fallback"),
        {"event": "rewind"},
        action("action_listen"),
        user("qwer"),
    ]
    events, messages = await run(ActionDefaultFallback, history)
    assert events == []
    assert messages[0]["response"] == "utter_handoff"
    assert messages[1]["custom"]["handoff"]["reason"] == "fallback"


async def test_handoff_directive_names_the_team_and_summarises():
    history = [
        user("我的理赔到哪了", "ask_claim_status"),
        action("action_claim_status"),
        action("action_listen"),
        user("110105198604120353", "inform"),
        user("184457", "inform"),
        user("转人工", "request_human"),
    ]
    _, messages = await run(ActionHandoff, history)
    assert messages[0]["response"] == "utter_handoff"
    directive = messages[1]["custom"]["handoff"]
    assert directive == {
        "reason": "customer_request",
        "team": "claims",
        "intents": ["ask_claim_status", "inform", "inform", "request_human"],
        # the ID card number and the one-time code the customer typed, masked
        "summary": "我的理赔到哪了 | 110***********0353 | ****** | 转人工",
        "verified_customer_id": None,
    }


@pytest.mark.parametrize(
    "action_class, pending", [(ActionClaimStatus, "claim_status"), (ActionPolicySummary, "policy")]
)
async def test_nothing_is_disclosed_before_verification(action_class, pending):
    events, messages = await run(action_class, [user("我的理赔到哪了", "ask_claim_status")])
    assert events == [SlotSet("pending_request", pending)]
    assert [m["response"] for m in messages] == ["utter_verification_needed"]


async def test_a_named_number_travels_with_the_request_and_verified_customers_are_not_asked():
    events, messages = await run(
        ActionClaimStatus,
        [user("查一下 c0000000000018 到哪了", "ask_claim_status")],
        {"customer_id": 1},
    )
    assert events == [SlotSet("pending_request", "claim_status:C0000000000018")]
    assert messages == []


async def test_documents_for_a_named_kind_of_claim():
    _, messages = await run(
        ActionClaimDocuments, [user("住院报销要什么材料", "ask_claim_documents")]
    )
    assert messages[0]["text"].startswith("住院医疗理赔需要准备以下材料")
    assert "出院小结" in messages[0]["text"]
    _, messages = await run(
        ActionClaimDocuments,
        [user("documents for an accident claim?", "ask_claim_documents")],
        {"language": "en"},
    )
    lines = messages[0]["text"].split("\n")
    assert lines[0] == "For accident claims, please prepare:"
    assert "3. a record of the accident (e.g. the police report)" in lines


async def test_documents_ask_which_kind_with_buttons_whose_payloads_name_it():
    _, messages = await run(ActionClaimDocuments, [user("理赔要什么资料", "ask_claim_documents")])
    assert messages[0]["response"] == "utter_ask_claim_kind"
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[0] == '/ask_claim_documents{"claim_kind": "hospitalisation"}'
    chosen = json.loads(payloads[1].removeprefix("/ask_claim_documents"))
    entity = [{"entity": "claim_kind", "value": chosen["claim_kind"]}]
    _, messages = await run(
        ActionClaimDocuments, [user(payloads[1], "ask_claim_documents", entity)]
    )
    assert messages[0]["text"].startswith("门诊理赔")


def test_callback_windows_fall_inside_service_hours():
    evening = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)  # 20:30 in China
    start, end = next_window(evening)
    assert start.astimezone(CHINA).isoformat() == "2026-11-03T09:00:00+08:00"
    assert (end - start).total_seconds() == 7200
    morning = datetime(2026, 11, 2, 2, 10, tzinfo=UTC)  # 10:10 in China
    assert next_window(morning)[0].astimezone(CHINA).hour == 11


@pytest.fixture
async def store(sqlite_url, monkeypatch):
    await generate(sqlite_url, customers=30, progress=lambda *_: None)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    common.sessions.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()
    common.sessions.cache_clear()


async def test_claim_status_shows_only_the_verified_customers_claims(store):
    events, messages = await run(
        ActionAfterVerification,
        [user("123456", "inform")],
        {"customer_id": 1, "pending_request": "claim_status"},
    )
    assert events == [SlotSet("pending_request", None)]
    texts = [m["text"] for m in messages]
    assert len(texts) == 2
    assert any("审核中" in t for t in texts) and any("已赔付" in t for t in texts)
    _, others = await run(
        ActionAfterVerification,
        [user("我的理赔到哪了", "ask_claim_status")],
        {"customer_id": 2, "pending_request": "claim_status"},
    )
    assert not set(texts) & {m["text"] for m in others}
    assert "待补充材料" in others[0]["text"] and "还需补充" in others[0]["text"]


async def test_a_named_claim_of_someone_else_is_not_shown(store):
    mine = {"customer_id": 2, "pending_request": "claim_status"}
    _, messages = await run(ActionAfterVerification, [user("x", "ask_claim_status")], mine)
    number = messages[0]["text"].split()[1].split("(")[0]
    theirs = {"customer_id": 1, "pending_request": f"claim_status:{number}"}
    _, messages = await run(ActionAfterVerification, [user("x", "ask_claim_status")], theirs)
    assert [m["response"] for m in messages] == ["utter_no_claims"]


async def start_session(sender: str, slots: dict) -> list[dict]:
    history = Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {"language": "zh", "customer_id": None, **slots},
            "latest_message": {},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )
    domain = {"session_config": {"carry_over_slots_to_new_session": True}}
    return await ActionSessionStart().run(CollectingDispatcher(), history, domain)


async def test_a_session_starts_verified_as_the_store_says(store):
    engine_sessions = common.sessions()
    async with engine_sessions.begin() as session:
        remembered = Conversation(channel="wechat", external_user_id="openid-9", customer_id=3)
        fresh = Conversation(channel="web", external_user_id="s" * 20)
        session.add_all([remembered, fresh])
        await session.flush()
        await link_verified(session, remembered, 3, method="sms_code")
    events = await start_session(remembered.uid, {"language": "en"})
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    assert set(map(json.dumps, events[1:-1])) == set(
        map(
            json.dumps,
            [
                SlotSet("language", "en"),
                SlotSet("customer_id", 3),
                SlotSet("identity_number", "identified"),
                SlotSet("otp_code", "verified"),
            ],
        )
    )
    # a slot claiming verification that the store does not back is dropped
    events = await start_session(fresh.uid, {"customer_id": 5, "otp_code": "verified"})
    assert events == [SessionStarted(), SlotSet("language", "zh"), ActionExecuted("action_listen")]
    # and a lapsed verification is forgotten, in the store too
    async with engine_sessions.begin() as session:
        await session.execute(
            update(ChannelIdentity).values(verified_at=datetime.now(UTC) - timedelta(days=400))
        )
    events = await start_session(remembered.uid, {"customer_id": 3, "otp_code": "verified"})
    assert SlotSet("customer_id", 3) not in events
    async with engine_sessions() as session:
        assert (await session.get(Conversation, remembered.id)).customer_id is None
