"""The demo-data generator: deterministic, valid, shaped like the seed insurer."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from store.db import create_engine, session_factory
from store.demo import REFERENCE_DATE, generate
from store.identifiers import is_valid_claim_number, is_valid_id_card, is_valid_policy_number
from store.models import Claim, ClaimStage, Customer, Policy, PolicyKind

quiet = {"progress": lambda *_: None}


async def _rows(url, query):
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = (await session.execute(query)).all()
    await engine.dispose()
    return rows


async def test_same_seed_same_rows(tmp_path):
    urls = [f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    for url in urls:
        await generate(url, customers=300, **quiet)
    query = select(Customer.id, Customer.name, Customer.id_card_number, Customer.mobile)
    claims = select(Claim.number, Claim.stage, Claim.amount_claimed, Claim.submitted_at)
    assert await _rows(urls[0], query) == await _rows(urls[1], query)
    assert await _rows(urls[0], claims) == await _rows(urls[1], claims)


@pytest.fixture
async def demo(database_url):
    counts = await generate(database_url, customers=1500, **quiet)
    return database_url, counts


async def test_rows_are_valid_and_shaped_like_the_seed(demo):
    url, counts = demo
    assert counts["customers"] == 1500
    assert 1.3 <= counts["policies"] / counts["customers"] <= 1.7
    assert 0.35 <= counts["claims"] / counts["customers"] <= 0.65
    customers = await _rows(
        url,
        select(
            Customer.id_card_number,
            Customer.province,
            Customer.city_tier,
            Customer.has_social_insurance,
            Customer.mobile,
        ),
    )
    assert all(is_valid_id_card(row[0]) for row in customers)
    assert len({row[0] for row in customers}) == len(customers)
    assert len({row[4] for row in customers}) == len(customers)
    assert len({row[1] for row in customers}) >= 25
    tier3_below = sum(row[2] >= 3 for row in customers) / len(customers)
    assert 0.65 <= tier3_below <= 0.80
    no_social = sum(not row[3] for row in customers) / len(customers)
    assert 0.25 <= no_social <= 0.45
    kinds = [k for (k,) in await _rows(url, select(Policy.kind))]
    assert kinds.count(PolicyKind.LONG_TERM_MEDICAL) > kinds.count(PolicyKind.ACCIDENT)
    numbers = await _rows(url, select(Policy.number))
    assert all(is_valid_policy_number(n) for (n,) in numbers)


async def test_claims_fit_their_policies_and_histories(demo):
    url, _ = demo
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        claims = (
            await session.scalars(
                select(Claim).options(selectinload(Claim.history), selectinload(Claim.policy))
            )
        ).all()
    await engine.dispose()
    first_time = 0
    for claim in claims:
        assert is_valid_claim_number(claim.number)
        assert claim.policy.effective_date <= claim.incident_date < REFERENCE_DATE
        assert claim.incident_date <= claim.policy.expiry_date
        stages = [change.stage for change in claim.history]
        times = [change.at for change in claim.history]
        assert stages[0] == ClaimStage.SUBMITTED and stages[-1] == claim.stage
        assert times == sorted(times)
        assert (claim.stage == ClaimStage.DOCUMENTS_PENDING) == bool(claim.missing_documents)
        assert (claim.stage == ClaimStage.REJECTED) == bool(claim.rejection_reason)
        if claim.stage == ClaimStage.PAID:
            assert claim.amount_paid and claim.amount_paid <= claim.amount_claimed
        first_time += ClaimStage.DOCUMENTS_PENDING not in stages
    assert 0.75 <= first_time / len(claims) <= 0.9  # the seed: 83 % succeed first time


async def test_demo_customers_are_fixed(demo):
    url, _ = demo
    rows = dict(await _rows(url, select(Customer.id, Customer.mobile).where(Customer.id <= 2)))
    assert rows == {1: "13800138000", 2: "13900139000"}
    stages = await _rows(
        url,
        select(Policy.holder_id, Claim.stage).join(Policy).where(Policy.holder_id <= 2),
    )
    assert {(1, ClaimStage.REVIEWING), (1, ClaimStage.PAID)} <= set(stages)
    assert (2, ClaimStage.DOCUMENTS_PENDING) in set(stages)


async def test_appending_continues_the_ids(sqlite_url):
    await generate(sqlite_url, customers=100, **quiet)
    await generate(sqlite_url, customers=100, **quiet)
    [(count, top)] = await _rows(sqlite_url, select(func.count(), func.max(Customer.id)))
    assert count == top == 200
