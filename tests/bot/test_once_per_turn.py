"""What the actions create, they create once per chat turn: the same turn run again
(the gateway sends a turn again after a crash, or a slow action server finishes a
turn the gateway gave up on) files one claim and answers with the same number."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from bot.actions import common, complaints
from bot.actions.advance_payment import ActionSubmitAdvancePayment
from bot.actions.callbacks import ActionSubmitCallback
from bot.actions.claim_filing import ActionSubmitClaim
from bot.actions.complaints import ActionSubmitComplaint
from bot.actions.forms import add_numbered, turn_key
from bot.actions.parsing import CHINA
from desk.settings import get_settings
from store.models import (
    AdvancePayment,
    Callback,
    Claim,
    Complaint,
    Event,
    FollowUp,
    InsuredMember,
    Policy,
)
from tests.bot.test_actions import tracker, user
from tests.bot.test_forms import LTM, store, verified  # noqa: F401 - the store fixture


@pytest.fixture
async def actions(store):  # noqa: F811
    """The demo store the actions use; its connections closed before the test's loop is."""
    yield store
    await common.sessions().kw["bind"].dispose()


def turn(text: str, slots: dict, seq: int):
    """The tracker of the customer's message `seq`, as the gateway sends it to Rasa."""
    event = user(text, "inform")
    event["parse_data"]["metadata"] = {"channel": "web", "language": "zh", "turn": seq}
    event["parse_data"]["message_id"] = f"rasa-{seq}"
    return tracker([event], slots, "conv-1")


async def replies(action, text: str, slots: dict, seq: int) -> list[dict]:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, turn(text, slots, seq), {})
    return dispatcher.messages


async def count(model, *where) -> int:
    async with common.sessions()() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def claim_slots() -> dict:
    async with common.sessions()() as session:
        policy = await session.scalar(select(Policy).where(Policy.number == LTM))
        member_id = await session.scalar(
            select(InsuredMember.id).where(
                InsuredMember.policy_id == policy.id, InsuredMember.relation == "child"
            )
        )
    return verified(
        {
            "claim_policy": LTM,
            "claim_member": str(member_id),
            "claim_type": "outpatient",
            "claim_date": (datetime.now(CHINA).date() - timedelta(days=5)).isoformat(),
            "claim_hospital": "北京协和医院",
            "claim_amount": "3500.00",
            "claim_bank": "confirmed",
        }
    )


def test_a_turn_is_named_by_the_gateway_then_by_rasa():
    assert turn_key(turn("确认", {}, 12)) == "conv-1:12"
    bare = user("确认")
    bare["parse_data"]["message_id"] = "abc"
    assert turn_key(tracker([bare], {}, "conv-1")) == "conv-1:abc"
    assert turn_key(tracker([user("确认")], {}, "conv-1")) is None


async def test_a_claim_filed_twice_in_one_turn_is_filed_once(actions):
    slots = await claim_slots()
    first = await replies(ActionSubmitClaim(), "确认", slots, 9)
    again = await replies(ActionSubmitClaim(), "确认", slots, 9)
    assert first[0]["response"] == "utter_claim_filed"
    assert again == first  # the same number, amount, person and checklist
    number = first[0]["number"]
    assert await count(Claim, Claim.number == number) == 1
    assert await count(Claim, Claim.turn_key == "conv-1:9") == 1
    assert await count(Event, Event.kind == "claim_filed") == 1
    # another turn is another claim
    other = await replies(ActionSubmitClaim(), "确认", slots, 15)
    assert other[0]["number"] != number
    assert await count(Claim, Claim.turn_key.is_not(None)) == 2


async def test_one_turn_run_twice_at_once_files_one_claim(actions):
    slots = await claim_slots()
    first, again = await asyncio.gather(
        replies(ActionSubmitClaim(), "确认", slots, 9),
        replies(ActionSubmitClaim(), "确认", slots, 9),
    )
    assert first[0]["response"] == again[0]["response"] == "utter_claim_filed"
    assert first[0]["number"] == again[0]["number"]
    assert await count(Claim, Claim.turn_key == "conv-1:9") == 1


async def test_a_complaint_lodged_twice_in_one_turn_is_lodged_once(actions):
    slots = {
        "complaint_category": "claims",
        "complaint_description": "理赔拖了一个月还没结果",
        "complaint_outcome": "尽快赔付",
    }
    first = await replies(ActionSubmitComplaint(), "尽快赔付", slots, 4)
    again = await replies(ActionSubmitComplaint(), "尽快赔付", slots, 4)
    assert first[0]["response"] == "utter_complaint_recorded"
    assert again == first  # the same number and due date
    assert await count(Complaint) == 1
    assert await count(FollowUp, FollowUp.kind == "complaint") == 1
    await replies(ActionSubmitComplaint(), "尽快赔付", slots, 6)
    assert await count(Complaint) == 2


async def test_an_advance_payment_requested_twice_in_one_turn_is_recorded_once(actions):
    slots = verified(
        {
            "ap_policy": LTM,
            "ap_admission_date": (datetime.now(CHINA).date() + timedelta(days=3)).isoformat(),
            "ap_hospital": "北京协和医院",
            "ap_amount": "50000.00",
        }
    )
    first = await replies(ActionSubmitAdvancePayment(), "5万", slots, 8)
    again = await replies(ActionSubmitAdvancePayment(), "5万", slots, 8)
    assert first[0]["response"] == "utter_advance_payment_recorded"
    assert again == first
    assert await count(AdvancePayment) == 1
    assert await count(FollowUp, FollowUp.kind == "advance_payment") == 1
    await replies(ActionSubmitAdvancePayment(), "5万", slots, 10)
    assert await count(AdvancePayment) == 2


async def test_a_callback_asked_for_twice_in_one_turn_is_scheduled_once(actions):
    start = datetime.now(CHINA).replace(microsecond=0) + timedelta(days=1)
    window = f"{start.isoformat()}/{(start + timedelta(hours=2)).isoformat()}"
    slots = verified({"callback_window": window, "callback_phone": "on_file"})
    first = await replies(ActionSubmitCallback(), "本机", slots, 5)
    again = await replies(ActionSubmitCallback(), "本机", slots, 5)
    assert first[0]["response"] == "utter_callback_scheduled"
    assert again == first
    assert await count(Callback) == 1
    await replies(ActionSubmitCallback(), "本机", slots, 7)
    assert await count(Callback) == 2


async def test_an_action_that_runs_out_of_time_hands_over_and_files_nothing(actions, monkeypatch):
    """Rasa waits 5 minutes for an action; the gateway 20 s. An action still running
    when the gateway has given up must not file anything: it gives up first."""
    monkeypatch.setenv("ACTION_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    stuck = asyncio.Event()  # never set: the store hangs once the complaint is inserted

    async def insert_then_hang(session, row, make_number):
        number = await add_numbered(session, row, make_number)
        await stuck.wait()
        return number

    monkeypatch.setattr(complaints, "add_numbered", insert_then_hang)
    slots = {
        "complaint_category": "claims",
        "complaint_description": "理赔拖了一个月还没结果",
        "complaint_outcome": "尽快赔付",
    }
    messages = await asyncio.wait_for(replies(ActionSubmitComplaint(), "尽快赔付", slots, 4), 10)
    assert messages[0]["response"] == "utter_action_failed"
    assert messages[1]["custom"]["handoff"]["reason"] == "action_failed"
    assert await count(Complaint) == 0 and await count(FollowUp) == 0
