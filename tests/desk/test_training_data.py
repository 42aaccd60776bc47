"""Intents and examples on the trainer's workbench: what the files say, each kind of
edit written back to its own file as just that edit, and the refusals."""

from __future__ import annotations

import pytest

from bot.components.language import detect_language
from desk.errors import DeskError
from desk.training import examples
from desk.training.examples import NearDuplicate
from desk.training.project import TrainingConflict
from tests.desk.training_project import changes, parsed_examples, safe_load, snapshot

FAQ = "bot/data/nlu/faq.yml"
CHITCHAT = "bot/data/nlu/chitchat.yml"
OUT_OF_SCOPE = "bot/data/nlu/out_of_scope.yml"


def test_every_intent_is_listed_with_its_counts_per_language_as_in_the_files(project):
    expected = {}
    for path in sorted((project.data / "nlu").glob("*.yml")):
        for entry in safe_load(path)["nlu"]:
            texts = [line[2:] for line in entry["examples"].splitlines()]
            counts = {"zh": 0, "en": 0, "other": 0}
            for text in texts:
                counts[detect_language(text) or "other"] += 1
            expected[entry["intent"]] = (str(path.relative_to(project.root)), counts)

    listed = examples.list_intents(project)

    assert {s.name: (s.file, s.counts) for s in listed} == expected
    assert len(listed) == 26
    assert next(s for s in listed if s.name == "faq/waiting_period").counts["en"] == 49


def test_an_intent_under_30_examples_in_a_language_is_flagged_for_that_language(project):
    texts = [f"示例第{n}条" for n in range(30)] + [f"example number {n}" for n in range(29)]
    (project.data / "nlu" / "few.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: few\n    examples: |\n'
        + "".join(f"      - {text}\n" for text in texts),
        encoding="utf-8",
    )

    summaries = {s.name: s for s in examples.list_intents(project)}

    assert summaries["few"].counts == {"zh": 30, "en": 29, "other": 0}
    assert summaries["few"].few == ["en"]
    assert summaries["greet"].few == []


def test_an_intents_examples_are_shown_chinese_and_english_side_by_side(project):
    intent = examples.intent_examples(project, "faq/waiting_period")

    assert intent.examples == parsed_examples(project.root / FAQ, "faq/waiting_period")
    assert intent.zh[0] == "等待期是多久" and "what is the waiting period" in intent.en
    # Mixed text is Chinese: the customer reads Chinese.
    assert "waiting period是几天" in intent.zh
    assert len(intent.zh) + len(intent.en) + len(intent.other) == len(intent.examples)
    assert intent.file == FAQ


def test_search_finds_examples_of_any_intent_whatever_their_case(project):
    found = examples.search(project, "WAITING Period")

    assert {m.intent for m in found} == {"faq/waiting_period"}
    assert examples.Match("faq/waiting_period", "what is the waiting period") in found
    assert examples.Match("faq/waiting_period", "意外有没有waiting period") in found
    assert {m.intent for m in examples.search(project, "转人工")} >= {"request_human"}
    assert examples.search(project, "   ") == []


def test_an_added_example_is_one_new_line_at_the_end_of_its_intent(project):
    before = snapshot(project)
    intent = examples.intent_examples(project, "faq/hospitals")

    saved = examples.add_example(project, "faq/hospitals", "  私立医院能报销吗 ", intent.version)

    assert changes(before, project) == {FAQ: ["+      - 私立医院能报销吗"]}
    assert saved.intent.examples == [*intent.examples, "私立医院能报销吗"]
    assert saved.intent.version != intent.version
    assert saved.warnings == []
    assert parsed_examples(project.root / FAQ, "faq/hospitals") == saved.intent.examples
    assert examples.intent_examples(project, "faq/hospitals") == saved.intent


def test_an_edited_example_keeps_its_line(project):
    before = snapshot(project)
    intent = examples.intent_examples(project, "greet")

    saved = examples.edit_example(project, "greet", "你好", "你好，在吗", intent.version)

    assert changes(before, project) == {CHITCHAT: ["-      - 你好", "+      - 你好，在吗"]}
    assert saved.intent.examples[0] == "你好，在吗"
    assert saved.intent.examples[1:] == intent.examples[1:]


def test_a_deleted_example_is_one_line_less(project):
    before = snapshot(project)
    intent = examples.intent_examples(project, "greet")

    saved = examples.delete_example(project, "greet", "hi there", intent.version)

    assert changes(before, project) == {CHITCHAT: ["-      - hi there"]}
    assert "hi there" not in saved.intent.examples
    assert len(saved.intent.examples) == len(intent.examples) - 1


def test_a_moved_example_leaves_one_file_and_ends_the_other_intent(project):
    before = snapshot(project)
    intent = examples.intent_examples(project, "greet")

    saved = examples.move_example(project, "greet", "hi there", "out_of_scope", intent.version)

    assert changes(before, project) == {
        CHITCHAT: ["-      - hi there"],
        OUT_OF_SCOPE: ["+      - hi there"],
    }
    assert "hi there" not in saved.intent.examples
    assert saved.target is not None and saved.target.examples[-1] == "hi there"
    assert parsed_examples(project.root / OUT_OF_SCOPE, "out_of_scope")[-1] == "hi there"


def test_a_move_within_a_file_is_one_write_of_both_intents(project):
    before = snapshot(project)
    intent = examples.intent_examples(project, "greet")

    examples.move_example(project, "greet", "hi there", "goodbye", intent.version)

    changed = changes(before, project)
    assert list(changed) == [CHITCHAT]
    assert sorted(changed[CHITCHAT]) == ["+      - hi there", "-      - hi there"]
    assert parsed_examples(project.root / CHITCHAT, "goodbye")[-1] == "hi there"


def test_the_last_example_of_an_intent_is_neither_deleted_nor_moved(project):
    (project.data / "nlu" / "extra.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: extra\n    examples: |\n      - the only one\n',
        encoding="utf-8",
    )
    before = snapshot(project)
    seen = examples.intent_examples(project, "extra")

    with pytest.raises(DeskError) as deleted:
        examples.delete_example(project, "extra", "the only one", seen.version)
    with pytest.raises(DeskError) as moved:
        examples.move_example(project, "extra", "the only one", "greet", seen.version)

    assert deleted.value.code == moved.value.code == "last_example"
    assert snapshot(project) == before


def test_two_trainers_on_one_intent_the_second_is_told_of_the_first_change(project):
    seen = examples.intent_examples(project, "faq/renewal")
    examples.add_example(project, "faq/renewal", "续保要体检吗", seen.version)
    after_first = snapshot(project)

    with pytest.raises(TrainingConflict) as refused:
        examples.add_example(project, "faq/renewal", "续保会涨价吗", seen.version)

    assert refused.value.code == "conflict" and refused.value.status == 409
    assert refused.value.current.examples[-1] == "续保要体检吗"
    assert refused.value.current == examples.intent_examples(project, "faq/renewal")
    assert snapshot(project) == after_first


@pytest.mark.parametrize(
    "edit",
    [
        lambda p, v: examples.edit_example(p, "faq/renewal", "能保证续保吗", "保证续保吗", v),
        lambda p, v: examples.delete_example(p, "faq/renewal", "能保证续保吗", v),
        lambda p, v: examples.move_example(p, "faq/renewal", "能保证续保吗", "greet", v),
    ],
    ids=["edit", "delete", "move"],
)
def test_every_kind_of_edit_on_a_stale_version_is_a_conflict(project, edit):
    seen = examples.intent_examples(project, "faq/renewal")
    examples.delete_example(project, "faq/renewal", seen.examples[-1], seen.version)
    after_first = snapshot(project)

    with pytest.raises(TrainingConflict):
        edit(project, seen.version)

    assert snapshot(project) == after_first


def test_an_edit_of_another_intent_in_the_same_file_is_no_conflict(project):
    greet = examples.intent_examples(project, "greet")
    goodbye = examples.intent_examples(project, "goodbye")
    examples.add_example(project, "goodbye", "see you around then", goodbye.version)

    saved = examples.add_example(project, "greet", "hello again friend", greet.version)

    assert saved.intent.examples[-1] == "hello again friend"
    assert parsed_examples(project.root / CHITCHAT, "goodbye")[-1] == "see you around then"


@pytest.mark.parametrize(
    "edit",
    [
        lambda p, v: examples.add_example(p, "goodbye", "  hello ", v),
        lambda p, v: examples.edit_example(p, "goodbye", "再见", "hello", v),
    ],
    ids=["add", "edit"],
)
def test_an_example_another_intent_has_is_refused_naming_it(project, edit):
    before = snapshot(project)
    seen = examples.intent_examples(project, "goodbye")

    with pytest.raises(DeskError) as refused:
        edit(project, seen.version)

    assert refused.value.code == "duplicate_example"
    assert "the intent greet" in refused.value.message
    assert snapshot(project) == before


def test_an_example_the_intent_has_already_is_refused(project):
    seen = examples.intent_examples(project, "greet")

    with pytest.raises(DeskError) as refused:
        examples.add_example(project, "greet", "hello", seen.version)

    assert refused.value.code == "duplicate_example"
    assert "the intent greet" in refused.value.message


def test_a_move_to_an_intent_that_has_the_example_is_refused(project):
    # Written by hand: the workbench itself would refuse it.
    (project.data / "nlu" / "extra.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: extra\n    examples: |\n      - hello\n',
        encoding="utf-8",
    )
    greet = examples.intent_examples(project, "greet")
    before = snapshot(project)

    with pytest.raises(DeskError) as refused:
        examples.move_example(project, "greet", "hello", "extra", greet.version)

    assert refused.value.code == "duplicate_example"
    assert "the intent extra" in refused.value.message
    assert snapshot(project) == before


def test_a_near_duplicate_of_another_intents_example_is_saved_with_a_warning(project):
    seen = examples.intent_examples(project, "goodbye")

    # full-width letters and punctuation, other case and spacing than greet's "hi there"
    saved = examples.add_example(project, "goodbye", "ＨＩ  Ｔｈｅｒｅ！！", seen.version)

    assert saved.intent.examples[-1] == "ＨＩ  Ｔｈｅｒｅ！！"
    assert saved.warnings == [
        NearDuplicate("ＨＩ  Ｔｈｅｒｅ！！", "greet", "hi there"),
        NearDuplicate("ＨＩ  Ｔｈｅｒｅ！！", "greet", "hi there!"),
    ]


def test_a_near_duplicate_within_the_intent_is_no_warning(project):
    seen = examples.intent_examples(project, "greet")

    saved = examples.add_example(project, "greet", "Hi, there!", seen.version)

    assert saved.warnings == []


@pytest.mark.parametrize(
    "name", ["Greet", "1greet", "greet-me", "faq/", "faq/a/b", "/faq", "faq/Topic", "", "gr eet"]
)
def test_a_bad_intent_name_is_refused(project, name):
    with pytest.raises(DeskError) as refused:
        examples.add_example(project, name, "hello there", "any")

    assert refused.value.code == "bad_intent_name" and refused.value.status == 400


def test_an_unknown_intent_or_example_is_not_found(project):
    greet = examples.intent_examples(project, "greet")

    with pytest.raises(DeskError) as no_intent:
        examples.intent_examples(project, "faq/no_such_topic")
    with pytest.raises(DeskError) as no_example:
        examples.delete_example(project, "greet", "no such example", greet.version)
    with pytest.raises(DeskError) as no_target:
        examples.move_example(project, "greet", "hello", "no_such_intent", greet.version)

    assert [e.value.code for e in (no_intent, no_example, no_target)] == ["not_found"] * 3


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_example"),
        ("   \t ", "empty_example"),
        ("a" * 501, "example_too_long"),
        ("two\nlines", "newline_in_example"),
        ("two\rlines", "newline_in_example"),
        ("a bell \x07", "bad_character"),
    ],
)
def test_an_example_that_cannot_be_one_is_refused(project, text, code):
    before = snapshot(project)
    seen = examples.intent_examples(project, "greet")

    with pytest.raises(DeskError) as refused:
        examples.add_example(project, "greet", text, seen.version)
    with pytest.raises(DeskError) as refused_edit:
        examples.edit_example(project, "greet", "hello", text, seen.version)

    assert refused.value.code == refused_edit.value.code == code
    assert snapshot(project) == before


def test_an_example_of_500_characters_is_saved(project):
    seen = examples.intent_examples(project, "greet")

    saved = examples.add_example(project, "greet", "好" * 500, seen.version)

    assert saved.intent.examples[-1] == "好" * 500


TRICKY = [
    "policy: P0000000012343",
    'he said "hi" to me',
    "it's my claim",
    "# not a comment",
    "a #hash and a:colon",
    "- a leading dash",
    "-- two dashes",
    "{braces} and {placeholder}",
    '{"entity": "language"}',
    "[brackets] here",
    "back\\slash \\n not a newline",
    "emoji 😀🙏🏻 and 表情👍",
    "| pipe > greater",
    "&anchor *alias !tag %percent @at `tick`",
    "? question mark first",
    "colon at the end:",
    "a\ttab inside",
    "'single quoted'",
    "全角：“引号”，（括号）！",
]


def test_tricky_examples_round_trip_byte_for_byte_and_the_file_stays_valid(project):
    before = snapshot(project)
    intent = examples.intent_examples(project, "out_of_scope")
    version = intent.version
    for text in TRICKY:
        version = examples.add_example(project, "out_of_scope", text, version).intent.version

    assert examples.intent_examples(project, "out_of_scope").examples[-len(TRICKY) :] == TRICKY
    assert parsed_examples(project.root / OUT_OF_SCOPE, "out_of_scope") == [
        *intent.examples,
        *TRICKY,
    ]
    assert changes(before, project) == {OUT_OF_SCOPE: [f"+      - {text}" for text in TRICKY]}


def test_an_nlu_file_that_would_not_come_back_as_it_is_is_not_rewritten(project):
    # Sequences not indented, unlike the project's files: a rewrite would re-indent.
    path = project.data / "nlu" / "odd.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: odd\n  examples: |\n    - an odd one\n', encoding="utf-8"
    )
    before = snapshot(project)
    seen = examples.intent_examples(project, "odd")

    with pytest.raises(DeskError) as refused:
        examples.add_example(project, "odd", "another odd one", seen.version)

    assert refused.value.code == "unwritable_file"
    assert snapshot(project) == before


def test_a_move_to_a_file_that_cannot_be_written_back_changes_neither_file(project):
    (project.data / "nlu" / "odd.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: odd\n  examples: |\n    - an odd one\n', encoding="utf-8"
    )
    before = snapshot(project)
    seen = examples.intent_examples(project, "greet")

    with pytest.raises(DeskError) as refused:
        examples.move_example(project, "greet", "hi there", "odd", seen.version)

    assert refused.value.code == "unwritable_file"
    assert snapshot(project) == before


def test_regex_synonym_and_lookup_entries_are_kept_as_they_are(project):
    path = project.data / "nlu" / "extra.yml"
    text = (
        'version: "3.1"\n'
        "nlu:\n"
        "  # policy numbers\n"
        "  - regex: policy_number\n"
        "    examples: |\n"
        "      - P\\d{13}\n"
        "  - synonym: 理赔\n"
        "    examples: |\n"
        "      - 报销\n"
        "  - lookup: hospital\n"
        "    examples: |\n"
        "      - 协和医院\n"
        "  - intent: extra\n"
        "    examples: |\n"
        "      - an extra example\n"
    )
    path.write_text(text, encoding="utf-8")
    seen = examples.intent_examples(project, "extra")

    examples.add_example(project, "extra", "one more example", seen.version)

    assert path.read_text(encoding="utf-8") == text + "      - one more example\n"
