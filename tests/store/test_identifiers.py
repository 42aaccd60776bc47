from store.identifiers import (
    id_card_check_digit,
    is_valid_claim_number,
    is_valid_id_card,
    is_valid_policy_number,
    make_claim_number,
    make_policy_number,
    mask_id_card,
    mask_mobile,
)


def test_id_card_check_digit_follows_gb_11643():
    assert id_card_check_digit("11010519491231002") == "X"
    assert is_valid_id_card("11010519491231002X")
    assert is_valid_id_card("11010519491231002x")
    assert not is_valid_id_card("110105194912310021")  # wrong check digit
    assert not is_valid_id_card("110105194913310029")  # month 13
    assert not is_valid_id_card("1101051949123100")


def test_policy_and_claim_numbers_carry_a_luhn_digit():
    number = make_policy_number(2)
    assert number == "P0000000000026" and len(number) == 14
    assert is_valid_policy_number(number) and is_valid_policy_number(number.lower())
    assert not is_valid_policy_number("P0000000000027")
    assert not is_valid_policy_number(make_claim_number(26))
    assert is_valid_claim_number(make_claim_number(123456))
    assert not is_valid_claim_number("C000000012345")


def test_masking_keeps_only_the_ends():
    assert mask_id_card("11010519491231002X") == "110***********002X"
    assert mask_mobile("13800138000") == "138****8000"
