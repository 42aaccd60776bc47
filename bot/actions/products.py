"""Product questions answered from the catalogue in bot/actions/data/products.yml:
one term of one product when the customer names both, the whole product when they
name the product, and the overview with a button per product otherwise."""

from __future__ import annotations

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

CATALOGUE = Path(__file__).resolve().parent / "data" / "products.yml"
TERM_LABELS = {
    "cover": ("保障", "Cover"),
    "ages": ("投保年龄", "Who can apply"),
    "price": ("价格", "Price"),
    "waiting_period": ("等待期", "Waiting period"),
    "cooling_off": ("犹豫期", "Cooling-off"),
    "renewal": ("续保", "Renewal"),
    "deductible": ("免赔额", "Deductible"),
    "hospitals": ("医院范围", "Hospitals"),
    "pre_existing": ("既往症", "Pre-existing conditions"),
    "payment": ("缴费方式", "Payment"),
}


@lru_cache
def catalogue() -> dict[str, Any]:
    return YAML(typ="safe").load(CATALOGUE.read_text(encoding="utf-8"))


def products() -> dict[str, Any]:
    return {key: value for key, value in catalogue().items() if key != "aspects"}


def product_in(text: str) -> str | None:
    """The product the customer names; the longest matching word wins (长期医疗 over 医疗)."""
    lowered = text.lower()
    best, best_length = None, 0
    for key, product in products().items():
        for word in [*product["words"], *product["name"]]:
            if word.lower() in lowered and len(word) > best_length:
                best, best_length = key, len(word)
    return best


def aspect_in(text: str) -> str | None:
    lowered = text.lower()
    return next(
        (
            aspect
            for aspect, words in catalogue()["aspects"].items()
            if any(word.lower() in lowered for word in words)
        ),
        None,
    )


def product_text(key: str, lang: str, aspect: str | None = None) -> str:
    product = products()[key]
    name = pick(product["name"], lang)
    if aspect:
        zh_label, en_label = TERM_LABELS[aspect]
        return say(
            "product_term",
            lang,
            product=name,
            # Inside the sentence, in lower case.
            term=pick((zh_label, en_label.lower()), lang),
            value=pick(product["terms"][aspect], lang),
        )
    lines = [name]
    lines += [
        say("product_term_line", lang, term=pick(TERM_LABELS[term], lang), value=pick(values, lang))
        for term, values in product["terms"].items()
    ]
    return "\n".join(lines)


class ActionProductInfo(Action):
    def name(self) -> str:
        return "action_product_info"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        text = tracker.latest_message.get("text") or ""
        key = product_in(text)
        if key is not None:
            dispatcher.utter_message(text=product_text(key, lang, aspect_in(text)))
            dispatcher.utter_message(response="utter_product_terms_note")
            return []
        names = [pick(p["name"], lang) for p in products().values()]
        dispatcher.utter_message(
            response="utter_product_overview",
            buttons=[{"title": name, "payload": name} for name in names],
        )
        return []
