"""Test stories from conversations: a real tracker's events (captured from the real stack
in tests/test_stories_from_conversations.py) become a masked story with the trainers'
labels, and saving adds or replaces it in its file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desk.errors import DeskError
from desk.training import masking, stories
from tests.desk.training_project import copy_project

EVENTS = json.loads((Path(__file__).parent / "tracker_claim_status.json").read_text("utf-8"))


def mask(text: str, after_code_request: bool) -> str:
    return masking.mask(text, names=["张伟"], after_code_request=after_code_request)


def user(text: str, intent: str, **parse) -> dict:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}, **parse}}


def test_a_real_tracker_becomes_a_masked_story_of_its_last_session():
    assert stories.steps_of(EVENTS, mask) == [
        {"user": "你好", "intent": "greet"},
        {"slot_was_set": [{"language": "zh"}]},
        {"action": "utter_greet"},
        {"user": "我的理赔到哪了", "intent": "ask_claim_status"},
        {"slot_was_set": [{"language": "zh"}]},
        {"action": "action_claim_status"},
        {"slot_was_set": [{"pending_request": "claim_status"}]},
        {"action": "verification_form"},
        {"active_loop": "verification_form"},
        {"slot_was_set": [{"language": "zh"}, {"requested_slot": "identity_number"}]},
        {"user": "<POLICY_NO>", "intent": "inform"},
        {"slot_was_set": [{"identity_number": "<POLICY_NO>"}]},
        {"action": "verification_form"},
        {"slot_was_set": [{"identity_number": "identified"}, {"requested_slot": "otp_code"}]},
        {"user": "验证码 <CODE>", "intent": "inform"},
        {"slot_was_set": [{"otp_code": "验证码 <CODE>"}]},
        {"action": "verification_form"},
        {
            "slot_was_set": [
                {"otp_code": "verified"},
                {"customer_id": 1},
                {"requested_slot": None},
                {"requested_slot": None},
            ]
        },
        {"active_loop": None},
        {"action": "action_after_verification"},
        {"slot_was_set": [{"pending_request": None}]},
        {"user": "谢谢", "intent": "thank"},
        {"slot_was_set": [{"language": "zh"}]},
        {"action": "utter_you_are_welcome"},
    ]


def test_a_bare_code_is_masked_after_the_bot_asked_for_one_and_not_before():
    events = [
        user("482913", "inform"),
        {"event": "slot", "name": "requested_slot", "value": "otp_code"},
        user("482913", "inform"),
    ]
    said = [step["user"] for step in stories.steps_of(events, mask) if "user" in step]
    assert said == ["482913", "<CODE>"]


def test_the_trainers_labels_win_in_order_and_only_for_the_text_they_labelled():
    labels = [("<POLICY_NO>", "inform"), ("谢谢", "goodbye")]
    intents = [s["intent"] for s in stories.steps_of(EVENTS, mask, labels) if "intent" in s]
    assert intents == ["greet", "ask_claim_status", "inform", "inform", "goodbye"]


def test_a_fallback_names_the_intent_behind_it_and_an_faq_its_topic():
    fallback = user(
        "嗯嗯那个",
        "nlu_fallback",
        intent_ranking=[{"name": "nlu_fallback"}, {"name": "affirm"}, {"name": "greet"}],
    )
    faq = user(
        "等待期多久",
        "faq",
        response_selector={"faq": {"response": {"intent_response_key": "faq/waiting_period"}}},
    )
    button = user("/request_human", "request_human")
    steps = stories.steps_of([fallback, faq, button, {"event": "bot", "text": "hi"}], mask)
    assert steps == [
        {"user": "嗯嗯那个", "intent": "affirm"},
        {"user": "等待期多久", "intent": "faq/waiting_period"},
        {"intent": "request_human"},
    ]


def test_names_in_what_the_customer_said_are_masked():
    steps = stories.steps_of([user("我是张伟,查保单", "ask_policy")], mask)
    assert steps == [{"user": "我是<NAME>,查保单", "intent": "ask_policy"}]


def test_a_conversation_with_nothing_the_customer_said_is_no_story():
    with pytest.raises(DeskError) as refused:
        stories.story_of("empty", [{"event": "action", "name": "action_listen"}], mask, [])
    assert refused.value.code == "empty_story"


def test_saving_adds_a_story_and_saving_it_again_replaces_only_it(tmp_path):
    project = copy_project(tmp_path / "project")
    first = stories.story_of("conversation 7 (zh)", EVENTS, mask, [])
    other = stories.Story("conversation 8 (en)", [{"user": "hello", "intent": "greet"}])
    assert stories.save(project, first) == (str(stories.STORIES_FILE), None)
    assert stories.save(project, other)[1] is None
    relabelled = stories.story_of("conversation 7 (zh)", EVENTS, mask, [("谢谢", "goodbye")])
    file, before = stories.save(project, relabelled)
    assert before is not None and "intent: thank" in before and "goodbye" not in before
    assert stories.saved_names(project) == ["conversation 7 (zh)", "conversation 8 (en)"]
    written = (project.root / file).read_text("utf-8")
    assert written.startswith('version: "3.1"\nstories:\n  - story: "conversation 7 (zh)"\n')
    assert relabelled.yaml().split("stories:\n", 1)[1] in written
    assert "intent: goodbye" in written and "intent: thank" not in written
