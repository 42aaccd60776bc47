"""The evaluation's maths on small cases worked out by hand, the texts it scores (the
held-out file, and reviewed messages the candidate did not learn from), and the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from desk.training import evaluation
from desk.training.evaluation import Sample, gate, scores, scores_by_language, verdict
from store.models import Conversation, Message, SenderKind
from store.workbench import ParsedMessage


def test_accuracy_precision_recall_and_f1_by_hand():
    found = scores(
        [
            ("greet", "greet", "hi"),
            ("greet", "greet", "hello"),
            ("greet", "goodbye", "hey there"),
            ("goodbye", "goodbye", "bye"),
            ("goodbye", "greet", "see you"),
            ("complain", "greet", "bad service"),
        ]
    )
    assert found["count"] == 6 and found["accuracy"] == 0.5
    # greet: 2 right of 4 guessed, 2 of 3 found
    assert found["intents"]["greet"] == {
        "precision": 0.5,
        "recall": 0.6667,
        "f1": 0.5714,
        "support": 3,
    }
    assert found["intents"]["goodbye"] == {
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
        "support": 2,
    }
    # never guessed: no precision, no recall, no F1
    assert found["intents"]["complain"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert found["confusions"] == [
        {"truth": "complain", "predicted": "greet", "count": 1, "examples": ["bad service"]},
        {"truth": "goodbye", "predicted": "greet", "count": 1, "examples": ["see you"]},
        {"truth": "greet", "predicted": "goodbye", "count": 1, "examples": ["hey there"]},
    ]


def test_confusions_keep_three_examples_most_frequent_first():
    pairs = [("a", "b", f"t{n}") for n in range(5)] + [("c", "d", "x")]
    found = scores(pairs)["confusions"]
    assert found[0] == {"truth": "a", "predicted": "b", "count": 5, "examples": ["t0", "t1", "t2"]}
    assert found[1]["truth"] == "c"


def test_nothing_to_score():
    assert scores([]) == {"count": 0, "accuracy": 0.0, "intents": {}, "confusions": []}


def test_scores_per_language():
    samples = [
        Sample("我的理赔", "ask_claim_status", "zh", "holdout"),
        Sample("保单", "ask_policy", "zh", "holdout"),
        Sample("my claim", "ask_claim_status", "en", "holdout"),
    ]
    found = scores_by_language(
        samples, ["ask_claim_status", "ask_claim_status", "ask_claim_status"]
    )
    assert found["all"]["accuracy"] == 0.6667
    assert found["zh"]["accuracy"] == 0.5 and found["zh"]["count"] == 2
    assert found["en"]["accuracy"] == 1.0 and found["en"]["count"] == 1


def test_language_from_the_row_or_from_cjk_characters():
    assert evaluation.language_of("我的 claim") == "zh"
    assert evaluation.language_of("my claim 123") == "en"
    assert evaluation.language_of("我的理赔", "en") == "en"
    assert evaluation.language_of("ok", "other") == "en"


def intent_scores(accuracy: float, **f1: float) -> dict:
    return {
        "accuracy": accuracy,
        "intents": {name: {"f1": value, "support": 10} for name, value in f1.items()},
    }


def test_the_gate_passes_an_equal_or_better_candidate():
    production = intent_scores(0.9, ask_policy=0.9, complain=0.8)
    assert gate(intent_scores(0.9, ask_policy=0.9, complain=0.8), production) == {
        "passed": True,
        "reasons": [],
    }
    # two points down on a gated intent is allowed, if overall it is not worse
    assert gate(intent_scores(0.91, ask_policy=0.88, complain=0.8), production)["passed"]


def test_the_gate_refuses_a_candidate_worse_overall():
    found = gate(intent_scores(0.89, ask_policy=0.95), intent_scores(0.9, ask_policy=0.9))
    assert found == {
        "passed": False,
        "reasons": [{"code": "worse_overall", "candidate": 0.89, "production": 0.9}],
    }


def test_the_gate_refuses_more_than_two_points_down_on_a_gated_intent():
    found = gate(
        intent_scores(0.95, request_human=0.87, greet=0.1, file_claim=0.7),
        intent_scores(0.9, request_human=0.9, greet=0.9, file_claim=0.75),
    )
    # greet is not gated; request_human lost 3 points, file_claim 5
    assert found["passed"] is False
    assert [(r["code"], r["intent"], r["drop_points"]) for r in found["reasons"]] == [
        ("intent_worse", "file_claim", 5.0),
        ("intent_worse", "request_human", 3.0),
    ]


def test_a_gated_intent_the_candidate_never_predicts_counts_as_zero():
    found = gate(intent_scores(0.95), intent_scores(0.9, complain=0.5))
    assert found["reasons"] == [
        {
            "code": "intent_worse",
            "intent": "complain",
            "candidate": 0.0,
            "production": 0.5,
            "drop_points": 50.0,
        }
    ]


def test_a_model_never_evaluated_does_not_pass():
    assert verdict({}) == {"passed": False, "reasons": [{"code": "not_evaluated"}]}
    assert verdict({"error": "boom"})["passed"] is False
    assert verdict({"gate": {"passed": True, "reasons": []}})["passed"] is True


def test_the_held_out_file_with_annotations_removed(tmp_path, project):
    (project.root / "bot" / "tests").mkdir()
    (project.root / "bot" / "tests" / "nlu_holdout.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: inform\n    examples: |\n'
        "      - 保单号是[P0000000000026](policy_number)\n      - my code is 123456\n"
        "  - intent: faq/waiting_period\n    examples: |\n      - 等待期多久\n",
        encoding="utf-8",
    )
    assert evaluation.holdout(project) == [
        Sample("保单号是P0000000000026", "inform", "zh", "holdout"),
        Sample("my code is 123456", "inform", "en", "holdout"),
        Sample("等待期多久", "faq/waiting_period", "zh", "holdout"),
    ]


async def test_reviewed_messages_the_candidate_did_not_learn_from(sessions):
    trained = datetime(2026, 12, 1, tzinfo=UTC)
    async with sessions.begin() as session:
        conversation = Conversation(channel="web", external_user_id="evaluation")
        session.add(conversation)
        await session.flush()
        rows = [
            # (text, status, label, held_out, reviewed after the production model?)
            ("我的理赔到哪了呢", "relabelled", "ask_claim_status", False, True),
            ("learnt from", "confirmed", None, False, True),
            ("learnt but held out", "confirmed", None, True, True),
            ("too old", "confirmed", None, False, False),
            ("not reviewed", "new", None, False, True),
            ("ignored", "ignored", None, False, True),
            ("what's the weather", "out_of_scope", None, False, True),
        ]
        for seq, (text, status, label, held_out, recent) in enumerate(rows, start=1):
            message = Message(conversation_id=conversation.id, seq=seq, sender=SenderKind.CUSTOMER)
            session.add(message)
            await session.flush()
            session.add(
                ParsedMessage(
                    message_id=message.id,
                    conversation_id=conversation.id,
                    seq=seq,
                    channel="web",
                    language="en" if text.isascii() else "zh",
                    text=text,
                    intent="greet",
                    confidence=0.5,
                    status=status,
                    label=label,
                    held_out=held_out,
                    reviewed_at=trained + timedelta(days=1 if recent else -1),
                )
            )
    found = await evaluation.reviewed(
        sessions, trained, {"learnt from", "learnt but held out", "too old"}
    )
    assert found == [
        Sample("我的理赔到哪了呢", "ask_claim_status", "zh", "reviewed"),
        Sample("learnt but held out", "greet", "en", "reviewed"),
        Sample("what's the weather", "out_of_scope", "en", "reviewed"),
    ]


async def test_both_models_scored_on_the_same_sets_and_gated(sessions, project, monkeypatch):
    """`evaluate` as a job runs it, with the two models' parses given (Rasa's own
    parser is run by tests/test_models_stack.py): each set scored apart and together,
    the candidate beside production, and the gate on all texts."""
    (project.root / "bot" / "tests").mkdir()
    (project.root / "bot" / "tests" / "nlu_holdout.yml").write_text(
        "nlu:\n  - intent: complain\n    examples: |\n      - 太差了\n      - awful service\n"
        "  - intent: greet\n    examples: |\n      - 你好呀\n",
        encoding="utf-8",
    )
    asked: list[tuple[list, list]] = []

    def parse_with(models, texts):
        asked.append(([m.name for m in models], texts))
        candidate = ["greet", "complain", "greet"]
        production = ["complain", "complain", "greet"]
        return [candidate, production]

    monkeypatch.setattr(evaluation, "parse_with", parse_with)
    result = await evaluation.evaluate(
        sessions, project, Path("/models/new.tar.gz"), Path("/models/prod.tar.gz"), None
    )
    assert asked == [(["new.tar.gz", "prod.tar.gz"], ["太差了", "awful service", "你好呀"])]
    assert result["sets"] == {"holdout": 3, "reviewed": 0}
    assert result["languages"] == {"zh": 2, "en": 1}
    assert result["candidate"]["holdout"]["all"]["accuracy"] == 0.6667
    assert result["production"]["overall"]["all"]["accuracy"] == 1.0
    assert result["candidate"]["overall"]["zh"]["confusions"] == [
        {"truth": "complain", "predicted": "greet", "count": 1, "examples": ["太差了"]}
    ]
    assert result["gate"]["passed"] is False
    assert [r["code"] for r in result["gate"]["reasons"]] == ["worse_overall", "intent_worse"]
    assert result["gate"]["reasons"][1]["intent"] == "complain"
