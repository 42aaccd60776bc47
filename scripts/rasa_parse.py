"""What one or more trained models understand in a list of texts, for the workbench's
evaluation (`desk/training/evaluation.py`). Runs in Rasa's environment:

    .venv-rasa/bin/python scripts/rasa_parse.py --texts texts.json --out out.json M1 [M2 ...]

Each model is loaded once with Rasa's own API and parses every text; `out.json` maps
each model path (as given) to its labels in the texts' order: the intent, or for
the FAQ its topic (`faq/<topic>`, the response selector's choice), and
`nlu_fallback` when the model was unsure."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from rasa.core.agent import Agent
from rasa.utils.log_utils import configure_structlog


def label_of(parsed: dict[str, Any]) -> str:
    intent = str((parsed.get("intent") or {}).get("name") or "nlu_fallback")
    selector = parsed.get("response_selector") or {}
    chosen = (selector.get(intent) or selector.get("default") or {}).get("response") or {}
    key = chosen.get("intent_response_key")
    return str(key) if key and str(key).startswith(f"{intent}/") else intent


async def labels(model: str, texts: list[str]) -> list[str]:
    agent = Agent.load(model)
    found = []
    for text in texts:
        # A leading "/" would make Rasa read the text as an intent command.
        parsed = await agent.parse_message(text.lstrip("/") if text.startswith("/") else text)
        found.append(label_of(parsed))
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("models", nargs="+")
    arguments = parser.parse_args()
    texts = json.loads(arguments.texts.read_text(encoding="utf-8"))
    result = {model: await labels(model, texts) for model in arguments.models}
    arguments.out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    # Rasa's structured log would print every parse.
    configure_structlog(logging.WARNING)
    asyncio.run(main())
