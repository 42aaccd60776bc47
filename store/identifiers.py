"""Check digits and masking for the identifiers customers quote."""

from __future__ import annotations

from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_check_digit(first17: str) -> str:
    """The 18th character of a resident ID card number (GB 11643-1999)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_valid_id_card(number: str) -> bool:
    number = (number or "").strip().upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
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
    digits = f"{serial:012d}"
    return f"{prefix}{digits}{luhn_digit(digits)}"


def _valid(prefix: str, value: str) -> bool:
    value = (value or "").replace(" ", "").upper()
    digits = value[1:]
    return (
        len(value) == 14
        and value[0] == prefix
        and digits.isdigit()
        and luhn_digit(digits[:-1]) == digits[-1]
    )


def make_policy_number(serial: int) -> str:
    """`P` + 12 digits + a Luhn check digit."""
    return _make("P", serial)


def is_valid_policy_number(value: str) -> bool:
    return _valid("P", value)


def make_claim_number(serial: int) -> str:
    """`C` + 12 digits + a Luhn check digit."""
    return _make("C", serial)


def is_valid_claim_number(value: str) -> bool:
    return _valid("C", value)


def mask_id_card(number: str) -> str:
    return number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 7 else "****"


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) >= 11 else "****"
