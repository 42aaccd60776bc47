"""The fixed demo customers the README documents (pure data): 张伟 (customer 1)
and 李娜 (customer 2), with their families, policies and claims. Every value is
fixed, none drawn, so they are the same on every machine and with every seed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from store.demo.dates import beijing_time
from store.demo.products import SUBMISSION_CHANNELS
from store.identifiers import id_card_check_digit
from store.models import ClaimKind, ClaimStage

_S, _D, _R, _A, _P = (
    ClaimStage.SUBMITTED,
    ClaimStage.DOCUMENTS_PENDING,
    ClaimStage.REVIEWING,
    ClaimStage.APPROVED,
    ClaimStage.PAID,
)
_APP, _WECHAT = SUBMISSION_CHANNELS[0], SUBMISSION_CHANNELS[1]


def _t(month: int, day: int, hour: int, minute: int, year: int = 2026) -> datetime:
    return beijing_time(date(year, month, day), hour, minute)


def _paid_note(card: str) -> str:
    return f"已转账至尾号 {card} 的银行卡 / Paid to the bank card ending {card}"


def _approved_note(amount: str) -> str:
    return f"核定赔付 {amount} 元 / Approved: CNY {amount}"


def _fixed_id_card(region: str, born: date, sequence: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + id_card_check_digit(first17)


DEMO_CUSTOMERS: dict[int, dict[str, Any]] = {
    1: {
        "id": 1,
        "name": "张伟",
        "id_card_number": _fixed_id_card("110105", date(1986, 4, 12), "035"),
        "mobile": "13800138000",
        "bank_account": "6217000010086217",
        "birth_date": date(1986, 4, 12),
        "gender": "M",
        "province": "北京",
        "city": "北京",
        "city_tier": 1,
        "has_social_insurance": True,
        "tags": [],
        "created_at": _t(3, 10, 20, 41, year=2023),
        "policies": [
            {
                "product": "RBJK-ACC",
                "sum_insured": 500_000,
                "premium": 199,
                "effective_date": date(2026, 3, 15),
                "term_years": 1,
                "members": [],
                "claims": [],
            },
            {
                "product": "HYB-LTM",
                "sum_insured": 4_000_000,
                "premium": 586,
                "effective_date": date(2023, 3, 15),
                "term_years": 20,
                "members": [
                    {
                        "relation": "spouse",
                        "name": "刘敏",
                        "id_card_number": _fixed_id_card("110108", date(1988, 9, 3), "046"),
                        "birth_date": date(1988, 9, 3),
                    },
                    {
                        "relation": "child",
                        "name": "张梓轩",
                        "id_card_number": _fixed_id_card("110105", date(2016, 7, 21), "013"),
                        "birth_date": date(2016, 7, 21),
                    },
                ],
                "claims": [
                    {
                        "member": "张伟",
                        "kind": ClaimKind.HOSPITALISATION,
                        "incident": date(2026, 6, 18),
                        "hospital": "北京协和医院",
                        "claimed": "23456.80",
                        "approved": "21870.50",
                        "history": [
                            (_S, _t(6, 25, 9, 32), _APP),
                            (_R, _t(6, 25, 11, 5), None),
                            (_A, _t(6, 25, 17, 40), _approved_note("21870.50")),
                            (_P, _t(6, 25, 20, 18), _paid_note("6217")),
                        ],
                    },
                    {
                        "member": "张梓轩",
                        "kind": ClaimKind.HOSPITALISATION,
                        "incident": date(2026, 10, 24),
                        "hospital": "首都医科大学附属北京儿童医院",
                        "claimed": "8620.00",
                        "approved": "8620.00",
                        "history": [
                            (_S, _t(10, 29, 19, 20), _WECHAT),
                            (_R, _t(10, 29, 21, 2), None),
                        ],
                    },
                ],
            },
        ],
    },
    2: {
        "id": 2,
        "name": "李娜",
        "id_card_number": _fixed_id_card("510104", date(1979, 9, 23), "026"),
        "mobile": "13900139000",
        "bank_account": "6222024402010932",
        "birth_date": date(1979, 9, 23),
        "gender": "F",
        "province": "四川",
        "city": "成都",
        "city_tier": 2,
        "has_social_insurance": True,
        "tags": [],
        "created_at": _t(5, 28, 12, 16, year=2021),
        "policies": [
            {
                "product": "HYB-STM",
                "sum_insured": 3_000_000,
                "premium": 356,
                "effective_date": date(2026, 2, 1),
                "term_years": 1,
                "members": [],
                "claims": [
                    {
                        "member": "李娜",
                        "kind": ClaimKind.HOSPITALISATION,
                        "incident": date(2026, 8, 9),
                        "hospital": "四川省人民医院",
                        "claimed": "12380.00",
                        "approved": "11905.60",
                        "history": [
                            (_S, _t(8, 16, 8, 47), _WECHAT),
                            (_R, _t(8, 16, 8, 50), "快速理赔 / Fast-track claim"),
                            (_A, _t(8, 16, 9, 4), _approved_note("11905.60")),
                            (_P, _t(8, 16, 9, 15), _paid_note("0932")),
                        ],
                    }
                ],
            },
            {
                "product": "RBJK-CI",
                "sum_insured": 300_000,
                "premium": 4_860,
                "effective_date": date(2021, 6, 1),
                "term_years": 30,
                "members": [],
                "claims": [
                    {
                        "member": "李娜",
                        "kind": ClaimKind.CRITICAL_ILLNESS,
                        "incident": date(2026, 10, 20),
                        "hospital": "四川大学华西医院",
                        "claimed": "300000.00",
                        "approved": "300000.00",
                        "missing": [
                            "病理诊断报告 / pathology report",
                            "出院小结 / discharge summary",
                        ],
                        "history": [
                            (_S, _t(10, 27, 10, 10), _APP),
                            (
                                _D,
                                _t(10, 27, 15, 45),
                                "需补充材料 / Documents needed: 病理诊断报告 / pathology report; "
                                "出院小结 / discharge summary",
                            ),
                        ],
                    }
                ],
            },
        ],
    },
}
