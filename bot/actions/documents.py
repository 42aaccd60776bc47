"""The document checklist for each kind of claim, from bot/actions/data/claim_documents.yml."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from ruamel.yaml import YAML

from bot.actions.common import language
from bot.actions.handoff import guarded
from desk.texts import pick, say

CHECKLISTS = Path(__file__).resolve().parent / "data" / "claim_documents.yml"
# Words that name a kind of claim, in either language.
KIND_WORDS = {
    "hospitalisation": ("住院", "出院", "inpatient", "hospitalis", "hospitaliz", "admitted"),
    "outpatient": ("门诊", "急诊", "outpatient", "clinic", "a&e"),
    "critical_illness": ("重疾", "重大疾病", "癌", "critical", "cancer"),
    "accident": ("意外", "骨折", "车祸", "摔", "accident", "injur", "fracture"),
}


@lru_cache
def checklists() -> dict[str, Any]:
    return YAML(typ="safe").load(CHECKLISTS.read_text(encoding="utf-8"))


def claim_kind(tracker: Tracker) -> str | None:
    """The kind of claim the customer named: a button's entity, or words in their text."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "claim_kind" and entity.get("value") in checklists():
            return entity["value"]
    return kind_in(tracker.latest_message.get("text") or "")


def kind_in(text: str) -> str | None:
    """The kind of claim named by words in `text`, in either language."""
    lowered = text.lower()
    return next((k for k, words in KIND_WORDS.items() if any(w in lowered for w in words)), None)


def checklist_text(kind: str, lang: str) -> str:
    entry = checklists()[kind]
    head = say("checklist_heading", lang, kind=pick((entry["zh"], entry["en"]), lang))
    items = [f"{n}. {pick(pair, lang)}" for n, pair in enumerate(entry["documents"], start=1)]
    return "\n".join([head, *items, say("checklist_advice", lang)])


class ActionClaimDocuments(Action):
    def name(self) -> str:
        return "action_claim_documents"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        kind = claim_kind(tracker)
        if kind is not None:
            dispatcher.utter_message(text=checklist_text(kind, lang))
            return []
        # Which kind? Offer buttons; their payloads are the only commands the gateway passes.
        buttons = [
            {
                "title": pick((entry["zh"], entry["en"].capitalize()), lang),
                "payload": "/ask_claim_documents" + json.dumps({"claim_kind": kind}),
            }
            for kind, entry in checklists().items()
        ]
        dispatcher.utter_message(response="utter_ask_claim_kind", buttons=buttons)
        return []
