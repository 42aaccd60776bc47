"""A candidate model scored against the production model on the same texts, and the
gate a deploy must pass.

The texts: the held-out utterances (`bot/tests/nlu_holdout.yml`, kept out of the
training data) and the customer messages trainers reviewed since the production
model was trained that the candidate did not learn from (held out, or whose text is
not in its training data). Both models parse them in one run of
`scripts/rasa_parse.py` in Rasa's environment, each model loaded once. Scores:
accuracy, and per intent precision, recall and F1, overall and per language (zh, en),
with the pairs the model confuses and example texts.

The gate: a candidate worse overall (lower accuracy on all texts), or more than
`MAX_F1_DROP` points of F1 below production on any of `GATED_INTENTS`, is not
deployed unless a supervisor or admin overrides it with a written reason."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.clock import aware, now
from desk.training.project import CODE_ROOT, Project
from store.workbench import ParsedMessage

GATED_INTENTS = ("ask_claim_status", "ask_policy", "file_claim", "complain", "request_human")
# Points of F1 (out of 100) a gated intent may lose.
MAX_F1_DROP = 2.0
REVIEWED = ("confirmed", "relabelled", "out_of_scope")
HOLDOUT = Path("bot") / "tests" / "nlu_holdout.yml"
PARSE_SCRIPT = CODE_ROOT / "scripts" / "rasa_parse.py"
RASA_PYTHON = CODE_ROOT / ".venv-rasa" / "bin" / "python"
PARSE_TIMEOUT_SECONDS = 900
CONFUSION_EXAMPLES = 3
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# `[text](entity)` and `[text]{"entity": ...}` annotations in Rasa's examples.
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Sample:
    """A text with the label it should get, its language and the set it is from."""

    text: str
    truth: str
    language: str
    source: str


def language_of(text: str, known: str | None = None) -> str:
    """The row's own language if it has one, else zh for any CJK character, else en."""
    if known in ("zh", "en"):
        return known
    return "zh" if CJK.search(text) else "en"


# ---- the maths ----------------------------------------------------------------------


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def scores(pairs: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Accuracy and per-intent precision, recall and F1 of (truth, predicted, text)
    triples, and the confused pairs (most frequent first) with example texts."""
    total = len(pairs)
    correct = sum(1 for truth, predicted, _ in pairs if truth == predicted)
    labels = sorted({truth for truth, _, _ in pairs} | {predicted for _, predicted, _ in pairs})
    intents: dict[str, dict[str, float | int]] = {}
    for label in labels:
        true_positive = sum(1 for t, p, _ in pairs if t == label and p == label)
        guessed = sum(1 for _, p, _ in pairs if p == label)
        support = sum(1 for t, _, _ in pairs if t == label)
        precision = _ratio(true_positive, guessed)
        recall = _ratio(true_positive, support)
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
        intents[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    confused: dict[tuple[str, str], list[str]] = defaultdict(list)
    for truth, predicted, text in pairs:
        if truth != predicted:
            confused[(truth, predicted)].append(text)
    confusions = [
        {"truth": t, "predicted": p, "count": len(texts), "examples": texts[:CONFUSION_EXAMPLES]}
        for (t, p), texts in sorted(confused.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    return {
        "count": total,
        "accuracy": _ratio(correct, total),
        "intents": intents,
        "confusions": confusions,
    }


def scores_by_language(samples: list[Sample], predicted: list[str]) -> dict[str, Any]:
    """`scores` over all samples (`all`) and per language."""
    triples = [(s.truth, p, s.text, s.language) for s, p in zip(samples, predicted, strict=True)]
    found: dict[str, Any] = {"all": scores([(t, p, x) for t, p, x, _ in triples])}
    for language in ("zh", "en"):
        found[language] = scores([(t, p, x) for t, p, x, lang in triples if lang == language])
    return found


def gate(candidate: dict[str, Any], production: dict[str, Any]) -> dict[str, Any]:
    """Whether a candidate may be deployed over production, given both models'
    `scores` on the same texts; `reasons` says why not (codes with their figures)."""
    reasons: list[dict[str, Any]] = []
    if candidate["accuracy"] < production["accuracy"]:
        reasons.append(
            {
                "code": "worse_overall",
                "candidate": candidate["accuracy"],
                "production": production["accuracy"],
            }
        )
    for intent in GATED_INTENTS:
        theirs = production["intents"].get(intent)
        if theirs is None or not theirs["support"]:
            continue  # not in the evaluation: nothing to compare
        ours = candidate["intents"].get(intent, {"f1": 0.0})
        drop = round((theirs["f1"] - ours["f1"]) * 100, 2)
        if drop > MAX_F1_DROP:
            reasons.append(
                {
                    "code": "intent_worse",
                    "intent": intent,
                    "candidate": ours["f1"],
                    "production": theirs["f1"],
                    "drop_points": drop,
                }
            )
    return {"passed": not reasons, "reasons": reasons}


def verdict(metrics: dict[str, Any]) -> dict[str, Any]:
    """The gate stored with a model's evaluation; a model never evaluated does not pass."""
    found = (metrics or {}).get("gate")
    if not isinstance(found, dict):
        return {"passed": False, "reasons": [{"code": "not_evaluated"}]}
    return found


# ---- the texts ----------------------------------------------------------------------


def _examples(block: object) -> list[str]:
    lines = block.splitlines() if isinstance(block, str) else []
    return [
        ANNOTATION.sub(r"\1", line.strip()[2:]).strip()
        for line in lines
        if line.strip().startswith("- ")
    ]


def nlu_examples(path: Path) -> list[tuple[str, str]]:
    """(intent, text) of every example in an NLU file."""
    document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []
    for entry in (document or {}).get("nlu") or []:
        if isinstance(entry, dict) and "intent" in entry:
            found.extend((str(entry["intent"]), text) for text in _examples(entry.get("examples")))
    return found


def holdout(project: Project) -> list[Sample]:
    path = project.root / HOLDOUT
    if not path.is_file():
        return []
    return [
        Sample(text, intent, language_of(text), "holdout") for intent, text in nlu_examples(path)
    ]


def training_texts(project: Project) -> set[str]:
    """Every example the project's data trains on (what a candidate learnt from)."""
    return {text for path in project.data_files() for _, text in nlu_examples(path)}


async def reviewed(
    sessions: async_sessionmaker[AsyncSession], since: datetime | None, trained_on: set[str]
) -> list[Sample]:
    """Messages trainers reviewed since `since` that the candidate did not learn from.
    Their text is masked (placeholders), as the training data's own is."""
    query = select(ParsedMessage).where(ParsedMessage.status.in_(REVIEWED))
    if since is not None:
        query = query.where(ParsedMessage.reviewed_at > since)
    async with sessions() as session:
        rows = list(await session.scalars(query.order_by(ParsedMessage.id).limit(5000)))
    samples = []
    for row in rows:
        truth = "out_of_scope" if row.status == "out_of_scope" else (row.label or row.intent)
        if row.held_out or row.text not in trained_on:
            samples.append(Sample(row.text, truth, language_of(row.text, row.language), "reviewed"))
    return samples


# ---- running both models ------------------------------------------------------------


def parse_with(models: list[Path], texts: list[str]) -> list[list[str]]:
    """Each model's predicted label for every text (`faq/<topic>` for the FAQ), from
    one run of the parse script in Rasa's environment. Blocking: call it off the
    event loop."""
    with tempfile.TemporaryDirectory(prefix="rasa-parse-") as scratch:
        request = Path(scratch) / "texts.json"
        request.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        answer = Path(scratch) / "predictions.json"
        env = {
            "PATH": os.defpath,
            "HOME": scratch,
            "PYTHONPATH": str(CODE_ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
        }
        command = [
            str(RASA_PYTHON),
            str(PARSE_SCRIPT),
            "--texts",
            str(request),
            "--out",
            str(answer),
            *[str(model) for model in models],
        ]
        finished = subprocess.run(
            command,
            env=env,
            cwd=CODE_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=PARSE_TIMEOUT_SECONDS,
        )
        if finished.returncode != 0 or not answer.is_file():
            raise RuntimeError(f"the models could not parse the texts: {finished.stdout[-2000:]}")
        predictions = json.loads(answer.read_text(encoding="utf-8"))
    return [[str(label) for label in predictions[str(model)]] for model in models]


async def evaluate(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    candidate: Path,
    production: Path | None,
    production_trained_at: datetime | None,
) -> dict[str, Any]:
    """The candidate's scores beside production's on the same sets, and the gate."""
    trained_on = await asyncio.to_thread(training_texts, project)
    since = aware(production_trained_at) if production_trained_at else None
    sets = {
        "holdout": await asyncio.to_thread(holdout, project),
        "reviewed": await reviewed(sessions, since, trained_on),
    }
    samples = [sample for found in sets.values() for sample in found]
    models = [candidate] + ([production] if production else [])
    started = now()
    predicted = await asyncio.to_thread(parse_with, models, [s.text for s in samples])
    result: dict[str, Any] = {
        "evaluated_at": now().isoformat(),
        "seconds": round((now() - started).total_seconds(), 1),
        "sets": {name: len(found) for name, found in sets.items()},
        "languages": dict(Counter(s.language for s in samples)),
    }
    for who, labels in zip(("candidate", "production"), predicted, strict=False):
        by_set: dict[str, Any] = {}
        start = 0
        for name, found in sets.items():
            by_set[name] = scores_by_language(found, labels[start : start + len(found)])
            start += len(found)
        result[who] = {"overall": scores_by_language(samples, labels), **by_set}
    if production is None:
        result["gate"] = {"passed": True, "reasons": []}
    else:
        result["gate"] = gate(
            result["candidate"]["overall"]["all"], result["production"]["overall"]["all"]
        )
    return result
