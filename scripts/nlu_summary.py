"""Prints the summary of `make nlu-report`: intent accuracy and the weakest intents
of each report folder Rasa wrote (cross-validation, held-out utterances)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SKIP = {"accuracy", "macro avg", "weighted avg", "micro avg"}


def summarise(folder: Path) -> None:
    report = json.loads((folder / "intent_report.json").read_text())
    intents = {k: v for k, v in report.items() if k not in SKIP and isinstance(v, dict)}
    weighted = report["weighted avg"]
    print(
        f"{folder}: intent accuracy {report['accuracy']:.1%}, weighted F1 "
        f"{weighted['f1-score']:.3f} over {int(weighted['support'])} utterances"
    )
    weakest = sorted(intents.items(), key=lambda kv: kv[1]["f1-score"])[:5]
    print("  weakest: " + ", ".join(f"{name} {v['f1-score']:.2f}" for name, v in weakest))
    selection = folder / "response_selection_report.json"
    if selection.exists():
        faq = json.loads(selection.read_text())
        print(f"  FAQ topic selection accuracy {faq['accuracy']:.1%}")


def main(folders: list[str]) -> None:
    for folder in folders:
        summarise(Path(folder))


if __name__ == "__main__":
    main(sys.argv[1:])
