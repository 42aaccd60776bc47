"""The bot's responses on the trainer's workbench: both languages side by side, FAQ
answers first, and a text edited in one language as just that edit."""

from __future__ import annotations

import pytest

from desk.errors import DeskError
from desk.training import responses
from desk.training.project import TrainingConflict
from tests.desk.training_project import changes, safe_load, snapshot

CHITCHAT = "bot/domain/chitchat.yml"
FAQ = "bot/domain/faq.yml"


def test_every_response_is_listed_in_both_languages_faq_answers_first(project):
    expected = {}
    for path in project.domain_files():
        for name, variants in (safe_load(path).get("responses") or {}).items():
            zh = [v["text"] for v in variants if "condition" not in v]
            en = [v["text"] for v in variants if v.get("condition")]
            expected[name] = (str(path.relative_to(project.root)), {"zh": zh, "en": en})

    listed = responses.list_responses(project)

    assert {r.name: (r.file, r.texts) for r in listed} == expected
    faq = [r.is_faq for r in listed]
    assert faq == sorted(faq, reverse=True) and faq[0] and not faq[-1]
    assert listed[0].name == "utter_faq/waiting_period"
    assert all(len(r.texts["zh"]) == len(r.texts["en"]) == 1 for r in listed)


def test_a_response_is_shown_in_chinese_and_english(project):
    greet = responses.response(project, "utter_greet")

    assert greet.texts["zh"][0].startswith("您好!我是健康险智能客服")
    assert greet.texts["en"][0].startswith("Hello! I'm the health insurance assistant.")
    assert greet.file == CHITCHAT and not greet.is_faq


def test_an_english_text_edited_is_that_line_alone_quoted_as_before(project):
    before = snapshot(project)
    seen = responses.response(project, "utter_goodbye")

    saved = responses.edit_response(
        project, "utter_goodbye", "en", "Goodbye, stay well!", seen.version
    )

    assert changes(before, project) == {
        CHITCHAT: [
            '-    - text: "Thanks for contacting us. Stay healthy, goodbye!"',
            '+    - text: "Goodbye, stay well!"',
        ]
    }
    assert saved.texts == {"zh": seen.texts["zh"], "en": ["Goodbye, stay well!"]}
    assert saved.version != seen.version
    assert responses.response(project, "utter_goodbye") == saved


def test_a_chinese_faq_answer_edited_is_that_line_alone(project):
    before = snapshot(project)
    seen = responses.response(project, "utter_faq/hospitals")
    text = "一般保障二级及以上公立医院普通部的费用，以保单条款为准。"

    saved = responses.edit_response(project, "utter_faq/hospitals", "zh", text, seen.version)

    changed = changes(before, project)
    assert list(changed) == [FAQ]
    assert changed[FAQ] == [f'-    - text: "{seen.texts["zh"][0]}"', f'+    - text: "{text}"']
    assert saved.texts["en"] == seen.texts["en"]


def test_tricky_response_texts_round_trip_and_the_file_stays_valid(project):
    text = 'Type "agent" \\ {hours} #1: - 😀 第一行\n第二行'
    seen = responses.response(project, "utter_goodbye")

    responses.edit_response(project, "utter_goodbye", "en", text, seen.version)

    assert responses.response(project, "utter_goodbye").texts["en"] == [text]
    assert safe_load(project.root / CHITCHAT)["responses"]["utter_goodbye"][1]["text"] == text


def test_a_response_without_a_variant_in_a_language_gains_one(project):
    path = project.domain / "extra.yml"
    path.write_text(
        'version: "3.1"\nresponses:\n  utter_extra:\n    - text: "只有中文"\n', encoding="utf-8"
    )
    seen = responses.response(project, "utter_extra")

    saved = responses.edit_response(project, "utter_extra", "en", "English too", seen.version)

    assert saved.texts == {"zh": ["只有中文"], "en": ["English too"]}
    assert safe_load(path)["responses"]["utter_extra"] == [
        {"text": "只有中文"},
        {
            "text": "English too",
            "condition": [{"type": "slot", "name": "language", "value": "en"}],
        },
    ]


def test_two_trainers_on_one_response_the_second_is_told_of_the_first_change(project):
    seen = responses.response(project, "utter_goodbye")
    responses.edit_response(project, "utter_goodbye", "zh", "再见，祝您健康!", seen.version)
    after_first = snapshot(project)

    with pytest.raises(TrainingConflict) as refused:
        responses.edit_response(project, "utter_goodbye", "en", "Bye!", seen.version)

    assert refused.value.code == "conflict" and refused.value.status == 409
    assert refused.value.current.texts["zh"] == ["再见，祝您健康!"]
    assert snapshot(project) == after_first


@pytest.mark.parametrize(
    ("name", "language", "text", "code"),
    [
        ("greet", "en", "Hi", "bad_response_name"),
        ("utter_Greet", "en", "Hi", "bad_response_name"),
        ("utter_faq/a/b", "en", "Hi", "bad_response_name"),
        ("utter_no_such_response", "en", "Hi", "not_found"),
        ("utter_greet", "fr", "Salut", "bad_language"),
        ("utter_greet", "en", "  \n ", "empty_response"),
        ("utter_greet", "en", "x" * 2001, "response_too_long"),
        ("utter_greet", "en", "a bell \x07", "bad_character"),
    ],
)
def test_a_response_edit_that_cannot_be_is_refused(project, name, language, text, code):
    before = snapshot(project)
    seen = responses.response(project, "utter_greet")

    with pytest.raises(DeskError) as refused:
        responses.edit_response(project, name, language, text, seen.version)

    assert refused.value.code == code
    assert snapshot(project) == before
