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
    index = 1 if lang == "en" else 0
    name = product["name"][index]
    separator = ": " if lang == "en" else ":"
    if aspect:
        label = TERM_LABELS[aspect][index]
        if lang == "en":
            return f"{name}, {label.lower()}: {product['terms'][aspect][1]}"
        return f"{name}的{label}:{product['terms'][aspect][0]}"
    lines = [name]
    lines += [
        f"· {TERM_LABELS[term][index]}{separator}{values[index]}"
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
        index = 1 if lang == "en" else 0
        dispatcher.utter_message(
            response="utter_product_overview",
            buttons=[
                {"title": p["name"][index], "payload": p["name"][index]}
                for p in products().values()
            ],
        )
        return []
