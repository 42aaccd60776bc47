"""Deterministic demo data modelled on the seed insurer: customers in all 31
provinces (about 73 % in third-tier cities or below, many without social
insurance), long-term and short-term medical, critical illness and accident
policies, and claims with their stage histories.

    python -m store.demo --customers 2000 [--seed 7] [--if-empty] [--database-url URL]

The same seed and size always give the same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from store.db import create_engine, migrate_async
from store.identifiers import id_card_check_digit, make_claim_number, make_policy_number
from store.models import (
    Claim,
    ClaimKind,
    ClaimStage,
    ClaimStageChange,
    Customer,
    InsuredMember,
    Policy,
    PolicyKind,
    PolicyStatus,
)

REFERENCE_DATE = date(2026, 11, 1)
BATCH = 10_000

# (province, 2-digit code, capital, capital's tier, smaller cities)
PROVINCES = [
    ("北京", "11", "北京", 1, ["密云", "延庆"]),
    ("天津", "12", "天津", 2, ["蓟州", "宁河"]),
    ("河北", "13", "石家庄", 2, ["邢台", "衡水", "承德"]),
    ("山西", "14", "太原", 2, ["大同", "运城", "吕梁"]),
    ("内蒙古", "15", "呼和浩特", 2, ["赤峰", "通辽"]),
    ("辽宁", "21", "沈阳", 2, ["鞍山", "丹东", "铁岭"]),
    ("吉林", "22", "长春", 2, ["吉林", "四平"]),
    ("黑龙江", "23", "哈尔滨", 2, ["齐齐哈尔", "绥化"]),
    ("上海", "31", "上海", 1, ["崇明", "金山"]),
    ("江苏", "32", "南京", 2, ["徐州", "盐城", "宿迁"]),
    ("浙江", "33", "杭州", 2, ["金华", "台州", "丽水"]),
    ("安徽", "34", "合肥", 2, ["阜阳", "六安", "亳州"]),
    ("福建", "35", "福州", 2, ["莆田", "南平"]),
    ("江西", "36", "南昌", 2, ["赣州", "上饶", "吉安"]),
    ("山东", "37", "济南", 2, ["临沂", "菏泽", "聊城"]),
    ("河南", "41", "郑州", 2, ["南阳", "周口", "商丘", "驻马店"]),
    ("湖北", "42", "武汉", 2, ["襄阳", "荆州", "黄冈"]),
    ("湖南", "43", "长沙", 2, ["衡阳", "邵阳", "常德"]),
    ("广东", "44", "广州", 1, ["湛江", "茂名", "梅州", "深圳"]),
    ("广西", "45", "南宁", 2, ["柳州", "玉林", "百色"]),
    ("海南", "46", "海口", 2, ["儋州", "琼海"]),
    ("重庆", "50", "重庆", 2, ["万州", "涪陵"]),
    ("四川", "51", "成都", 2, ["南充", "绵阳", "达州", "宜宾"]),
    ("贵州", "52", "贵阳", 2, ["遵义", "毕节"]),
    ("云南", "53", "昆明", 2, ["曲靖", "大理", "红河"]),
    ("西藏", "54", "拉萨", 3, ["日喀则"]),
    ("陕西", "61", "西安", 2, ["宝鸡", "汉中", "榆林"]),
    ("甘肃", "62", "兰州", 2, ["天水", "庆阳"]),
    ("青海", "63", "西宁", 3, ["海东"]),
    ("宁夏", "64", "银川", 3, ["吴忠", "固原"]),
    ("新疆", "65", "乌鲁木齐", 2, ["喀什", "伊犁"]),
]
# Larger provinces have more customers.
PROVINCE_WEIGHTS = [
    2,
    1,
    5,
    3,
    2,
    3,
    2,
    3,
    2,
    6,
    5,
    5,
    3,
    4,
    7,
    8,
    5,
    5,
    9,
    4,
    1,
    3,
    7,
    3,
    4,
    1,
    3,
    2,
    1,
    1,
    2,
]
# City tier of the customer's city: 1-2 live in the capital, 3-5 in smaller cities.
TIER_WEIGHTS = {1: 9, 2: 18, 3: 30, 4: 25, 5: 18}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红梅飞鑫波斌宇浩"
    "凯健俊帆雪琳晨欣怡佳子涵梓轩一诺思雨博文嘉豪天宇浩然雨桐欣妍"
)

PRODUCTS: list[dict[str, Any]] = [
    {
        "code": "HYB-LTM",
        "name_zh": "好医保·长期医疗",
        "name_en": "Good Medical Cover, long-term",
        "kind": PolicyKind.LONG_TERM_MEDICAL,
        "long_term": True,
        "term_years": 20,
        "sums": [2_000_000, 4_000_000],
        "premium": (268, 2_680),
        "weight": 45,
    },
    {
        "code": "HYB-STM",
        "name_zh": "好医保·住院医疗(一年期)",
        "name_en": "Good Medical Cover, one-year",
        "kind": PolicyKind.SHORT_TERM_MEDICAL,
        "long_term": False,
        "term_years": 1,
        "sums": [1_000_000, 3_000_000],
        "premium": (136, 1_280),
        "weight": 30,
    },
    {
        "code": "RB-CI",
        "name_zh": "人保健康重大疾病保险",
        "name_en": "Critical Illness Cover",
        "kind": PolicyKind.CRITICAL_ILLNESS,
        "long_term": True,
        "term_years": 30,
        "sums": [100_000, 300_000, 500_000],
        "premium": (1_200, 9_800),
        "weight": 15,
    },
    {
        "code": "RB-ACC",
        "name_zh": "综合意外伤害保险",
        "name_en": "Personal Accident Cover",
        "kind": PolicyKind.ACCIDENT,
        "long_term": False,
        "term_years": 1,
        "sums": [100_000, 500_000],
        "premium": (59, 399),
        "weight": 10,
    },
]
CLAIM_KINDS = {
    PolicyKind.LONG_TERM_MEDICAL: [ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT],
    PolicyKind.SHORT_TERM_MEDICAL: [ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT],
    PolicyKind.CRITICAL_ILLNESS: [ClaimKind.CRITICAL_ILLNESS],
    PolicyKind.ACCIDENT: [ClaimKind.ACCIDENT],
}
FAMOUS_HOSPITALS = [
    "北京协和医院",
    "四川大学华西医院",
    "复旦大学附属中山医院",
    "中山大学附属第一医院",
    "华中科技大学同济医学院附属同济医院",
    "浙江大学医学院附属第一医院",
    "郑州大学第一附属医院",
]
MISSING_DOCUMENTS = {
    ClaimKind.HOSPITALISATION: [
        "出院小结 / discharge summary",
        "费用明细清单 / itemised bill",
        "发票原件 / original invoice",
    ],
    ClaimKind.OUTPATIENT: ["门诊病历 / outpatient record", "发票原件 / original invoice"],
    ClaimKind.CRITICAL_ILLNESS: [
        "病理诊断报告 / pathology report",
        "诊断证明书 / diagnosis certificate",
    ],
    ClaimKind.ACCIDENT: ["意外事故证明 / accident report", "门急诊病历 / A&E record"],
}
REJECTION_REASONS = [
    "等待期内出险,不在保障范围内 / "
    "The illness began within the waiting period, which the policy does not cover",
    "既往症不在保障范围内 / A pre-existing condition the policy excludes",
    "费用已由其他保险全额报销 / The costs were already fully reimbursed by another insurer",
    "保单出险时已失效 / The policy had lapsed when this happened",
]


def _weighted(rng: random.Random, options: list, weights: list) -> Any:
    return rng.choices(options, weights=weights, k=1)[0]


def _years_later(day: date, years: int) -> date:
    # 29 February has no anniversary in most years
    return day.replace(year=day.year + years, day=min(day.day, 28))


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, dtime(8), tzinfo=UTC) + timedelta(
        minutes=rng.randrange(0, 12 * 60)
    )


class _Generator:
    def __init__(self, seed: int, first_ids: dict[str, int]):
        self.rng = random.Random(seed)
        self.ids = dict(first_ids)
        self.id_numbers: set[str] = set()

    def next_id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] = value + 1
        return value

    def name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(
            rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2)))
        )

    def id_card(self, region: str, born: date, male: bool) -> str:
        while True:
            serial = self.rng.randrange(0, 500) * 2 + (1 if male else 0)
            first17 = f"{region}{born:%Y%m%d}{serial:03d}"
            number = first17 + id_card_check_digit(first17)
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def birth(self, min_age: int, max_age: int) -> date:
        return REFERENCE_DATE - timedelta(days=self.rng.randrange(min_age * 365, max_age * 365))

    def customer(self, index: int) -> dict[str, Any]:
        rng = self.rng
        p = _weighted(rng, range(len(PROVINCES)), PROVINCE_WEIGHTS)
        province, code, capital, capital_tier, smaller = PROVINCES[p]
        tier = _weighted(rng, list(TIER_WEIGHTS), list(TIER_WEIGHTS.values()))
        if tier <= 2:
            city, tier, district = capital, capital_tier, "0102"
        else:
            c = rng.randrange(len(smaller))
            city, district = smaller[c], f"{c + 2:02d}{rng.randrange(21, 30):02d}"
        male = rng.random() < 0.5
        born = self.birth(18, 75)
        social = rng.random() > 0.35
        # A bijection on 8 digits keeps every mobile number unique.
        mobile = rng.choice(("135", "136", "151", "158", "186", "187", "191", "199")) + (
            f"{(index * 48271 + 12345) % 10**8:08d}"
        )
        return {
            "id": self.next_id("customers"),
            "name": self.name(),
            "id_card_number": self.id_card(code + district, born, male),
            "mobile": mobile,
            "birth_date": born,
            "gender": "M" if male else "F",
            "province": province,
            "city": city,
            "city_tier": tier,
            "has_social_insurance": social,
            "tags": [],
            "_region": code + district,
        }

    def policy(self, customer: dict[str, Any], product: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        status = _weighted(
            rng,
            [
                PolicyStatus.ACTIVE,
                PolicyStatus.LAPSED,
                PolicyStatus.EXPIRED,
                PolicyStatus.CANCELLED,
            ],
            [80, 7, 8, 5],
        )
        if product["long_term"]:
            start = REFERENCE_DATE - timedelta(days=rng.randrange(30, 2_000))
            end = _years_later(start, product["term_years"]) - timedelta(days=1)
            if status == PolicyStatus.EXPIRED:
                status = PolicyStatus.LAPSED
        else:
            back = (
                rng.randrange(366, 800) if status == PolicyStatus.EXPIRED else rng.randrange(1, 360)
            )
            start = REFERENCE_DATE - timedelta(days=back)
            end = start + timedelta(days=364)
        low, high = product["premium"]
        policy_id = self.next_id("policies")
        return {
            "id": policy_id,
            "number": make_policy_number(policy_id),
            "holder_id": customer["id"],
            "product_code": product["code"],
            "product_name": product["name_zh"],
            "kind": product["kind"],
            "long_term": product["long_term"],
            "status": status,
            "sum_insured": Decimal(rng.choice(product["sums"])),
            "premium": Decimal(rng.randrange(low, high)),
            "effective_date": start,
            "expiry_date": end,
        }

    def members(self, customer: dict[str, Any], policy: dict[str, Any]) -> list[dict[str, Any]]:
        rng = self.rng
        rows = [
            {
                "id": self.next_id("insured_members"),
                "policy_id": policy["id"],
                "customer_id": customer["id"],
                "name": customer["name"],
                "relation": "self",
                "id_card_number": customer["id_card_number"],
                "birth_date": customer["birth_date"],
            }
        ]
        for relation, chance, ages in (
            ("spouse", 0.3, (20, 75)),
            ("child", 0.25, (0, 17)),
            ("parent", 0.1, (50, 85)),
        ):
            if (
                policy["kind"] in (PolicyKind.LONG_TERM_MEDICAL, PolicyKind.SHORT_TERM_MEDICAL)
                and rng.random() < chance
            ):
                born = (
                    self.birth(*ages)
                    if ages[0]
                    else REFERENCE_DATE - timedelta(days=rng.randrange(200, 17 * 365))
                )
                surname = customer["name"][0] if relation != "spouse" else rng.choice(SURNAMES)
                rows.append(
                    {
                        "id": self.next_id("insured_members"),
                        "policy_id": policy["id"],
                        "customer_id": None,
                        "name": surname + rng.choice(GIVEN) + rng.choice(GIVEN),
                        "relation": relation,
                        "id_card_number": self.id_card(
                            customer["_region"], born, rng.random() < 0.5
                        ),
                        "birth_date": born,
                    }
                )
        return rows

    def claim(
        self,
        policy: dict[str, Any],
        member: dict[str, Any],
        outcome: str | None = None,
        submitted_days_ago: int | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = self.rng
        kind = rng.choice(CLAIM_KINDS[policy["kind"]])
        last_day = min(policy["expiry_date"], REFERENCE_DATE - timedelta(days=1))
        if submitted_days_ago is not None:
            submitted_day = REFERENCE_DATE - timedelta(days=submitted_days_ago)
            incident = max(
                policy["effective_date"], submitted_day - timedelta(days=rng.randrange(1, 6))
            )
        else:
            span = max((last_day - policy["effective_date"]).days, 1)
            incident = policy["effective_date"] + timedelta(days=rng.randrange(span))
            submitted_day = min(incident + timedelta(days=rng.randrange(1, 20)), REFERENCE_DATE)
        submitted = _at(submitted_day, rng)
        open_claim = (REFERENCE_DATE - submitted_day).days <= 10 and outcome is None
        if outcome is None:
            if open_claim:
                outcome = _weighted(
                    rng,
                    [
                        "submitted",
                        "documents_pending",
                        "reviewing",
                        "investigating",
                        "approved",
                        "paid",
                    ],
                    [10, 25, 35, 5, 10, 15],
                )
            else:
                outcome = "rejected" if rng.random() < 0.07 else "paid"
        amount = {
            ClaimKind.OUTPATIENT: lambda: rng.randrange(200, 3_000),
            ClaimKind.HOSPITALISATION: lambda: rng.randrange(3_000, 80_000),
            ClaimKind.CRITICAL_ILLNESS: lambda: int(policy["sum_insured"]),
            ClaimKind.ACCIDENT: lambda: rng.randrange(500, 20_000),
        }[kind]()
        claimed = Decimal(min(amount, int(policy["sum_insured"])))
        claim_id = self.next_id("claims")

        # The stage history: 83 % go through without being asked for more documents.
        stages = [(ClaimStage.SUBMITTED, submitted)]
        at = submitted
        needs_documents = outcome == "documents_pending" or rng.random() < 0.17
        fast = kind in (ClaimKind.OUTPATIENT, ClaimKind.HOSPITALISATION) and rng.random() < 0.1
        path = [ClaimStage.DOCUMENTS_PENDING] if needs_documents else []
        path.append(ClaimStage.REVIEWING)
        if rng.random() < 0.05 or outcome == "investigating":
            path.append(ClaimStage.INVESTIGATING)
        if outcome == "rejected":
            path.append(ClaimStage.REJECTED)
        else:
            path += [ClaimStage.APPROVED, ClaimStage.PAID]
        stop = ClaimStage(outcome)
        if stop == ClaimStage.SUBMITTED:
            path = []
        elif stop in path:
            path = path[: path.index(stop) + 1]
        for stage in path:
            if fast:
                at += timedelta(minutes=rng.randrange(3, 9))
            elif stage == ClaimStage.PAID:
                at += timedelta(minutes=rng.randrange(10, 120))
            elif stage == ClaimStage.DOCUMENTS_PENDING:
                at += timedelta(hours=rng.randrange(1, 6))
            elif stage == ClaimStage.REVIEWING and needs_documents:
                at += timedelta(hours=rng.randrange(20, 60))
            else:
                at += timedelta(minutes=int(rng.expovariate(1 / (60 * 14))) + 5)
            stages.append((stage, at))
        stage = stages[-1][0]
        closed = stage in (ClaimStage.PAID, ClaimStage.REJECTED)
        approved = (
            (claimed * Decimal(rng.randrange(70, 101)) / 100).quantize(Decimal("0.01"))
            if stage in (ClaimStage.APPROVED, ClaimStage.PAID)
            else None
        )
        claim = {
            "id": claim_id,
            "number": make_claim_number(claim_id),
            "policy_id": policy["id"],
            "member_id": member["id"],
            "kind": kind,
            "incident_date": incident,
            "hospital": rng.choice(FAMOUS_HOSPITALS)
            if rng.random() < 0.3
            else f"{self.city_of[policy['holder_id']]}市人民医院",
            "amount_claimed": claimed,
            "amount_approved": approved,
            "amount_paid": approved if stage == ClaimStage.PAID else None,
            "stage": stage,
            "missing_documents": rng.sample(
                MISSING_DOCUMENTS[kind], k=rng.randrange(1, len(MISSING_DOCUMENTS[kind]) + 1)
            )
            if stage == ClaimStage.DOCUMENTS_PENDING
            else [],
            "rejection_reason": rng.choice(REJECTION_REASONS)
            if stage == ClaimStage.REJECTED
            else None,
            "submitted_at": submitted,
            "closed_at": stages[-1][1] if closed else None,
        }
        changes = [
            {
                "id": self.next_id("claim_stage_changes"),
                "claim_id": claim_id,
                "stage": s,
                "at": t,
                "note": None,
            }
            for s, t in stages
        ]
        return claim, changes


async def _first_ids(conn) -> dict[str, int]:
    ids = {}
    for model in (Customer, Policy, InsuredMember, Claim, ClaimStageChange):
        ids[model.__tablename__] = (await conn.scalar(select(func.max(model.id)))) or 0
        ids[model.__tablename__] += 1
    return ids


def _tags(customer: dict[str, Any], policies: list[dict[str, Any]]) -> list[str]:
    tags = []
    if any(p["kind"] == PolicyKind.LONG_TERM_MEDICAL for p in policies):
        tags.append("long_term_medical_holder")
    if not customer["has_social_insurance"]:
        tags.append("no_social_insurance")
    if customer["city_tier"] >= 3:
        tags.append("tier3_below")
    if len(policies) >= 3 or sum(p["premium"] for p in policies) > 8_000:
        tags.append("vip")
    return tags


def _demo_customer(gen: _Generator, customer, policies, members, claims, changes) -> None:
    """Customers 1 and 2 are the README's demo customers, the same on every machine."""
    demo = {1: ("张伟", "13800138000", 0), 2: ("李娜", "13900139000", 2)}.get(customer["id"])
    if demo is None:
        return
    customer["name"], customer["mobile"], product = demo[0], demo[1], PRODUCTS[demo[2]]
    del policies[:], members[:], claims[:], changes[:]
    policy = gen.policy(customer, product)
    policy["status"] = PolicyStatus.ACTIVE
    policy["effective_date"] = date(2024, 3, 1)
    policy["expiry_date"] = _years_later(
        policy["effective_date"], product["term_years"]
    ) - timedelta(days=1)
    policies.append(policy)
    members += gen.members(customer, policy)
    members[0]["name"] = customer["name"]
    outcomes = (
        [("reviewing", 3), ("paid", 60)] if customer["id"] == 1 else [("documents_pending", 4)]
    )
    for outcome, days_ago in outcomes:
        claim, stage_rows = gen.claim(policy, members[0], outcome, days_ago)
        claims.append(claim)
        changes += stage_rows


async def generate(
    url: str, customers: int, seed: int = 7, progress: Callable[[str], Any] = print
) -> dict[str, int]:
    """Add `customers` demo customers with their policies and claims to the store at `url`."""
    await migrate_async(url)
    engine = create_engine(url)
    counts = dict.fromkeys(
        ("customers", "policies", "insured_members", "claims", "claim_stage_changes"), 0
    )
    started = time.perf_counter()
    try:
        async with engine.connect() as conn:
            first = await _first_ids(conn)
        gen = _Generator(seed + first["customers"] - 1, first)
        gen.city_of = {}
        product_weights = [p["weight"] for p in PRODUCTS]
        done = 0
        while done < customers:
            size = min(BATCH, customers - done)
            rows: dict[str, list[dict[str, Any]]] = {table: [] for table in counts}
            for index in range(done, done + size):
                customer = gen.customer(index)
                gen.city_of[customer["id"]] = customer["city"]
                policies, members, claims, changes = [], [], [], []
                for _ in range(_weighted(gen.rng, [1, 2, 3], [60, 30, 10])):
                    policy = gen.policy(customer, _weighted(gen.rng, PRODUCTS, product_weights))
                    policies.append(policy)
                    insured = gen.members(customer, policy)
                    members += insured
                    if gen.rng.random() < 0.33:
                        claim, stage_rows = gen.claim(policy, gen.rng.choice(insured))
                        claims.append(claim)
                        changes += stage_rows
                _demo_customer(gen, customer, policies, members, claims, changes)
                customer["tags"] = _tags(customer, policies)
                del customer["_region"]
                rows["customers"].append(customer)
                rows["policies"] += policies
                rows["insured_members"] += members
                rows["claims"] += claims
                rows["claim_stage_changes"] += changes
            async with engine.begin() as conn:
                for model in (Customer, Policy, InsuredMember, Claim, ClaimStageChange):
                    batch = rows[model.__tablename__]
                    if batch:
                        await conn.execute(insert(model.__table__), batch)
                    counts[model.__tablename__] += len(batch)
            done += size
            gen.city_of.clear()
            progress(
                f"  {done:,} / {customers:,} customers ({time.perf_counter() - started:.1f} s)"
            )
    finally:
        await engine.dispose()
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


async def _main(args: argparse.Namespace) -> None:
    from console.settings import get_settings

    url = args.database_url or get_settings().database_url
    if args.if_empty:
        await migrate_async(url)
        engine = create_engine(url)
        async with engine.connect() as conn:
            existing = await conn.scalar(select(func.count()).select_from(Customer))
        await engine.dispose()
        if existing:
            print(f"demo data: the store already has {existing:,} customers; nothing added")
            return
    print(f"demo data: generating {args.customers:,} customers (seed {args.seed})")
    counts = await generate(url, args.customers, args.seed)
    print("demo data: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    engine = create_engine(url)
    async with engine.connect() as conn:
        for cid in (1, 2):
            row = (
                await conn.execute(
                    select(Customer.name, Customer.id_card_number, Customer.mobile, Policy.number)
                    .join(Policy, Policy.holder_id == Customer.id)
                    .where(Customer.id == cid)
                    .limit(1)
                )
            ).first()
            if row:
                print(
                    f"demo customer {cid}: {row[0]}, ID {row[1]}, mobile {row[2]}, policy {row[3]}"
                )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate deterministic demo data.")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--if-empty", action="store_true", help="do nothing if customers exist")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
