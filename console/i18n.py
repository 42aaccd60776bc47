"""The console's interface in Chinese and English.

Strings live in `locales/<language>/<page>.json` (one file per page or part, so
each can be edited on its own); every file of a language is merged into one
catalogue. A key missing in English falls back to Chinese, then to the key."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("zh", "en")
DEFAULT = "zh"


@lru_cache
def catalogue(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / language).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT


def t(language: str, key: str, **values: Any) -> str:
    text = catalogue(language_of(language)).get(key) or catalogue(DEFAULT).get(key) or key
    return text.format(**values) if values else text


def translator(language: str):
    """`_("key", name=...)` for templates, bound to one language."""

    def _(key: str, **values: Any) -> str:
        return t(language, key, **values)

    return _


def strings(language: str, prefix: str) -> dict[str, str]:
    """The strings a page's script needs (keys under `prefix`), with fallbacks."""
    chosen = {**catalogue(DEFAULT), **catalogue(language_of(language))}
    return {key: text for key, text in chosen.items() if key.startswith(prefix)}


def preferred(accept_language: str | None) -> str:
    """The language a browser asks for, before anyone has signed in."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("en"):
            return "en"
        if code.startswith("zh"):
            return "zh"
    return DEFAULT
