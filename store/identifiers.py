"""Check digits and masking for the identifiers customers quote. Pure functions, no I/O."""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits: the 31 mainland provinces, plus the residence permits of
# Hong Kong (81), Macao (82) and Taiwan (83) residents.
_PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83".split()
)


def id_card_check_digit(first17: str) -> str:
    """The 18th character of a resident ID card number (GB 11643-1999)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("expected the first 17 digits of an ID card number")
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_card_birth_date(number: str) -> date | None:
    """The birth date in positions 7-14, or None when it is not a real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def is_valid_id_card(number: str, today: date | None = None) -> bool:
    """18 characters, a known province, a plausible birth date (from 1900, and not
    after `today` when given) and the right check character (`x` counts as `X`)."""
    number = (number or "").strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _PROVINCE_CODES:
        return False
    born = id_card_birth_date(number)
    if born is None or born.year < 1900 or (today is not None and born > today):
        return False
    return number[17] == id_card_check_digit(number[:17])


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def _make(prefix: str, serial: int) -> str:
    if not 0 <= serial < 10**12:
        raise ValueError("serial must have at most 12 digits")
    digits = f"{serial:012d}"
    return f"{prefix}{digits}{luhn_digit(digits)}"


def _valid(prefix: str, value: str) -> bool:
    value = (value or "").replace(" ", "").upper()
    digits = value[1:]
    return (
        len(value) == 14
        and value[0] == prefix
        and digits.isascii()
        and digits.isdigit()
        and luhn_digit(digits[:-1]) == digits[-1]
    )


def make_policy_number(serial: int) -> str:
    """`P` + 12 digits + a Luhn check digit, e.g. P0000000000018."""
    return _make("P", serial)


def is_valid_policy_number(value: str) -> bool:
    """A well-formed policy number; a lower-case `p` and spaces are tolerated."""
    return _valid("P", value)


def make_claim_number(serial: int) -> str:
    """`C` + 12 digits + a Luhn check digit."""
    return _make("C", serial)


def is_valid_claim_number(value: str) -> bool:
    """A well-formed claim number; a lower-case `c` and spaces are tolerated."""
    return _valid("C", value)


def make_complaint_number(serial: int) -> str:
    """`T` (投诉) + 12 digits + a Luhn check digit."""
    return _make("T", serial)


def is_valid_complaint_number(value: str) -> bool:
    """A well-formed complaint number; a lower-case `t` and spaces are tolerated."""
    return _valid("T", value)


def make_advance_payment_number(serial: int) -> str:
    """`A` + 12 digits + a Luhn check digit."""
    return _make("A", serial)


def is_valid_advance_payment_number(value: str) -> bool:
    """A well-formed advance-payment number; a lower-case `a` and spaces are tolerated."""
    return _valid("A", value)


def mask_bank_account(number: str) -> str:
    """Only the last 4 digits: **** **** **** 6217."""
    number = (number or "").replace(" ", "")
    return "**** **** **** " + number[-4:] if len(number) >= 8 else "*" * len(number)


def mask_id_card(number: str) -> str:
    """Keep the first 3 and last 4 characters: 110***********002X."""
    number = number or ""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_mobile(mobile: str) -> str:
    """Keep the first 3 and last 4 digits: 138****5678."""
    mobile = mobile or ""
    if len(mobile) < 8:
        return "*" * len(mobile)
    return mobile[:3] + "****" + mobile[-4:]


# What a customer may type that must not reach agents' summaries, events or analytics
# in clear. Longest first: an ID card's 18 characters must not be read as a card.
# Digits may come grouped by single spaces or dashes (as cards are printed).
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){14,18}(?:[ -]?[Xx])?(?![0-9A-Za-z])")
# Full-width digits (a Chinese input method's) are read as the digits they are.
_HALF_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ＋－", "0123456789Xx+-")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_CODE_AFTER_WORD = re.compile(r"(验证码|校验码|code)(\D{0,6}?)(?<!\d)\d{4,8}(?!\d)", re.IGNORECASE)
_CODE_ALONE = re.compile(r"\s*\d{4,8}\s*")


def mask_identifiers(text: str) -> str:
    """`text` with ID card, bank card and mobile numbers masked as the customer 360
    masks them, and one-time codes (a message that is only a code, or a code named
    as one) replaced by asterisks."""
    text = (text or "").translate(_HALF_WIDTH)
    if _CODE_ALONE.fullmatch(text):
        return "******"

    def long_number(match: re.Match[str]) -> str:
        number = re.sub(r"[ -]", "", match.group(0))
        if len(number) == 18 and is_valid_id_card(number):
            return mask_id_card(number.upper())
        return mask_bank_account(number)

    text = _LONG_NUMBER.sub(long_number, text)
    text = _MOBILE.sub(lambda m: mask_mobile(m.group(1) + m.group(2) + m.group(3)), text)
    return _CODE_AFTER_WORD.sub(lambda m: m.group(1) + m.group(2) + "******", text)
