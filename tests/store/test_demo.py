"""The demo-data generator: deterministic, valid, shaped like the seed insurer."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store.db import create_engine
from store.demo import (
    AS_OF,
    GEOGRAPHY,
    PRODUCT_BY_CODE,
    RECENT,
    REFERENCE_DATE,
    TABLES,
    add_years,
    generate,
)
from store.identifiers import (
    id_card_birth_date,
    is_valid_claim_number,
    is_valid_id_card,
    is_valid_policy_number,
)
from store.models import ClaimKind, ClaimStage, PolicyKind, PolicyStatus

ROOT = Path(__file__).resolve().parents[2]
Rows = dict[str, list[dict[str, Any]]]

PROVINCE_CODES = {province: cities[0][3][0][:2] for province, cities in GEOGRAPHY.items()}
CLAIM_KINDS = {
    PolicyKind.LONG_TERM_MEDICAL: {ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT},
    PolicyKind.SHORT_TERM_MEDICAL: {ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT},
    PolicyKind.CRITICAL_ILLNESS: {ClaimKind.CRITICAL_ILLNESS},
    PolicyKind.ACCIDENT: {ClaimKind.ACCIDENT},
}
NEXT_STAGES = {
    ClaimStage.SUBMITTED: {ClaimStage.DOCUMENTS_PENDING, ClaimStage.REVIEWING},
    ClaimStage.DOCUMENTS_PENDING: {ClaimStage.REVIEWING},
    ClaimStage.REVIEWING: {ClaimStage.INVESTIGATING, ClaimStage.APPROVED, ClaimStage.REJECTED},
    ClaimStage.INVESTIGATING: {ClaimStage.APPROVED, ClaimStage.REJECTED},
    ClaimStage.APPROVED: {ClaimStage.PAID},
}
CLOSED = {ClaimStage.PAID, ClaimStage.REJECTED}
MEDICAL = {ClaimKind.HOSPITALISATION, ClaimKind.OUTPATIENT}


def quiet(*_):
    pass


def _aware(value: Any) -> Any:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def _load(url: str) -> Rows:
    """Every row the generator writes, as dicts ordered by id."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: [
                    {key: _aware(value) for key, value in row._mapping.items()}
                    for row in await conn.execute(select(table).order_by(table.c.id))
                ]
                for table in TABLES
            }
    finally:
        await engine.dispose()


def _check_invariants(data: Rows) -> None:
    """What must hold for any seed and size."""
    customers = {c["id"]: c for c in data["customers"]}
    policies = {p["id"]: p for p in data["policies"]}
    members = {m["id"]: m for m in data["insured_members"]}
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for change in data["claim_stage_changes"]:
        history[change["claim_id"]].append(change)

    # Customers: valid, unique ID card and mobile numbers that agree with the other columns.
    id_cards = [c["id_card_number"] for c in customers.values()]
    assert len(set(id_cards)) == len(id_cards)
    mobiles = [c["mobile"] for c in customers.values()]
    assert len(set(mobiles)) == len(mobiles)
    for c in customers.values():
        number = c["id_card_number"]
        assert is_valid_id_card(number, today=REFERENCE_DATE), number
        assert id_card_birth_date(number) == c["birth_date"]
        assert int(number[16]) % 2 == (c["gender"] == "M")
        assert add_years(c["birth_date"], 18) <= REFERENCE_DATE < add_years(c["birth_date"], 76)
        assert re.fullmatch(r"1(3\d|5[0-35-9]|8\d|9[0-35-9])\d{8}", c["mobile"]), c["mobile"]
        assert c["province"] in GEOGRAPHY
        assert c["city"] in {city for city, *_ in GEOGRAPHY[c["province"]]}
        assert 1 <= c["city_tier"] <= 5
        assert ("no_social_insurance" in c["tags"]) == (not c["has_social_insurance"])
        assert ("tier3_below" in c["tags"]) == (c["city_tier"] >= 3)
        assert c["created_at"] < AS_OF

    # Policies: valid numbers, dates that fit the product, one "self" member each.
    assert len({p["number"] for p in policies.values()}) == len(policies)
    by_policy: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in members.values():
        by_policy[m["policy_id"]].append(m)
    for p in policies.values():
        assert is_valid_policy_number(p["number"]), p["number"]
        product = PRODUCT_BY_CODE[p["product_code"]]
        assert (p["kind"], p["long_term"]) == (product["kind"], product["long_term"])
        assert p["product_name"] == product["name_zh"]
        assert p["sum_insured"] > 0 and p["premium"] > 0
        start, end = p["effective_date"], p["expiry_date"]
        assert start < REFERENCE_DATE
        assert start >= add_years(customers[p["holder_id"]]["birth_date"], 18)
        terms = [t for t in product["term_years"] if add_years(start, t) - timedelta(1) == end]
        assert terms, (p["number"], start, end)
        if p["status"] == PolicyStatus.EXPIRED:
            assert end < REFERENCE_DATE
        if p["status"] == PolicyStatus.ACTIVE:
            assert end >= REFERENCE_DATE
        insured = by_policy[p["id"]]
        selves = [m for m in insured if m["relation"] == "self"]
        assert len(selves) == 1 and selves[0]["customer_id"] == p["holder_id"]
        assert selves[0]["id_card_number"] == customers[p["holder_id"]]["id_card_number"]
        for m in insured:
            assert m["relation"] in {"self", "spouse", "child", "parent"}
            assert is_valid_id_card(m["id_card_number"], today=REFERENCE_DATE)
            assert id_card_birth_date(m["id_card_number"]) == m["birth_date"]
            assert (m["customer_id"] is None) == (m["relation"] != "self")
            assert m["birth_date"] < start

    # Claims: on a member of their policy, inside its cover, with a consistent history.
    assert len({c["number"] for c in data["claims"]}) == len(data["claims"])
    for claim in data["claims"]:
        policy = policies[claim["policy_id"]]
        assert is_valid_claim_number(claim["number"]), claim["number"]
        assert members[claim["member_id"]]["policy_id"] == policy["id"]
        assert claim["kind"] in CLAIM_KINDS[policy["kind"]]
        assert policy["effective_date"] <= claim["incident_date"] <= policy["expiry_date"]
        assert claim["incident_date"] < REFERENCE_DATE
        assert claim["incident_date"] >= members[claim["member_id"]]["birth_date"]
        assert claim["incident_date"] <= (claim["submitted_at"] + timedelta(hours=8)).date()
        assert claim["hospital"].endswith("医院")
        assert 0 < claim["amount_claimed"] <= policy["sum_insured"]

        changes = history[claim["id"]]
        stages = [change["stage"] for change in changes]
        times = [change["at"] for change in changes]
        assert stages[0] == ClaimStage.SUBMITTED and times[0] == claim["submitted_at"]
        assert stages[-1] == claim["stage"]
        assert all(a < b for a, b in pairwise(times)), claim["number"]
        assert times[-1] < AS_OF
        for before, after in pairwise(stages):
            assert after in NEXT_STAGES[before], (claim["number"], stages)

        stage = claim["stage"]
        assert (claim["closed_at"] is not None) == (stage in CLOSED)
        if stage in CLOSED:
            assert claim["closed_at"] == times[-1]
        assert (claim["amount_approved"] is not None) == (
            stage in {ClaimStage.APPROVED, ClaimStage.PAID}
        )
        assert (claim["amount_paid"] is not None) == (stage == ClaimStage.PAID)
        if claim["amount_approved"] is not None:
            assert 0 < claim["amount_approved"] <= claim["amount_claimed"]
        if stage == ClaimStage.PAID:
            assert claim["amount_paid"] == claim["amount_approved"]
        assert bool(claim["missing_documents"]) == (stage == ClaimStage.DOCUMENTS_PENDING)
        assert all(" / " in doc for doc in claim["missing_documents"])
        assert bool(claim["rejection_reason"]) == (stage == ClaimStage.REJECTED)
        if claim["rejection_reason"]:
            assert " / " in claim["rejection_reason"]  # Chinese / English
        if stage not in CLOSED:
            # Open claims are recent (investigations may take a few weeks).
            assert claim["submitted_at"] >= AS_OF - timedelta(days=30)


@pytest.fixture(scope="module")
async def demo(tmp_path_factory) -> tuple[str, dict[str, int], Rows, list[str]]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo') / 'x.db'}"
    lines: list[str] = []
    counts = await generate(url, customers=2000, progress=lines.append)
    return url, counts, await _load(url), lines


async def test_rows_are_valid(demo):
    _, counts, data, _ = demo
    assert counts == {name: len(rows) for name, rows in data.items()}
    assert counts["customers"] == 2000
    assert [c["id"] for c in data["customers"]] == list(range(1, 2001))
    _check_invariants(data)


async def test_customers_are_shaped_like_the_seed(demo):
    _, _, data, _ = demo
    customers = data["customers"]
    assert len({c["province"] for c in customers}) >= 25
    assert 0.65 <= sum(c["city_tier"] >= 3 for c in customers) / len(customers) <= 0.80
    assert 0.28 <= sum(not c["has_social_insurance"] for c in customers) / len(customers) <= 0.42
    assert 0.4 <= sum(c["gender"] == "M" for c in customers) / len(customers) <= 0.6
    # ID card numbers were mostly issued in the customer's own province.
    local = sum(c["id_card_number"][:2] == PROVINCE_CODES[c["province"]] for c in customers)
    assert local / len(customers) >= 0.8
    names = Counter(c["name"][0] for c in customers)
    assert {s for s, _ in names.most_common(5)} & {"王", "李", "张", "刘", "陈"}
    tags = Counter(tag for c in customers for tag in c["tags"])
    assert tags["long_term_medical_holder"] > 0 and tags["vip"] > 0


async def test_policies_are_shaped_like_the_seed(demo):
    _, _, data, _ = demo
    policies = data["policies"]
    assert 1.3 <= len(policies) / len(data["customers"]) <= 1.7
    per_customer = Counter(p["holder_id"] for p in policies)
    assert set(per_customer.values()) <= {1, 2, 3}
    kinds = Counter(p["kind"] for p in policies)
    share = {kind: count / len(policies) for kind, count in kinds.items()}
    assert 0.38 <= share[PolicyKind.LONG_TERM_MEDICAL] <= 0.52
    assert 0.24 <= share[PolicyKind.SHORT_TERM_MEDICAL] <= 0.36
    assert 0.10 <= share[PolicyKind.CRITICAL_ILLNESS] <= 0.20
    assert 0.06 <= share[PolicyKind.ACCIDENT] <= 0.14
    statuses = Counter(p["status"] for p in policies)
    assert statuses[PolicyStatus.ACTIVE] / len(policies) >= 0.7
    assert statuses[PolicyStatus.LAPSED] and statuses[PolicyStatus.EXPIRED]
    assert statuses[PolicyStatus.CANCELLED]
    relations = Counter(m["relation"] for m in data["insured_members"])
    assert relations["self"] == len(policies)
    assert relations["spouse"] and relations["child"] and relations["parent"]


async def test_claims_are_shaped_like_the_seed(demo):
    _, _, data, _ = demo
    claims = data["claims"]
    assert 0.4 <= len(claims) / len(data["customers"]) <= 0.6
    history: dict[int, list[ClaimStage]] = defaultdict(list)
    for change in data["claim_stage_changes"]:
        history[change["claim_id"]].append(change["stage"])
    # The seed: 83 % of claims go through without being asked for more documents.
    straight = sum(ClaimStage.DOCUMENTS_PENDING not in history[c["id"]] for c in claims)
    assert 0.78 <= straight / len(claims) <= 0.88
    # Medical claims are paid in about 1.3 days on average, some within the hour.
    days = [
        (c["closed_at"] - c["submitted_at"]).total_seconds() / 86400
        for c in claims
        if c["kind"] in MEDICAL and c["stage"] == ClaimStage.PAID
    ]
    assert 1.0 <= statistics.mean(days) <= 1.7
    assert sum(d < 1 / 24 for d in days) / len(days) >= 0.1
    # Recent claims are mostly still open, older ones closed.
    recent = [c for c in claims if c["submitted_at"] >= AS_OF - RECENT]
    assert len(recent) >= 20
    assert sum(c["stage"] not in CLOSED for c in recent) / len(recent) >= 0.5
    older = [c for c in claims if c["submitted_at"] < AS_OF - RECENT]
    assert sum(c["stage"] in CLOSED for c in older) / len(older) >= 0.99
    stages = Counter(c["stage"] for c in claims)
    assert stages[ClaimStage.PAID] / len(claims) >= 0.6
    assert 0.02 <= stages[ClaimStage.REJECTED] / len(claims) <= 0.12
    for stage in NEXT_STAGES:
        assert stages[stage], stage


async def test_demo_customers_are_fixed(demo):
    _, _, data, lines = demo
    customers = {c["id"]: c for c in data["customers"]}
    policies = defaultdict(list)
    for p in data["policies"]:
        policies[p["holder_id"]].append(p)
    claims = defaultdict(list)
    holder = {p["id"]: p["holder_id"] for p in data["policies"]}
    for c in data["claims"]:
        claims[holder[c["policy_id"]]].append(c)

    zhang, li = customers[1], customers[2]
    assert (zhang["name"], zhang["mobile"]) == ("张伟", "13800138000")
    assert (li["name"], li["mobile"]) == ("李娜", "13900139000")
    assert [
        c["id"] for c in data["customers"] if c["mobile"] in {"13800138000", "13900139000"}
    ] == [
        1,
        2,
    ]
    assert any(
        p["kind"] == PolicyKind.LONG_TERM_MEDICAL and p["status"] == PolicyStatus.ACTIVE
        for p in policies[1]
    )
    assert {ClaimStage.REVIEWING, ClaimStage.PAID} <= {c["stage"] for c in claims[1]}
    assert any(
        p["kind"] == PolicyKind.CRITICAL_ILLNESS and p["status"] == PolicyStatus.ACTIVE
        for p in policies[2]
    )
    # The README and the bot's training examples quote these policy numbers.
    numbers = {p["number"]: (p["holder_id"], p["kind"]) for p in data["policies"]}
    assert numbers["P0000000000026"] == (1, PolicyKind.LONG_TERM_MEDICAL)
    assert numbers["P0000000000042"] == (2, PolicyKind.CRITICAL_ILLNESS)
    pending = [c for c in claims[2] if c["stage"] == ClaimStage.DOCUMENTS_PENDING]
    assert pending and pending[0]["missing_documents"]
    # The summary names them, for the README.
    summary = "\n".join(lines)
    for customer in (zhang, li):
        assert customer["id_card_number"] in summary
        assert all(p["number"] in summary for p in policies[customer["id"]])


async def test_same_seed_same_rows(tmp_path):
    urls = [f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("a.db", "b.db", "c.db")]
    await generate(urls[0], customers=400, progress=quiet)
    await generate(urls[1], customers=400, progress=quiet)
    await generate(urls[2], customers=400, seed=8, progress=quiet)
    a, b, c = [await _load(url) for url in urls]
    assert a == b
    assert a["customers"][2:] != c["customers"][2:]


async def test_if_empty_adds_nothing_the_second_time(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    first = await generate(url, customers=50, progress=quiet, if_empty=True)
    assert first["customers"] == 50
    lines: list[str] = []
    second = await generate(url, customers=50, progress=lines.append, if_empty=True)
    assert set(second.values()) == {0}
    assert "nothing added" in lines[0]
    assert len((await _load(url))["customers"]) == 50


def test_command_line_if_empty(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    command = [sys.executable, "-m", "store.demo", "--customers", "30", "--database-url", url]

    def run() -> str:
        done = subprocess.run(
            [*command, "--if-empty"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = run()
    assert "added 30 customers" in out
    assert "demo customer 1: 张伟" in out and "P0000000000026" in out
    assert "nothing added" in run()


async def test_appending_continues_the_ids(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    await generate(url, customers=150, progress=quiet)
    added = await generate(url, customers=150, progress=quiet)
    assert added["customers"] == 150
    data = await _load(url)
    for rows in data.values():
        assert [row["id"] for row in rows] == list(range(1, len(rows) + 1))
    assert [c["mobile"] for c in data["customers"]].count("13800138000") == 1
    _check_invariants(data)


@pytest.mark.postgres
async def test_postgres(postgres_url, tmp_path):
    """The same rows on PostgreSQL (a database of its own, dropped afterwards) as on SQLite."""
    counts = await generate(postgres_url, customers=500, progress=quiet)
    assert counts["customers"] == 500
    data = await _load(postgres_url)
    _check_invariants(data)
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'same.db'}"
    await generate(sqlite_url, customers=500, progress=quiet)
    assert data == await _load(sqlite_url)
