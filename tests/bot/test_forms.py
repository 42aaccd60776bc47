"""The service forms' validators and submit actions against a real SQLite store,
from tracker fixtures: exact slot values, responses and rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from bot.actions import common
from bot.actions.advance_payment import ValidateAdvancePaymentForm
from bot.actions.callbacks import ActionSubmitCallback, ValidateCallbackForm
from bot.actions.claim_filing import ActionAskClaimPolicy, ActionSubmitClaim, ValidateClaimForm
from bot.actions.complaints import ActionSubmitComplaint, add_working_days
from bot.actions.forms import CANCELLED, ValidateVerificationForm
from bot.actions.handoff import guarded
from bot.actions.parsing import CHINA, parse_amount, parse_date, parse_mobile, parse_window
from bot.actions.products import ActionProductInfo
from desk.settings import get_settings
from store.demo import generate
from store.identifiers import make_policy_number
from store.models import (
    Callback,
    Claim,
    ClaimStage,
    Complaint,
    Conversation,
    Event,
    FollowUp,
    InsuredMember,
    Policy,
    SmsOutbox,
)
from tests.bot.test_actions import tracker, user

LTM = "P0000000000026"  # demo customer 1's long-term medical policy: himself, spouse, child
ZHANG_WEI_ID = "110105198604120353"  # demo customer 1's ID card number
UNKNOWN = make_policy_number(987654321)  # well formed, and nobody's


@pytest.fixture
async def store(sqlite_url, monkeypatch):
    await generate(sqlite_url, customers=30, progress=lambda *_: None)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    # Demo mode, so that the outbox shows the codes.
    monkeypatch.setenv("DEMO_MODE", "true")
    monkeypatch.setenv("SECRET_KEY", "forms-tests")
    get_settings.cache_clear()
    common.sessions.cache_clear()
    async with common.sessions().begin() as session:
        session.add(Conversation(uid="conv-1", channel="web", external_user_id="s1"))
    yield sqlite_url
    get_settings.cache_clear()
    common.sessions.cache_clear()


def verified(extra: dict | None = None) -> dict:
    return {
        "customer_id": 1,
        "identity_number": "identified",
        "otp_code": "verified",
        **(extra or {}),
    }


async def validate(form, slot: str, value: str, slots: dict | None = None, text: str | None = None):
    dispatcher = CollectingDispatcher()
    events = [user(text or value, "inform")]
    result = await getattr(form, f"validate_{slot}")(
        value, dispatcher, tracker(events, slots, sender="conv-1"), {}
    )
    return result, [m.get("response") for m in dispatcher.messages]


async def run(action, text: str, slots: dict, intent: str = "inform"):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker([user(text, intent)], slots, "conv-1"), {})
    return events, dispatcher.messages


# ---- parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-20", date(2026, 11, 20)),
        ("11月20号住的院", date(2026, 11, 20)),
        ("上个月15号", date(2026, 10, 15)),
        ("昨天", date(2026, 11, 24)),
        ("3 days ago", date(2026, 11, 22)),
        ("Nov 20", date(2026, 11, 20)),
        ("20 November 2026", date(2026, 11, 20)),
        ("12月1日", date(2025, 12, 1)),  # not yet this year: last year
        ("明年1月1号", date(2027, 1, 1)),
        ("去年12月3日", date(2025, 12, 3)),
        ("soon", None),
    ],
)
def test_dates_in_either_language(text, expected):
    assert parse_date(text, date(2026, 11, 25)) == expected


@pytest.mark.parametrize(
    "text, expected",
    [("3500", "3500.00"), ("3,500.5元", "3500.50"), ("1.2万", "12000.00"), ("三千五", "3500.00"),
     ("¥ 8k", "8000.00"), ("一万二", "12000.00"), ("lots", None)],
)  # fmt: skip
def test_amounts(text, expected):
    amount = parse_amount(text)
    assert (str(amount) if amount is not None else None) == expected


def test_mobiles_and_callback_windows():
    assert parse_mobile("139 1234-5678") == "13912345678"
    assert parse_mobile("12345678901") is None
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 11:00 in China
    start, end = parse_window("明天下午", now, time(9), time(21))
    assert (start.isoformat(), end.hour) == ("2026-11-26T14:00:00+08:00", 18)
    assert parse_window("11-25 14:00-16:00", now, time(9), time(21))[0].hour == 14
    assert parse_window("today 3pm", now, time(9), time(21))[0].hour == 15
    assert parse_window("11-25 22:00-23:00", now, time(9), time(21)) is None  # after hours
    assert parse_window("11-25 09:00-11:00", now, time(9), time(21)) is None  # already past


def test_complaints_are_due_in_working_days():
    friday = datetime(2026, 11, 27, 2, tzinfo=UTC)
    assert add_working_days(friday, 1).astimezone(CHINA).weekday() == 0  # Monday


# ---- verification and cancelling ---------------------------------------------------


async def test_verified_customers_skip_the_verification_slots():
    form = ValidateVerificationForm()
    assert await validate(form, "identity_number", "identified", verified()) == (
        {"identity_number": "identified"},
        [],
    )
    slots = await form.required_slots(
        ["identity_number", "otp_code"],
        CollectingDispatcher(),
        tracker([user("x")], verified()),
        {},
    )
    assert slots == []


async def test_cancel_in_words_ends_the_form_and_clears_its_slots(store):
    events, messages = await run(
        ValidateClaimForm(), "算了", verified({"requested_slot": "claim_date", "claim_policy": LTM})
    )
    assert events == [SlotSet(CANCELLED, True), SlotSet("requested_slot", None)]
    assert messages[0]["response"] == "utter_form_cancelled"
    events, messages = await run(
        ActionSubmitClaim(), "算了", verified({CANCELLED: True, "claim_policy": LTM})
    )
    assert messages == []
    assert SlotSet("claim_policy", None) in events and SlotSet(CANCELLED, None) in events
    # the verification stays for the rest of the conversation
    assert SlotSet("otp_code", None) not in events


async def identify_as(text: str, sender: str = "conv-1", address: str | None = None):
    """The identity question answered in a chat, as the form sees it: its slot
    values and every message, whole."""
    dispatcher = CollectingDispatcher()
    event = user(text, "inform")
    if address is not None:
        event["parse_data"]["metadata"] = {"client_address": address}
    result = await ValidateVerificationForm().validate_identity_number(
        text, dispatcher, tracker([event], {}, sender=sender), {}
    )
    return result, dispatcher.messages


async def enter_code(code: str, sender: str = "conv-1"):
    dispatcher = CollectingDispatcher()
    result = await ValidateVerificationForm().validate_otp_code(
        code, dispatcher, tracker([user(code, "inform")], {}, sender=sender), {}
    )
    return result, dispatcher.messages


async def test_known_and_unknown_numbers_get_the_same_answer(store):
    known = await identify_as(f"我的保单号 {LTM}", sender="conv-1")
    unknown = await identify_as(f"我的保单号 {UNKNOWN}", sender="conv-2")
    assert known == unknown == ({"identity_number": "identified"}, [_said("utter_code_sent")])
    # an unknown number's code step is a real one: a wrong code counts and is wrong
    assert (await enter_code("000000", "conv-2"))[1] == [_said("utter_code_wrong", remaining=4)]
    assert (await identify_as("P123"))[1] == [_said("utter_identity_invalid")]


async def test_a_number_given_again_for_the_code_starts_over(store):
    await identify_as(UNKNOWN)  # mistyped
    result, messages = await enter_code(f"不对,是 {LTM}")
    assert (result, messages) == (
        {"identity_number": "identified", "otp_code": None},
        [_said("utter_code_sent")],
    )
    async with common.sessions()() as session:
        sms = await session.scalar(select(SmsOutbox).where(SmsOutbox.mobile == "13800138000"))
    code = sms.text.split("验证码是")[1][:6]
    assert (await enter_code(code))[0] == {"otp_code": "verified", "customer_id": 1}


async def test_a_locked_verification_says_how_long_and_offers_a_person(store, monkeypatch):
    await identify_as(LTM)
    for _ in range(4):
        assert (await enter_code("000000"))[1][0]["response"] == "utter_code_wrong"
    result, [message] = await enter_code("000000")
    # the form ends, and the customer can be put through to someone who verifies another way
    assert result == {"identity_number": None, "otp_code": None, CANCELLED: True,
                      "requested_slot": None}  # fmt: skip
    assert message["response"] == "utter_code_locked" and message["wait"] == "60 分钟"
    assert message["buttons"] == [{"title": "转人工", "payload": "/request_human"}]
    # a new session does not help
    result, [message] = await identify_as(f"身份证 {ZHANG_WEI_ID}", sender="conv-3")
    assert message["response"] == "utter_code_locked" and result[CANCELLED] is True
    async with common.sessions()() as session:
        [event] = (
            await session.scalars(select(Event).where(Event.kind == "verification_locked"))
        ).all()
        conversation = await session.scalar(
            select(Conversation).where(Conversation.uid == "conv-1")
        )
    assert (event.conversation_id, event.customer_id) == (conversation.id, 1)
    assert event.data["reason"] == "wrong_codes"
    stored = str(event.data)
    assert "8000" not in stored and ZHANG_WEI_ID not in stored and LTM not in stored


async def test_identifications_are_throttled_per_client_address(store, monkeypatch):
    monkeypatch.setenv("VERIFICATION_IDENTIFICATIONS_PER_ADDRESS", "2")
    get_settings.cache_clear()
    # numbers nobody holds, each tried once (a number's own limits stay out of it)
    numbers = iter(make_policy_number(987654321 + n) for n in range(10))
    for n in range(2):
        result, _ = await identify_as(next(numbers), sender=f"web-{n}", address="203.0.113.9")
        assert result == {"identity_number": "identified"}
    result, [message] = await identify_as(next(numbers), sender="web-2", address="203.0.113.9")
    assert message["response"] == "utter_code_locked" and result[CANCELLED] is True
    # another address, or none (the gateway did not send one), is not held back
    found = await identify_as(next(numbers), sender="web-3", address="198.51.100.7")
    assert found[0] == {"identity_number": "identified"}
    assert (await identify_as(next(numbers), sender="web-4"))[0] == {
        "identity_number": "identified"
    }


def _said(response: str, **values) -> dict:
    """A message as the CollectingDispatcher keeps it."""
    return {"text": None, "buttons": [], "elements": [], "custom": {}, "template": response,
            "response": response, "image": None, "attachment": None, **values}  # fmt: skip


# ---- filing a claim -----------------------------------------------------------------


async def test_claim_policy_buttons_and_validation(store):
    _, messages = await run(ActionAskClaimPolicy(), "我要理赔", verified())
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert LTM in payloads and all(p.startswith("P") for p in payloads)
    form = ValidateClaimForm()
    # a long-term medical policy: three insured people, two kinds of claim, a card on file
    assert await validate(form, "claim_policy", f"就这个 {LTM.lower()}", verified()) == (
        {"claim_policy": LTM},
        [],
    )
    assert (await validate(form, "claim_policy", "P0000000000042", verified()))[0] == {
        "claim_policy": None
    }  # customer 2's policy, not theirs


async def test_claim_details_are_checked_against_the_policy(store):
    form, slots = ValidateClaimForm(), verified({"claim_policy": LTM})
    assert (await validate(form, "claim_member", "我儿子", slots))[0]["claim_member"].isdigit()
    assert (await validate(form, "claim_member", "王五", slots))[1] == [
        "utter_claim_member_invalid"
    ]
    assert await validate(form, "claim_type", "住院医疗", slots) == (
        {"claim_type": "hospitalisation"},
        [],
    )
    assert (await validate(form, "claim_type", "重疾", slots))[1] == ["utter_claim_type_invalid"]
    tomorrow = (datetime.now(CHINA).date() + timedelta(days=1)).isoformat()
    assert (await validate(form, "claim_date", tomorrow, slots))[1] == ["utter_claim_date_future"]
    assert (await validate(form, "claim_date", "2023-01-02", slots))[1] == [
        "utter_claim_date_uncovered"
    ]  # before the policy started on 2023-03-15
    recent = (datetime.now(CHINA).date() - timedelta(days=10)).isoformat()
    assert (await validate(form, "claim_date", recent, slots))[0] == {"claim_date": recent}
    assert (await validate(form, "claim_amount", "0", slots))[1] == ["utter_claim_amount_invalid"]
    assert (await validate(form, "claim_amount", "9999万", slots))[1] == [
        "utter_claim_amount_too_high"
    ]
    assert (await validate(form, "claim_amount", "三千五", slots))[0] == {"claim_amount": "3500.00"}
    assert (await validate(form, "claim_bank", "确认", slots))[0] == {"claim_bank": "confirmed"}
    assert (await validate(form, "claim_bank", "换一张卡", slots))[0] == {"claim_bank": "change"}


async def test_a_filed_claim_is_in_the_store_with_its_checklist(store):
    async with common.sessions()() as session:
        policy = await session.scalar(select(Policy).where(Policy.number == LTM))
        member_id = await session.scalar(
            select(InsuredMember.id).where(
                InsuredMember.policy_id == policy.id, InsuredMember.relation == "child"
            )
        )
    slots = verified(
        {
            "claim_policy": LTM,
            "claim_type": "outpatient",
            "claim_date": "2026-11-02",
            "claim_hospital": "北京协和医院",
            "claim_amount": "3500.00",
            "claim_bank": "confirmed",
        }
    )
    slots["claim_member"] = str(member_id)
    events, messages = await run(ActionSubmitClaim(), "确认", slots)
    assert messages[0]["response"] == "utter_claim_filed"
    number = messages[0]["number"]
    assert messages[1]["text"].startswith("门诊理赔需要准备以下材料")
    async with common.sessions()() as session:
        claim = await session.scalar(select(Claim).where(Claim.number == number))
    assert claim.policy_id == policy.id and claim.member_id == member_id
    assert claim.stage == ClaimStage.SUBMITTED and str(claim.amount_claimed) == "3500.00"
    assert any("门诊病历" in d for d in claim.missing_documents)
    assert SlotSet("claim_policy", None) in events


async def test_a_new_bank_card_goes_to_a_person(store):
    slots = verified({"claim_policy": LTM, "claim_member": "1", "claim_type": "outpatient",
                      "claim_date": "2026-11-02", "claim_hospital": "协和", "claim_amount": "1.00",
                      "claim_bank": "change"})  # fmt: skip
    _, messages = await run(ActionSubmitClaim(), "换卡", slots)
    assert messages[0]["response"] == "utter_claim_bank_change"
    assert messages[-1]["custom"]["handoff"]["reason"] == "bank_account_change"


# ---- complaints, advance payment, callbacks ------------------------------------------


async def test_a_complaint_gets_a_number_a_due_date_and_a_follow_up(store):
    slots = {
        "complaint_category": "claims",
        "complaint_description": "理赔拖了一个月还没结果",
        "complaint_outcome": "尽快赔付",
    }
    _, messages = await run(ActionSubmitComplaint(), "尽快赔付", slots)
    number = messages[0]["number"]
    assert messages[0]["response"] == "utter_complaint_recorded"
    assert [b["payload"] for b in messages[1]["buttons"]] == ["是,转人工", "不用了"]
    async with common.sessions()() as session:
        complaint = await session.scalar(select(Complaint).where(Complaint.number == number))
        follow_up = await session.scalar(
            select(FollowUp).where(FollowUp.complaint_id == complaint.id)
        )
    assert complaint.category == "claims" and complaint.customer_id is None
    assert follow_up.team == "complaints" and follow_up.kind == "complaint"


async def test_advance_payment_below_the_deductible_ends_the_form(store):
    result, messages = await validate(
        ValidateAdvancePaymentForm(), "ap_amount", "5000", verified({"ap_policy": LTM})
    )
    assert result == {"ap_amount": None, CANCELLED: True, "requested_slot": None}
    assert messages == ["utter_ap_below_deductible"]
    assert (await validate(ValidateAdvancePaymentForm(), "ap_amount", "5万", verified()))[0] == {
        "ap_amount": "50000.00"
    }


async def test_advance_payment_admission_dates_may_lie_ahead(store):
    form, slots = ValidateAdvancePaymentForm(), verified({"ap_policy": LTM})
    tomorrow = datetime.now(CHINA).date() + timedelta(days=1)
    assert (await validate(form, "ap_admission_date", "明天", slots))[0] == {
        "ap_admission_date": tomorrow.isoformat()
    }
    assert (await validate(form, "ap_admission_date", "2030-01-01", slots))[1] == [
        "utter_ap_date_out_of_range"
    ]


async def test_a_new_callback_number_is_proved_with_a_code(store):
    form, slots = ValidateCallbackForm(), verified()
    assert (await validate(form, "callback_phone", "本机 138****8000", slots))[0] == {
        "callback_phone": "on_file"
    }
    result, messages = await validate(form, "callback_phone", "打这个 139 1111 2222", slots)
    assert result == {"callback_phone": "new", "callback_code": None}
    assert messages == ["utter_callback_code_sent"]
    async with common.sessions()() as session:
        sms = await session.scalar(select(SmsOutbox).where(SmsOutbox.mobile == "13911112222"))
    code = sms.text.split("验证码是")[1][:6]
    assert (await validate(form, "callback_code", "000000", slots))[1] == ["utter_code_wrong"]
    assert (await validate(form, "callback_code", code, slots))[0] == {"callback_code": "verified"}
    start = datetime.now(CHINA).replace(microsecond=0) + timedelta(days=1)
    window = f"{start.isoformat()}/{(start + timedelta(hours=2)).isoformat()}"
    slots.update(callback_window=window, callback_phone="new", callback_code="verified")
    _, messages = await run(ActionSubmitCallback(), code, slots)
    assert messages[0]["response"] == "utter_callback_scheduled"
    assert messages[0]["mobile"] == "139****2222"
    async with common.sessions()() as session:
        callback = await session.scalar(select(Callback))
    assert callback.phone == "13911112222" and callback.customer_id == 1


# ---- products and failures ---------------------------------------------------------


async def test_products_from_the_catalogue():
    _, messages = await run(ActionProductInfo(), "重疾险等待期多久", {}, "ask_product")
    assert messages[0]["text"].startswith("人保健康·重大疾病保险的等待期:等待期90天")
    _, messages = await run(ActionProductInfo(), "what do you sell?", {"language": "en"})
    assert messages[0]["response"] == "utter_product_overview"
    assert len(messages[0]["buttons"]) == 4


async def test_a_failing_action_hands_over_and_ends_the_form():
    class Broken:
        def name(self):
            return "action_broken"

        @guarded
        async def run(self, dispatcher, tracker, domain):
            raise RuntimeError("store down")

    events, messages = await run(Broken(), "我要理赔", {})
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None)]
    assert messages[0]["response"] == "utter_action_failed"
    assert messages[1]["custom"]["handoff"]["reason"] == "action_failed"
