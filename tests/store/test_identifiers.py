"""Check digits and masking of the identifiers customers quote."""

from datetime import date

import pytest

from store.identifiers import (
    id_card_birth_date,
    id_card_check_digit,
    is_valid_advance_payment_number,
    is_valid_claim_number,
    is_valid_complaint_number,
    is_valid_id_card,
    is_valid_policy_number,
    luhn_digit,
    make_advance_payment_number,
    make_claim_number,
    make_complaint_number,
    make_policy_number,
    mask_id_card,
    mask_identifiers,
    mask_mobile,
)


def test_id_card_check_digit_follows_gb_11643():
    assert id_card_check_digit("11010519491231002") == "X"
    assert id_card_check_digit("11010519860412035") == "3"
    with pytest.raises(ValueError):
        id_card_check_digit("1101051949123100")


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "11010519491231002x", " 110105198604120353 "]
)
def test_valid_id_cards(number):
    assert is_valid_id_card(number)


def _with_check(first17: str) -> str:
    return first17 + id_card_check_digit(first17)


def test_invalid_id_cards():
    assert not is_valid_id_card("110105194912310021")  # wrong check digit
    # Each of these has the right check character, and fails for its own reason:
    assert not is_valid_id_card(_with_check("11010519491331002"))  # month 13
    assert not is_valid_id_card(_with_check("11010519490229002"))  # no 29 February in 1949
    assert not is_valid_id_card(_with_check("99010519491231002"))  # no province 99
    assert not is_valid_id_card(_with_check("11010518991231002"))  # born before 1900
    for number in ("1101051949123100", "11010519491231002XX", "1101051949123100AX", ""):
        assert not is_valid_id_card(number)


def test_birth_date_and_future_births():
    assert id_card_birth_date("11010519491231002X") == date(1949, 12, 31)
    born_2026 = "11010520260601001" + id_card_check_digit("11010520260601001")
    assert is_valid_id_card(born_2026)
    assert is_valid_id_card(born_2026, today=date(2026, 11, 1))
    assert not is_valid_id_card(born_2026, today=date(2026, 5, 31))


def test_luhn_digit():
    assert luhn_digit("7992739871") == "3"  # the textbook example, 79927398713
    assert luhn_digit("000000000000") == "0"


def test_policy_and_claim_numbers_carry_a_luhn_digit():
    assert make_policy_number(1) == "P0000000000018"
    assert make_policy_number(2) == "P0000000000026"
    number = make_policy_number(123_456_789_012)
    assert len(number) == 14 and number.startswith("P1234567890")
    assert is_valid_policy_number(number)
    assert is_valid_policy_number(number.lower())
    assert is_valid_policy_number(" P 0000 0000 0001 8 ")
    assert not is_valid_policy_number("P0000000000017")  # wrong check digit
    assert not is_valid_policy_number("P000000000018")  # too short
    assert not is_valid_policy_number(make_claim_number(1))  # a claim number
    assert not is_valid_policy_number("")
    assert make_claim_number(1) == "C0000000000018"
    assert is_valid_claim_number(make_claim_number(987_654))
    assert is_valid_claim_number("c0000000000018")
    assert not is_valid_claim_number("C0000000000019")
    assert not is_valid_claim_number("P0000000000018")
    with pytest.raises(ValueError):
        make_policy_number(10**12)
    with pytest.raises(ValueError):
        make_claim_number(-1)


def test_complaint_and_advance_payment_numbers_are_checked_like_policy_numbers():
    assert is_valid_complaint_number(make_complaint_number(42))
    assert is_valid_complaint_number("t0000000000018")
    assert not is_valid_complaint_number("T0000000000019")
    assert not is_valid_complaint_number(make_policy_number(42))
    assert is_valid_advance_payment_number(make_advance_payment_number(7))
    assert is_valid_advance_payment_number("A 0000 0000 0001 8")
    assert not is_valid_advance_payment_number("A0000000000017")
    assert not is_valid_advance_payment_number(make_complaint_number(7))


def test_masking_keeps_only_the_ends():
    assert mask_id_card("11010519491231002X") == "110***********002X"
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("13800138000") == "138****8000"
    assert mask_id_card("1234") == "****"
    assert mask_mobile("") == ""


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("184457", "******"),  # a message that is only a one-time code
        (" 0042 ", "******"),
        ("验证码是 123456", "验证码是 ******"),
        ("my code: 908172", "my code: ******"),
        ("身份证 110105198604120353", "身份证 110***********0353"),
        ("11010519491231002x", "110***********002X"),
        ("手机 138 0013 8000", "手机 138****8000"),
        ("+86 138-0013-8000", "138****8000"),
        ("卡号6217000000000000017", "卡号**** **** **** 0017"),
        # as typed with a Chinese input method, or grouped as printed
        ("手机１３８００１３８０００", "手机138****8000"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ", "身份证110***********002X"),
        ("身份证 110105 19491231 002X", "身份证 110***********002X"),
        ("卡号 6222 0212 3456 7894 还款", "卡号 **** **** **** 7894 还款"),
        ("card 6222-0212-3456-789", "card **** **** **** 6789"),
        # what agents need stays: amounts, dates, our own numbers
        ("住院花了 120000 元", "住院花了 120000 元"),
        ("2026-11-20 出院", "2026-11-20 出院"),
        ("保单 P0000000000026", "保单 P0000000000026"),
        ("claim C0000000000026", "claim C0000000000026"),
    ],
)
def test_identifiers_in_free_text_are_masked(typed, kept):
    assert mask_identifiers(typed) == kept
