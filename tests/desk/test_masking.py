"""Personal data masked before a trainer sees a message: every valid identifier masked,
nothing else (amounts, dates, invalid check digits, numbers inside longer runs)."""

from __future__ import annotations

from typing import Any

import pytest
import spacy
from stdnum import luhn

from desk.training import masking
from desk.training.masking import Found, Kind, find, mask, pipeline, pipeline_for
from store.identifiers import (
    id_card_check_digit,
    is_valid_id_card,
    make_advance_payment_number,
    make_claim_number,
    make_complaint_number,
    make_policy_number,
)


def _id_card(first17: str) -> str:
    return first17 + id_card_check_digit(first17)


def _card(without_check: str) -> str:
    return without_check + luhn.calc_check_digit(without_check)


def _full_width(text: str) -> str:
    return text.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))


def _wrong_last(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


ID1 = _id_card("11010519491231002")  # ends in X
ID2 = _id_card("11010519860412035")
# Issued in districts created after the holder's birth (stdnum's `ric.is_valid` says no).
ID3 = _id_card("44030619900307123")
ID4 = _id_card("31011519851120004")  # also passes Luhn: still an ID card, not a card
CARD16 = _card("622202123456789")
CARD19 = _card("622848001234567890")
CARD13 = _card("411111111111")
CARD16B = _card("621700123456789")
VISA = "4111111111111111"

# The numbers the cases quote; the expected outputs quote only those that must stay.
N = {
    "id1": ID1,
    "id1l": ID1.lower(),
    "id2": ID2,
    "id3": ID3,
    "id4": ID4,
    "id1s": f"{ID1[:6]} {ID1[6:14]} {ID1[14:]}",
    "id2d": f"{ID2[:6]}-{ID2[6:14]}-{ID2[14:]}",
    "id3s4": f"{ID3[:6]} {ID3[6:10]} {ID3[10:14]} {ID3[14:]}",
    "id1fw": _full_width(ID1),
    "id2fw": _full_width(ID2),
    "id_bad": _wrong_last(ID2),
    "id_bad3": _wrong_last(ID3),
    "id_bad_date": "110105199013450012",  # month 13; fails Luhn too
    # A mistyped ID card whose wrong last digit happens to make Luhn right: not a card.
    "id_bad_luhn": _card(ID2[:17]),
    "card16": CARD16,
    "card19": CARD19,
    "card13": CARD13,
    "card16b": CARD16B,
    "visa": VISA,
    "card16s": " ".join(CARD16[i : i + 4] for i in range(0, 16, 4)),
    "card16d": "-".join(CARD16[i : i + 4] for i in range(0, 16, 4)),
    "card19s": " ".join(CARD19[i : i + 4] for i in range(0, 19, 4)),
    "card16fw": _full_width(CARD16),
    "card18": "622202123456789012",  # 18 digits, Luhn right, no birth date: a card
    "card_bad": _wrong_last(CARD16),
    "card_bad19": _wrong_last(CARD19),
    "card_bads": " ".join(_wrong_last(CARD16)[i : i + 4] for i in range(0, 16, 4)),
    "pol": make_policy_number(1),
    "pol2": make_policy_number(123_456_789_012),
    "pol_bad": "P0000000000017",
    "clm": make_claim_number(987_654),
    "clm_bad": "C0000000000019",
    "cmp": make_complaint_number(42),
    "adv": make_advance_payment_number(7),
    "adv_bad": "A0000000000017",
}

NAMES_ZH = {"names": ["张伟", "李秀英"]}
NAMES_EN = {"names": ["Li Wei", "Anna Smith"]}
NAMES_MIX = {"names": ["张伟", "Li Wei"]}
CODE = {"after_code_request": True}

CASES: list[tuple[str, dict[str, Any], str]] = [
    # ---- mobile numbers
    ("我的手机是13800138000", {}, "我的手机是<MOBILE>"),
    ("手机13800138000谢谢", {}, "手机<MOBILE>谢谢"),
    ("手机：138 0013 8000", {}, "手机：<MOBILE>"),
    ("手机：138-0013-8000。", {}, "手机：<MOBILE>。"),
    ("电话+86 138 0013 8000", {}, "电话<MOBILE>"),
    ("电话+8613800138000", {}, "电话<MOBILE>"),
    ("电话 8613800138000", {}, "电话 <MOBILE>"),
    ("电话0086-13800138000", {}, "电话<MOBILE>"),
    ("（+86）13912345678", {}, "<MOBILE>"),
    ("手机１３８００１３８０００", {}, "手机<MOBILE>"),
    ("手机＋８６　１３８００１３８０００", {}, "手机<MOBILE>"),
    ("call me on 13800138000", {}, "call me on <MOBILE>"),
    ("call me on +86-139-1234-5678.", {}, "call me on <MOBILE>."),
    ("My number: 1591234 5678", {}, "My number: <MOBILE>"),
    ("numbers 13800138000 13912345678", {}, "numbers <MOBILE> <MOBILE>"),
    ("13800138000", {}, "<MOBILE>"),
    ("(13800138000)", {}, "(<MOBILE>)"),
    ("手机号19912345678和17712345678", {}, "手机号<MOBILE>和<MOBILE>"),
    ("12345678901是错的", {}, "12345678901是错的"),
    ("号码12800138000不对", {}, "号码12800138000不对"),
    ("abc13800138000x", {}, "abc13800138000x"),
    ("913800138000", {}, "913800138000"),
    ("138001380001", {}, "138001380001"),
    ("ref13800138000", {}, "ref13800138000"),
    ("13800138000abc", {}, "13800138000abc"),
    ("id_13800138000", {}, "id_13800138000"),
    ("1380013800 is ten digits", {}, "1380013800 is ten digits"),
    ("10086是客服电话", {}, "10086是客服电话"),
    ("转账13800138000元", {}, "转账13800138000元"),
    # ---- ID card numbers
    ("身份证号{id1}", {}, "身份证号<ID_CARD>"),
    ("身份证号{id1l}", {}, "身份证号<ID_CARD>"),
    ("身份证{id2}，谢谢", {}, "身份证<ID_CARD>，谢谢"),
    ("身份证 {id1s}", {}, "身份证 <ID_CARD>"),
    ("身份证 {id2d}", {}, "身份证 <ID_CARD>"),
    ("身份证 {id3s4}", {}, "身份证 <ID_CARD>"),
    ("身份证{id1fw}", {}, "身份证<ID_CARD>"),
    ("身份证号码是{id2fw}。", {}, "身份证号码是<ID_CARD>。"),
    ("My ID card is {id3}.", {}, "My ID card is <ID_CARD>."),
    ("ID: {id4}", {}, "ID: <ID_CARD>"),
    ("{id4}", {}, "<ID_CARD>"),
    ("身份证{id_bad}", {}, "身份证{id_bad}"),
    ("ID {id_bad3} wrong digit", {}, "ID {id_bad3} wrong digit"),
    ("身份证{id_bad_date}", {}, "身份证{id_bad_date}"),
    ("身份证{id_bad_luhn}", {}, "身份证{id_bad_luhn}"),
    ("ID {id_bad_luhn}", {}, "ID {id_bad_luhn}"),
    ("x{id2}", {}, "x{id2}"),
    ("{id2}9", {}, "{id2}9"),
    ("9{id2}", {}, "9{id2}"),
    ("{id1}abc", {}, "{id1}abc"),
    ("两个身份证{id1}和{id2}", {}, "两个身份证<ID_CARD>和<ID_CARD>"),
    # ---- bank card numbers
    ("卡号{card16}", {}, "卡号<BANK_CARD>"),
    ("卡号{card19}", {}, "卡号<BANK_CARD>"),
    ("卡号{card13}", {}, "卡号<BANK_CARD>"),
    ("卡号 {card16s}", {}, "卡号 <BANK_CARD>"),
    ("卡号 {card16d}", {}, "卡号 <BANK_CARD>"),
    ("卡号 {card19s}", {}, "卡号 <BANK_CARD>"),
    ("卡号{card16fw}", {}, "卡号<BANK_CARD>"),
    ("card {visa} please", {}, "card <BANK_CARD> please"),
    ("my card is {card16b}.", {}, "my card is <BANK_CARD>."),
    ("account {card18}", {}, "account <BANK_CARD>"),
    ("卡号{card_bad}", {}, "卡号{card_bad}"),
    ("卡号{card_bad19}", {}, "卡号{card_bad19}"),
    ("卡号 {card_bads}", {}, "卡号 {card_bads}"),
    ("card 4111111111111112", {}, "card 4111111111111112"),
    ("x{card16}", {}, "x{card16}"),
    ("{card16}0", {}, "{card16}0"),
    ("卡号{card16}，手机13800138000", {}, "卡号<BANK_CARD>，手机<MOBILE>"),
    ("{card16s} 13800138000", {}, "<BANK_CARD> <MOBILE>"),
    ("1234567890123", {}, "1234567890123"),
    ("2026-11-20 2026-12-01", {}, "2026-11-20 2026-12-01"),
    ("¥{card16}", {}, "¥{card16}"),
    ("{card16}元", {}, "{card16}元"),
    # ---- our numbers
    ("保单号{pol}", {}, "保单号<POLICY_NO>"),
    ("保单号 {pol2}", {}, "保单号 <POLICY_NO>"),
    ("保单号p0000000000018", {}, "保单号<POLICY_NO>"),
    ("policy P 0000 0000 0001 8 please", {}, "policy <POLICY_NO> please"),
    ("保单号{pol_bad}", {}, "保单号{pol_bad}"),
    ("理赔号{clm}", {}, "理赔号<CLAIM_NO>"),
    ("claim c0000000000018?", {}, "claim <CLAIM_NO>?"),
    ("理赔号{clm_bad}", {}, "理赔号{clm_bad}"),
    ("投诉编号{cmp}", {}, "投诉编号<COMPLAINT_NO>"),
    ("complaint t0000000000426", {}, "complaint t0000000000426"),
    ("垫付申请{adv}", {}, "垫付申请<ADVANCE_NO>"),
    ("advance {adv_bad}", {}, "advance {adv_bad}"),
    ("XP0000000000018", {}, "XP0000000000018"),
    ("P00000000000189", {}, "P00000000000189"),
    ("保单{pol}和理赔{clm}", {}, "保单<POLICY_NO>和理赔<CLAIM_NO>"),
    (
        "policy {pol}, claim {clm}, complaint {cmp}",
        {},
        "policy <POLICY_NO>, claim <CLAIM_NO>, complaint <COMPLAINT_NO>",
    ),  # fmt: skip
    ("P0000000000018的保费是3000元", {}, "<POLICY_NO>的保费是3000元"),
    # ---- e-mail addresses
    ("邮箱liwei@example.com", {}, "邮箱<EMAIL>"),
    ("邮箱是 li.wei+claims@mail.example.cn，谢谢", {}, "邮箱是 <EMAIL>，谢谢"),
    ("mail me at Anna.Smith@Example.ORG.", {}, "mail me at <EMAIL>."),
    ("13800138000@qq.com", {}, "<EMAIL>"),
    (
        "write to a_b-c@sub.domain.co.uk or call 13800138000",
        {},
        "write to <EMAIL> or call <MOBILE>",
    ),  # fmt: skip
    ("@ mention only", {}, "@ mention only"),
    ("user@localhost", {}, "user@localhost"),
    ("价格@3000元", {}, "价格@3000元"),
    # ---- one-time codes
    ("123456", CODE, "<CODE>"),
    (" 8273 ", CODE, " <CODE> "),
    ("验证码是123456", {}, "验证码是<CODE>"),
    ("验证码：482913", {}, "验证码：<CODE>"),
    ("我收到的校验码是 5521，请查收", {}, "我收到的校验码是 <CODE>，请查收"),
    ("the code is 4417", {}, "the code is <CODE>"),
    ("My verification code: 90817263", {}, "My verification code: <CODE>"),
    ("OTP 7788", {}, "OTP <CODE>"),
    ("123456是验证码", {}, "<CODE>是验证码"),
    ("482913 is the code", {}, "<CODE> is the code"),
    ("123456", {}, "123456"),
    ("我的是123456", {}, "我的是123456"),
    ("好的 482913", CODE, "好的 <CODE>"),
    ("code 123", {}, "code 123"),
    ("code 123456789", {}, "code 123456789"),
    ("zip code 100101", {}, "zip code 100101"),
    ("postcode 100101", {}, "postcode 100101"),
    ("3000元", CODE, "3000元"),
    ("2026年", CODE, "2026年"),
    ("20261120", CODE, "20261120"),
    ("2026-11-20", CODE, "2026-11-20"),
    ("14:30", CODE, "14:30"),
    ("¥12,000.50", CODE, "¥12,000.50"),
    ("1,234,567", CODE, "1,234,567"),
    ("验证码是abc123456", {}, "验证码是abc123456"),
    ("验证码发到13800138000了", {}, "验证码发到<MOBILE>了"),
    ("验证码 654321，手机13800138000", {}, "验证码 <CODE>，手机<MOBILE>"),
    ("code12345", {}, "code12345"),
    ("验证码发到13800138000了，生日0101", {}, "验证码发到<MOBILE>了，生日0101"),
    ("验证码没收到，我的订单 5566", {}, "验证码没收到，我的订单 5566"),
    ("the code for 2 people is 1234", {}, "the code for 2 people is 1234"),
    ("the code I got is 123456", {}, "the code I got is <CODE>"),
    ("验证码错了, 5566", {}, "验证码错了, 5566"),
    ("1234 2 is the code", {}, "1234 2 is the code"),
    # ---- names
    ("我是张伟", NAMES_ZH, "我是<NAME>"),
    ("被保人李秀英，投保人张伟", NAMES_ZH, "被保人<NAME>，投保人<NAME>"),
    ("我是张 伟", NAMES_ZH, "我是<NAME>"),
    ("我是张伟", {}, "我是张伟"),
    ("我是王芳", NAMES_ZH, "我是王芳"),
    ("My name is Li Wei.", NAMES_EN, "My name is <NAME>."),
    ("my name is li wei", NAMES_EN, "my name is <NAME>"),
    ("LI WEI here, and anna smith too", NAMES_EN, "<NAME> here, and <NAME> too"),
    ("Li Wei's claim", NAMES_EN, "<NAME>'s claim"),
    ("Oli Weiss called", NAMES_EN, "Oli Weiss called"),
    ("Hannah Smith called", NAMES_EN, "Hannah Smith called"),
    ("My name is Li Wei.", {}, "My name is Li Wei."),
    ("我叫Li Wei", NAMES_MIX, "我叫<NAME>"),
    ("我叫OliWeiss", NAMES_MIX, "我叫OliWeiss"),
    ("张伟 and Li Wei", NAMES_MIX, "<NAME> and <NAME>"),
    ("I am Wei", {"names": ["Wei"]}, "I am <NAME>"),
    ("Weiss is not Wei", {"names": ["Wei"]}, "Weiss is not <NAME>"),
    ("名字空的", {"names": ["", "  "]}, "名字空的"),
    ("我是张伟，手机13800138000", NAMES_ZH, "我是<NAME>，手机<MOBILE>"),
    # ---- amounts, dates, times, ages, percentages: never masked
    ("保费¥12,000.50", {}, "保费¥12,000.50"),
    ("理赔金额3000元", {}, "理赔金额3000元"),
    ("总额1,234,567", {}, "总额1,234,567"),
    ("2026-11-20出院", {}, "2026-11-20出院"),
    ("入院日期20261120", {}, "入院日期20261120"),
    ("2026年11月20日住院", {}, "2026年11月20日住院"),
    ("下午14:30到16:00", {}, "下午14:30到16:00"),
    ("我今年35岁", {}, "我今年35岁"),
    ("报销比例80%", {}, "报销比例80%"),
    ("报销比例８０％", {}, "报销比例８０％"),
    ("paid $1,200.00 on 2026-11-20 at 09:15", {}, "paid $1,200.00 on 2026-11-20 at 09:15"),
    ("I am 42 years old", {}, "I am 42 years old"),
    ("deductible 10000 yuan", {}, "deductible 10000 yuan"),
    ("RMB 50000", {}, "RMB 50000"),
    ("共计10000000000000元", {}, "共计10000000000000元"),
    ("版本3.8.18", {}, "版本3.8.18"),
    ("订单号 20261120123456", {}, "订单号 20261120123456"),
    ("", {}, ""),
    ("你好", {}, "你好"),
    ("hello", {}, "hello"),
    # ---- several in one line, mixed languages
    (
        "我叫张伟，身份证{id1}，手机13800138000，卡号{card16}",
        NAMES_ZH,
        "我叫<NAME>，身份证<ID_CARD>，手机<MOBILE>，卡号<BANK_CARD>",
    ),
    (
        "Policy {pol}, ID {id2}, email li@x.cn, mobile +86 139 1234 5678",
        {},
        "Policy <POLICY_NO>, ID <ID_CARD>, email <EMAIL>, mobile <MOBILE>",
    ),
    (
        "保单{pol}的理赔款3000元打到{card19s}，2026年11月20日前",
        {},
        "保单<POLICY_NO>的理赔款3000元打到<BANK_CARD>，2026年11月20日前",
    ),
    (
        "my ID is {id1l} and the code is 1234",
        {},
        "my ID is <ID_CARD> and the code is <CODE>",
    ),
    (
        "身份证{id_bad}，卡{card_bad}，手机12800138000",
        {},
        "身份证{id_bad}，卡{card_bad}，手机12800138000",
    ),
    ("Li Wei 13800138000 liwei@example.com", NAMES_EN, "<NAME> <MOBILE> <EMAIL>"),
    ("{id1}\n{card16}\n13800138000", {}, "<ID_CARD>\n<BANK_CARD>\n<MOBILE>"),
    ("手机是138 0013 8000，验证码是 2468", {}, "手机是<MOBILE>，验证码是 <CODE>"),
    (
        "ID card {id1fw} and mobile １３９１２３４５６７８",
        {},
        "ID card <ID_CARD> and mobile <MOBILE>",
    ),  # fmt: skip
    ("邮箱 anna@example.com 金额 ¥12,000.50", {}, "邮箱 <EMAIL> 金额 ¥12,000.50"),
    ("2468", CODE, "<CODE>"),
    ("验证码 2468 13800138000", {}, "验证码 <CODE> <MOBILE>"),
    ("手机13800138000 卡{card13} 保单{pol2}", {}, "手机<MOBILE> 卡<BANK_CARD> 保单<POLICY_NO>"),
]


@pytest.mark.parametrize(("text", "kwargs", "expected"), CASES)
def test_personal_data_is_masked_and_nothing_else(
    text: str, kwargs: dict[str, Any], expected: str
) -> None:
    assert mask(text.format(**N), **kwargs) == expected.format(**N)


def test_the_case_list_is_long_enough_and_has_no_duplicates() -> None:
    assert len(CASES) >= 150
    assert len({(text, repr(kwargs)) for text, kwargs, _ in CASES}) == len(CASES)


def test_the_test_numbers_are_what_they_claim() -> None:
    # The invalid numbers fail their own check; the tricky valid ones pass both.
    assert all(is_valid_id_card(N[k]) for k in ("id1", "id1l", "id2", "id3", "id4"))
    assert luhn.is_valid(ID4)
    assert not is_valid_id_card(N["id_bad"]) and not is_valid_id_card(N["id_bad3"])
    assert not is_valid_id_card(N["id_bad_luhn"]) and luhn.is_valid(N["id_bad_luhn"])
    assert all(luhn.is_valid(N[k]) for k in ("card16", "card19", "card13", "card18"))
    assert not any(luhn.is_valid(N[k]) for k in ("card_bad", "card_bad19"))


def test_find_gives_kinds_offsets_and_placeholders_of_the_original_text() -> None:
    text = f"我是张伟，身份证{_full_width(ID1)}，邮箱a@b.cn"
    found = find(text, names=["张伟"])
    assert found == [
        Found(Kind.NAME, 2, 4),
        Found(Kind.ID_CARD, 8, 26),
        Found(Kind.EMAIL, 29, 35),
    ]
    assert [text[f.start : f.end] for f in found] == ["张伟", _full_width(ID1), "a@b.cn"]
    assert [f.placeholder for f in found] == ["<NAME>", "<ID_CARD>", "<EMAIL>"]


def test_the_pipeline_keeps_what_it_found_as_spans() -> None:
    nlp = pipeline_for("手机13800138000")
    doc = nlp(
        "手机13800138000",
        component_cfg={"personal_data": {"names": (), "after_code_request": False}},
    )
    assert [(span.text, span.label_) for span in doc.spans["personal_data"]] == [
        ("13800138000", "MOBILE")
    ]
    assert [(ent.text, ent.label_) for ent in doc.ents] == [("13800138000", "MOBILE")]


def test_english_and_chinese_text_go_to_their_own_pipeline() -> None:
    assert pipeline_for("my mobile is 13800138000").lang == "en"
    assert pipeline_for("我的手机").lang == "zh"
    assert pipeline_for("my name is 张伟").lang == "zh"
    assert pipeline_for("mobile １３８００１３８０００").lang == "zh"
    assert pipeline_for("") is pipeline("en")


def test_each_pipeline_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real_blank = spacy.blank

    def counting_blank(lang: str) -> Any:
        built.append(lang)
        return real_blank(lang)

    pipeline.cache_clear()
    monkeypatch.setattr(masking.spacy, "blank", counting_blank)
    try:
        for _ in range(3):
            mask("手机13800138000")
            mask("mobile 13800138000")
            mask("我是张伟", names=["张伟"])
            mask("I am Li Wei", names=["Li Wei"])
        assert sorted(built) == ["en", "zh"]
        assert pipeline("zh") is pipeline("zh")
    finally:
        pipeline.cache_clear()
