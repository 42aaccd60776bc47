"""A training's progress read from what `rasa train` really printed: a fine-tune of the
bot's model on 2 cores (`rasa_train_finetune.log`, captured as it came, carriage
returns and colour codes included), fed in chunks as the job reads it."""

from __future__ import annotations

from pathlib import Path

from desk.training import progress
from desk.training.jobs import ANSI

CAPTURED = Path(__file__).with_name("rasa_train_finetune.log")


def replay(text: str, chunk: int = 4096) -> list[dict]:
    """Each change of the progress as the job would see it, reading `chunk` bytes at a
    time (a line may be split between two reads, as a pipe splits it)."""
    state: dict = {}
    seen = []
    pending = ""
    for start in range(0, len(text), chunk):
        pending += text[start : start + chunk]
        *whole, pending = pending.replace("\r", "\n").split("\n")
        for line in whole:
            if line.strip() and progress.advance(state, line):
                seen.append(dict(state))
    if pending.strip() and progress.advance(state, pending):
        seen.append(dict(state))
    return seen


def captured() -> str:
    return ANSI.sub("", CAPTURED.read_bytes().decode("utf-8", "replace"))


def test_the_components_are_followed_in_the_order_rasa_trains_them():
    seen = replay(captured())
    started = []
    for state in seen:
        if state.get("component") and (not started or started[-1] != state["component"]):
            started.append(state["component"])
    assert started == [
        "BilingualTokenizer",
        "RegexFeaturizer",
        "LexicalSyntacticFeaturizer",
        "CountVectorsFeaturizer",
        "DIETClassifier",
        "ResponseSelector",
        "MemoizationPolicy",
        "RulePolicy",
        "TEDPolicy",
    ]
    assert seen[-1]["stage"] == "saved" and seen[-1]["saved"] == "out/ft.tar.gz"
    assert seen[-1]["components_done"] == 10


def test_epochs_and_losses_of_each_component_as_they_come():
    seen = replay(captured())
    diet = [s for s in seen if s.get("component") == "DIETClassifier" and "epoch" in s]
    # A fine-tune at 0.2 of the configured epochs: DIET's 30 become 6.
    assert {s["epochs"] for s in diet} == {6}
    assert [s["epoch"] for s in diet][0] == 0 and diet[-1]["epoch"] == 6
    assert diet[-1]["loss"] == 3.52 and diet[-1]["accuracy"] == {"i_acc": 0.991}
    selector = [s for s in seen if s.get("component") == "ResponseSelector" and "epoch" in s]
    assert selector[-1]["epoch"] == selector[-1]["epochs"] == 4
    assert selector[-1]["accuracy"] == {"r_acc": 1.0}
    ted = [s for s in seen if s.get("component") == "TEDPolicy" and "epoch" in s]
    # TED reports `t_loss` and `loss`: the total is the one shown.
    assert ted[-1]["epoch"] == 6 and ted[-1]["loss"] == 4.07
    assert ted[-1]["accuracy"] == {"acc": 0.667}


def test_a_new_component_starts_without_the_last_ones_epochs():
    seen = replay(captured())
    first = next(s for s in seen if s.get("component") == "ResponseSelector")
    assert "epoch" not in first and "loss" not in first


def test_the_stages_before_training():
    state: dict = {"stage": "starting"}
    assert progress.advance(
        state, "2026-12-07 22:26:54 INFO     rasa.validator  - Story structure validation..."
    )
    assert state["stage"] == "validating"
    assert progress.advance(state, "Processed story blocks: 100%|██████████| 3/3")
    assert state["stage"] == "reading_stories"
    assert not progress.advance(state, "Building prefix dict from the default dictionary ...")


def test_lines_are_split_at_carriage_returns_too():
    assert progress.lines_of("a\rb\r\nc\n\n") == ["a", "b", "c"]
