"""Personal data masked out of customer messages before a trainer sees them.

Trainers turn real messages into training data; they must not read whose ID card, card or
mobile a message quotes, and the bot must not learn them. Each value is replaced by a
placeholder that keeps the shape the model needs (the bot's own training data uses the
same placeholders, see bot/data/README.md):

    <ID_CARD>       mainland resident ID card number, GB 11643 check character right
    <MOBILE>        mainland mobile number, 1[3-9] + 9 digits, with or without +86/86/0086
    <BANK_CARD>     bank card number, 13-19 digits, Luhn check right
    <POLICY_NO>     our policy number (P + 13 digits, `store.identifiers`)
    <CLAIM_NO>      our claim number (C + 13 digits)
    <COMPLAINT_NO>  our complaint number (T + 13 digits)
    <ADVANCE_NO>    our advance-payment number (A + 13 digits)
    <EMAIL>         e-mail address
    <CODE>          one-time code, 4-8 digits, after a code request or named as a code
    <NAME>          a name the caller passes (the verified customer, insured members)

(We issue no callback numbers, so there is no <CALLBACK_NO>.)

Why so careful about what is *not* masked: a masked amount, date or age would make the
training data useless, so every number must pass its own check (check character, Luhn,
our validators) and must stand alone: digits glued to longer digit runs or to Latin
letters are not identifiers, nor are amounts (¥, 元, %) and dates. An 18-digit number that
reads as an ID card (a real birth date and place) but fails its check character is a
mistyped ID card, not a bank card, and stays as it is.

Detection runs inside a spaCy pipeline component over blank `zh` / `en` pipelines (no
model download): regular expressions over the text (with full-width digits read as
half-width, one for one, so offsets stay those of the original text), validators, and a
`PhraseMatcher` for names. `spacy.blank("zh")` splits Chinese into characters, so a
Chinese name is matched without spaces and a Latin name is checked against its
neighbouring letters. Pure functions of their inputs; each pipeline is built once per
process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache, lru_cache

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.util import filter_spans
from stdnum import luhn, numdb
from stdnum.cn import ric

from store.identifiers import (
    is_valid_advance_payment_number,
    is_valid_claim_number,
    is_valid_complaint_number,
    is_valid_policy_number,
)


class Kind(StrEnum):
    """What a piece of personal data is; its placeholder is `<KIND>`."""

    ID_CARD = "ID_CARD"
    MOBILE = "MOBILE"
    BANK_CARD = "BANK_CARD"
    POLICY_NO = "POLICY_NO"
    CLAIM_NO = "CLAIM_NO"
    COMPLAINT_NO = "COMPLAINT_NO"
    ADVANCE_NO = "ADVANCE_NO"
    EMAIL = "EMAIL"
    CODE = "CODE"
    NAME = "NAME"

    @property
    def placeholder(self) -> str:
        return f"<{self.value}>"


@dataclass(frozen=True, slots=True)
class Found:
    """One piece of personal data: its kind, where it is in the text (`text[start:end]`)
    and what replaces it."""

    kind: Kind
    start: int
    end: int

    @property
    def placeholder(self) -> str:
        return self.kind.placeholder


COMPONENT = "personal_data"
SPAN_KEY = "personal_data"

# Full-width digits and the characters written between them, read as half-width. One
# character for one, so that offsets in the read text are offsets in the original.
_HALF_WIDTH = str.maketrans(
    "０１２３４５６７８９Ｘｘ＋－\u3000（）", "0123456789Xx+- ()"
)  # fmt: skip
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

# Not glued to a digit, a Latin letter or an underscore on either side.
_B = r"(?<![0-9A-Za-z_])"
_E = r"(?![0-9A-Za-z_])"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
    r"\.[A-Za-z]{2,}(?![A-Za-z0-9])"
)
# Our numbers: a letter and 13 digits (spaces or dashes tolerated between them; a space
# after the letter only when it is a capital, so that "a 4111..." stays an English word).
_REFERENCE = re.compile(rf"{_B}(?:[PCTA][ \-]?|[pcta])[0-9](?:[ \-]?[0-9]){{12}}{_E}")
_ID_CARD = re.compile(rf"{_B}[0-9]{{6}}[ \-]?[0-9]{{4}}[ \-]?[0-9]{{4}}[ \-]?[0-9]{{3}}[0-9Xx]{_E}")
# Either one run of digits or groups of four with one kind of separator (6222 0212 ...).
_BANK_CARD = re.compile(
    rf"{_B}(?:[0-9]{{13,19}}|[0-9]{{4}}(?P<sep>[ \-])[0-9]{{4}}(?:(?P=sep)[0-9]{{4}}){{1,3}}"
    rf"(?:(?P=sep)[0-9]{{1,3}})?){_E}"
)
_MOBILE = re.compile(
    rf"{_B}(?:(?:\+|00)86[ \-]?|86[ \-]?|\(\+?86\)[ \-]?)?1[3-9][0-9](?:[ \-]?[0-9]{{4}}){{2}}{_E}"
)
_CODE = re.compile(rf"{_B}[0-9]{{4,8}}{_E}")
_CODE_WORD = re.compile(
    r"验证码|校验码|动态码|短信码|(?<![A-Za-z])(?<!zip )(?<!post )(?<!area )"
    r"(?:code|passcode|OTP)(?![A-Za-z])",
    re.IGNORECASE,
)
# Between the word and the code: no other number, and no end of a clause.
_GAP_BREAK = re.compile(r"[0-9，。；！？,;!?\n]")
# How far from the digits the word for a code may be: "验证码是：123456", "the code I got is
# 123456", "123456 is the code".
_CODE_WORD_BEFORE = 16
_CODE_WORD_AFTER = 12
# Amounts, ages and other quantities: a currency before the number or a unit after it.
_CURRENCY_BEFORE = re.compile(r"(?:[¥￥$€£]|RMB|CNY|USD|HKD)\s?$", re.IGNORECASE)
_UNIT_AFTER = re.compile(
    r"\s?(?:元|块|万|千|百|亿|角|%|％|岁|年|月|日|号|点|时|分|秒|天|周|次|个|人|份|"
    r"(?:yuan|rmb|cny|usd|years?|yrs?|days?|times?)(?![A-Za-z]))",
    re.IGNORECASE,
)
# A number joined to more digits by a date, time, decimal or thousands separator.
_JOINED_BEFORE = re.compile(r"[0-9][\-/.:,]$")
_JOINED_AFTER = re.compile(r"[\-/.:,][0-9]")

# stdnum's table of region codes (the province in the first two digits of an ID card).
_REGIONS = numdb.get("cn/loc")

_REFERENCE_KINDS: dict[str, tuple[Kind, Callable[[str], bool]]] = {
    "P": (Kind.POLICY_NO, is_valid_policy_number),
    "C": (Kind.CLAIM_NO, is_valid_claim_number),
    "T": (Kind.COMPLAINT_NO, is_valid_complaint_number),
    "A": (Kind.ADVANCE_NO, is_valid_advance_payment_number),
}


def mask(text: str, *, names: Sequence[str] = (), after_code_request: bool = False) -> str:
    """`text` with every piece of personal data replaced by its placeholder
    (`<MOBILE>`, `<ID_CARD>`, ...; see the module docstring).

    `names` are the names of the conversation's verified customer and insured members as
    the store knows them; `after_code_request` says the bot has just asked for a one-time
    code, so a lone 4-8 digit number is one."""
    parts: list[str] = []
    at = 0
    for found in find(text, names=names, after_code_request=after_code_request):
        parts += [text[at : found.start], found.placeholder]
        at = found.end
    parts.append(text[at:])
    return "".join(parts)


def find(text: str, *, names: Sequence[str] = (), after_code_request: bool = False) -> list[Found]:
    """The personal data in `text`, in order, none overlapping; arguments as for `mask`."""
    doc = pipeline_for(text)(
        text,
        component_cfg={
            COMPONENT: {"names": tuple(names), "after_code_request": after_code_request}
        },
    )
    found: list[Found] = doc.user_data[SPAN_KEY]
    return found


def pipeline_for(text: str) -> Language:
    """The blank pipeline for `text`: Chinese when it has any CJK character (mixed text
    included), English otherwise."""
    return pipeline("zh" if _CJK.search(text) else "en")


@cache
def pipeline(lang: str) -> Language:
    """The blank `lang` pipeline with the personal-data component, built once per process."""
    nlp = spacy.blank(lang)
    nlp.add_pipe(COMPONENT)
    return nlp


@Language.factory(COMPONENT)
def _make_component(nlp: Language, name: str) -> PersonalData:
    return PersonalData(nlp)


class PersonalData:
    """The pipeline component: finds the personal data of a doc and keeps it as spans
    (`doc.spans["personal_data"]`, `doc.ents`) labelled by kind, and with its exact
    offsets as `Found`s in `doc.user_data["personal_data"]` (a span covers whole tokens,
    a masked value only its own characters)."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp

    def __call__(
        self, doc: Doc, names: tuple[str, ...] = (), after_code_request: bool = False
    ) -> Doc:
        found = _resolve(
            _numbers(doc.text.translate(_HALF_WIDTH), after_code_request)
            + _names(doc, _name_matcher(self.nlp, _clean(names)))
        )
        spans = [
            span
            for f in found
            if (span := doc.char_span(f.start, f.end, f.kind.value, alignment_mode="expand"))
            is not None
        ]
        doc.spans[SPAN_KEY] = spans
        doc.ents = filter_spans(spans)
        doc.user_data[SPAN_KEY] = found
        return doc


def _numbers(text: str, after_code_request: bool) -> list[Found]:
    """E-mail addresses and every kind of number, most specific first."""
    found = [Found(Kind.EMAIL, m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for m in _REFERENCE.finditer(text):
        value = _compact(m.group())
        kind, valid = _REFERENCE_KINDS[value[0].upper()]
        if valid(value):
            found.append(Found(kind, m.start(), m.end()))
    for m in _ID_CARD.finditer(text):
        if _is_id_card(_compact(m.group())) and not _quantity(text, m.start(), m.end()):
            found.append(Found(Kind.ID_CARD, m.start(), m.end()))
    for m in _BANK_CARD.finditer(text):
        digits = _compact(m.group())
        if (
            13 <= len(digits) <= 19
            and luhn.is_valid(digits)
            and not (len(digits) == 18 and _reads_as_id_card(digits))
            and not _quantity(text, m.start(), m.end())
        ):
            found.append(Found(Kind.BANK_CARD, m.start(), m.end()))
    for m in _MOBILE.finditer(text):
        if not _quantity(text, m.start(), m.end()):
            found.append(Found(Kind.MOBILE, m.start(), m.end()))
    for m in _CODE.finditer(text):
        if (after_code_request or _named_as_code(text, m.start(), m.end())) and not (
            _quantity(text, m.start(), m.end())
            or _JOINED_BEFORE.search(text, max(0, m.start() - 2), m.start())
            or _JOINED_AFTER.match(text, m.end())
            or _reads_as_date(m.group())
        ):
            found.append(Found(Kind.CODE, m.start(), m.end()))
    return found


def _names(doc: Doc, matcher: PhraseMatcher | None) -> list[Found]:
    """The given names where they stand as names: a Latin name not inside a longer word."""
    if matcher is None:
        return []
    text = doc.text
    found = []
    for span in matcher(doc, as_spans=True):
        start, end = span.start_char, span.end_char
        if (_latin(text[start]) and start > 0 and _latin(text[start - 1])) or (
            _latin(text[end - 1]) and end < len(text) and _latin(text[end])
        ):
            continue
        found.append(Found(Kind.NAME, start, end))
    return found


@lru_cache(maxsize=1024)
def _name_matcher(nlp: Language, names: tuple[str, ...]) -> PhraseMatcher | None:
    """A case-insensitive phrase matcher for `names` (cached: the same customer's names
    come with each of their messages)."""
    if not names:
        return None
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    matcher.add(Kind.NAME.value, [nlp.make_doc(name) for name in names])
    return matcher


def _resolve(found: list[Found]) -> list[Found]:
    """The candidates that win, in text order: the more specific kind first (an e-mail
    address over the mobile number in it, a policy number over the digits after its
    `P`, an ID card over a bank card), then the longer; one overlapping a candidate
    already taken is dropped."""
    taken: list[Found] = []
    for f in sorted(found, key=lambda f: (_PRIORITY.index(f.kind), f.start - f.end, f.start)):
        if all(f.end <= t.start or t.end <= f.start for t in taken):
            taken.append(f)
    return sorted(taken, key=lambda f: f.start)


_PRIORITY = (
    Kind.EMAIL,
    Kind.POLICY_NO,
    Kind.CLAIM_NO,
    Kind.COMPLAINT_NO,
    Kind.ADVANCE_NO,
    Kind.ID_CARD,
    Kind.MOBILE,  # 86 13800138000 may pass Luhn: a mobile with its country code
    Kind.BANK_CARD,
    Kind.CODE,
    Kind.NAME,
)


def _quantity(text: str, start: int, end: int) -> bool:
    """An amount, age, date part or other quantity: ¥ before it or a unit after it."""
    return bool(
        _CURRENCY_BEFORE.search(text, max(0, start - 5), start) or _UNIT_AFTER.match(text, end)
    )


def _named_as_code(text: str, start: int, end: int) -> bool:
    """The word for a code shortly before or after the digits, in the same clause and
    with no other number in between ("验证码没收到，订单 5566" names no code)."""
    before = [m.end() for m in _CODE_WORD.finditer(text, max(0, start - _CODE_WORD_BEFORE), start)]
    if before and not _GAP_BREAK.search(text, before[-1], start):
        return True
    after = _CODE_WORD.search(text, end, end + _CODE_WORD_AFTER)
    return after is not None and not _GAP_BREAK.search(text, end, after.start())


def _is_id_card(number: str) -> bool:
    """A resident ID card number: GB 11643 check character, birth date and province.

    Not `ric.is_valid`: it also wants the county code to have existed in the birth year,
    but the code is where the number was issued, often later (a Pudong 310115 number of
    someone born in 1985), and such a number must be masked all the same."""
    number = number.upper()
    return (
        len(number) == 18
        and number[:17].isdigit()
        and ric.calc_check_digit(number) == number[17]
        and _reads_as_id_card(number)
    )


def _reads_as_id_card(number: str) -> bool:
    """An ID card number's birth date (from 1900) and province, whatever its check
    character says."""
    try:
        born = ric.get_birth_date(number)
    except ValueError:
        return False
    return born.year >= 1900 and "province" in dict(_REGIONS.info(number[:2])[0][1])


def _reads_as_date(digits: str) -> bool:
    """20261120: a date of this or the last century, not a code."""
    if len(digits) != 8 or digits[:2] not in ("19", "20"):
        return False
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def _compact(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


def _latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _clean(names: Sequence[str]) -> tuple[str, ...]:
    """Distinct non-empty names, longest first, stripped."""
    return tuple(sorted({n.strip() for n in names if n and n.strip()}, key=lambda n: -len(n)))
