"""The seed insurer's products and how their claims go (pure data): the products
on sale and since when, the chance and kind of a claim, where patients are treated,
the amounts claimed, the documents that go missing, the reasons for refusing, and
the channels claims come in by."""

from __future__ import annotations

from datetime import date
from typing import Any

from store.models import ClaimKind, PolicyKind

# --- products ------------------------------------------------------------------

PRODUCTS: list[dict[str, Any]] = [
    {
        "code": "HYB-LTM",
        "name_zh": "好医保·长期医疗",
        "name_en": "Haoyibao Long-term Medical",
        "kind": PolicyKind.LONG_TERM_MEDICAL,
        "long_term": True,
        # Guaranteed renewal for 6 years (sold until mid-2021), then 20 years;
        # the premium is paid, and the cover renewed, every year.
        "term_years": (6, 20),
        "sum_insured": (2_000_000, 4_000_000),
        "premium": (168, 3_680),
        "waiting_days": 30,
        "weight": 56,
    },
    {
        "code": "HYB-STM",
        "name_zh": "好医保·住院医疗(一年期)",
        "name_en": "Haoyibao Hospital Medical (one-year)",
        "kind": PolicyKind.SHORT_TERM_MEDICAL,
        "long_term": False,
        "term_years": (1,),
        "sum_insured": (1_000_000, 3_000_000, 6_000_000),
        "premium": (96, 1_980),
        "waiting_days": 30,
        "weight": 30,
    },
    {
        "code": "RBJK-CI",
        "name_zh": "人保健康·重大疾病保险",
        "name_en": "PICC Health Critical Illness",
        "kind": PolicyKind.CRITICAL_ILLNESS,
        "long_term": True,
        "term_years": (20, 30),
        "sum_insured": (100_000, 200_000, 300_000, 500_000),
        "premium": (900, 12_800),
        "waiting_days": 90,
        "weight": 12,
    },
    {
        "code": "RBJK-ACC",
        "name_zh": "人保健康·综合意外伤害保险",
        "name_en": "PICC Health Personal Accident (one-year)",
        "kind": PolicyKind.ACCIDENT,
        "long_term": False,
        "term_years": (1,),
        "sum_insured": (100_000, 300_000, 500_000),
        "premium": (59, 399),
        "waiting_days": 0,
        "weight": 8,
    },
]
# The weights draw a customer's (different) products: the policies come out at about
# 45 % long-term medical, 30 % one-year medical, 15 % critical illness and 10 % accident.
PRODUCT_BY_CODE = {p["code"]: p for p in PRODUCTS}
LONG_TERM_MEDICAL_SINCE = date(2020, 11, 1)
TWENTY_YEAR_TERM_SINCE = date(2021, 7, 1)
CRITICAL_ILLNESS_SINCE = date(2016, 1, 1)

# --- claims --------------------------------------------------------------------

# Chance that a policy has had a claim, by kind: about 0.5 claims per customer.
CLAIM_CHANCE = {
    PolicyKind.LONG_TERM_MEDICAL: 0.35,
    PolicyKind.SHORT_TERM_MEDICAL: 0.31,
    PolicyKind.CRITICAL_ILLNESS: 0.065,
    PolicyKind.ACCIDENT: 0.22,
}
CLAIM_KINDS = {
    PolicyKind.LONG_TERM_MEDICAL: ((ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT), (65, 35)),
    PolicyKind.SHORT_TERM_MEDICAL: ((ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT), (70, 30)),
    PolicyKind.CRITICAL_ILLNESS: ((ClaimKind.CRITICAL_ILLNESS,), (1,)),
    PolicyKind.ACCIDENT: ((ClaimKind.ACCIDENT,), (1,)),
}
MEDICAL = (ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT)
# Where patients are treated: (own city, provincial centre, national centre).
HOSPITAL_LEVEL_WEIGHTS = {
    ClaimKind.OUTPATIENT: (80, 20, 0),
    ClaimKind.HOSPITALISATION: (58, 36, 6),
    ClaimKind.CRITICAL_ILLNESS: (30, 52, 18),
    ClaimKind.ACCIDENT: (85, 15, 0),
}
# Median and spread (of the logarithm) of the amounts claimed, in yuan.
CLAIM_AMOUNTS = {
    ClaimKind.OUTPATIENT: (1_500, 0.7, 120, 40_000),
    ClaimKind.HOSPITALISATION: (18_000, 0.8, 1_500, 900_000),
    ClaimKind.ACCIDENT: (2_800, 0.9, 200, 500_000),
}
MISSING_DOCUMENTS = {
    ClaimKind.HOSPITALISATION: [
        "发票原件 / original invoice",
        "出院小结 / discharge summary",
        "费用明细清单 / itemised bill",
        "住院病历 / inpatient medical record",
    ],
    ClaimKind.OUTPATIENT: [
        "发票原件 / original invoice",
        "门诊病历 / outpatient medical record",
        "检查报告 / test reports",
    ],
    ClaimKind.CRITICAL_ILLNESS: [
        "病理诊断报告 / pathology report",
        "诊断证明书 / diagnosis certificate",
        "出院小结 / discharge summary",
    ],
    ClaimKind.ACCIDENT: [
        "意外事故证明 / accident report",
        "门急诊病历 / emergency department record",
        "发票原件 / original invoice",
    ],
}
OUTSIDE_COVERED_HOSPITALS = (
    "非二级及以上公立医院就诊 / Treated outside the covered public hospitals (grade 2 or above)"
)
WAITING_PERIOD_REASON = "等待期内出险 / Incident within the waiting period"
REJECTION_REASONS = {
    ClaimKind.HOSPITALISATION: [
        "既往症不在保障范围内 / A pre-existing condition, which the policy excludes",
        "费用已由其他保险全额报销 / The costs were already fully reimbursed by another insurer",
        OUTSIDE_COVERED_HOSPITALS,
    ],
    ClaimKind.OUTPATIENT: [
        "普通门诊费用不在保障范围内 / Ordinary outpatient costs are not covered",
        OUTSIDE_COVERED_HOSPITALS,
    ],
    ClaimKind.CRITICAL_ILLNESS: [
        "所患疾病不符合合同约定的重大疾病定义 / "
        "The diagnosis does not meet the policy's definition of a critical illness",
        "投保时未如实告知健康状况 / The health declaration at purchase was incomplete",
    ],
    ClaimKind.ACCIDENT: [
        "非意外事故导致 / Not caused by an accident",
        "酒后驾驶属于责任免除 / Driving under the influence is excluded",
    ],
}
SUBMISSION_CHANNELS = (
    "人保健康App线上提交 / Submitted in the PICC Health app",
    "微信公众号线上提交 / Submitted on WeChat",
    "客服热线协助提交 / Submitted with the hotline's help",
)
SUBMISSION_CHANNEL_WEIGHTS = (55, 38, 7)
