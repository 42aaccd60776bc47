"""A training's progress read from what `rasa train` prints as it goes: the stage,
the component being trained (DIETClassifier, ResponseSelector, TEDPolicy, ...), the
epoch out of how many and the loss, from its log lines and its progress bars
(which redraw themselves with carriage returns, so lines are split on those too)."""

from __future__ import annotations

import re
from typing import Any

COMPONENT = re.compile(r"(Starting to train|Finished training) component '([^']+)'")
# tqdm's bar: "Epochs:  50%|█████     | 3/6 [00:10<00:10,  3.33s/it, t_loss=1.23, i_acc=0.9]"
EPOCHS = re.compile(r"Epochs:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)(?:\s*\[[^\]]*?,\s*(.*?)\])?")
METRIC = re.compile(r"\b([a-z_]+)=([-\d.e+]+|nan|inf)")
SAVED = re.compile(r"Your Rasa model is trained and saved at '([^']+)'")
# Earlier stages, in the order they come.
STAGES = (
    ("rasa.validator", "validating"),
    ("Processed story blocks", "reading_stories"),
    ("Processed trackers", "reading_stories"),
    ("Incremental Training", "finetuning"),
)


def lines_of(chunk: str) -> list[str]:
    """A chunk of output split into lines at newlines and carriage returns."""
    return [line for line in re.split(r"[\r\n]+", chunk) if line.strip()]


def advance(progress: dict[str, Any], line: str) -> bool:
    """Updates `progress` from one line of output; True when something changed."""
    before = dict(progress)
    if match := EPOCHS.search(line):
        progress["stage"] = "training"
        progress["epoch"], progress["epochs"] = int(match.group(1)), int(match.group(2))
        metrics = dict(METRIC.findall(match.group(3) or ""))
        # The total loss where the component reports one, else its loss.
        loss = metrics.get("t_loss", metrics.get("loss"))
        if loss is not None:
            progress["loss"] = float(loss)
        accuracy = {name: float(v) for name, v in metrics.items() if name.endswith("acc")}
        if accuracy:
            progress["accuracy"] = accuracy
    elif match := COMPONENT.search(line):
        if match.group(1).startswith("Starting"):
            progress.update(stage="training", component=match.group(2))
            for stale in ("epoch", "epochs", "loss", "accuracy"):
                progress.pop(stale, None)
        else:
            progress["components_done"] = progress.get("components_done", 0) + 1
    elif match := SAVED.search(line):
        progress.update(stage="saved", saved=match.group(1))
    else:
        for marker, stage in STAGES:
            if marker in line and progress.get("stage") in (None, "starting", "validating"):
                progress["stage"] = stage
    return progress != before
