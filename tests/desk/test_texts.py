"""The one catalogue of customer-facing texts: every text in both languages, with
the same placeholders, and one key for one text."""

from __future__ import annotations

import string

import pytest

from desk.texts import ACTION_TEXTS, REFUSALS, SYSTEM_TEXTS, say


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


CATALOGUE = {**SYSTEM_TEXTS, **ACTION_TEXTS, **REFUSALS}


def test_a_key_names_one_text():
    assert SYSTEM_TEXTS.keys() & ACTION_TEXTS.keys() == set()


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_text_exists_in_both_languages_with_the_same_placeholders(key):
    zh, en = CATALOGUE[key]
    assert zh.strip() or key.endswith("separator"), key
    assert en.strip() or key.endswith("separator"), key
    assert placeholders(zh) == placeholders(en), key
    # Chinese first: the zh text is Chinese (or punctuation), the en text is not.
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en), key


def test_say_fills_in_the_customers_language():
    assert say("assigned", "en", agent="Wang Fang") == "Wang Fang has joined and will help you now."
    assert say("assigned", "zh", agent="王芳") == "客服 王芳 已接入,为您服务。"
    assert say("list_separator", "zh") == "、"
    with pytest.raises(KeyError):
        say("no_such_text", "zh")
