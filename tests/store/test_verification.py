"""Identity before disclosure, on SQLite and PostgreSQL."""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from store.demo import generate
from store.models import Customer, OtpChallenge, Policy
from store.verification import (
    MAX_WRONG_CODES,
    CodeCheck,
    check_code,
    find_customer,
    latest_sms,
    locked_until,
    send_code,
)


async def _customer_and_policy(sessions):
    async with sessions() as session:
        customer = await session.get(Customer, 1)
        policy = await session.scalar(select(Policy).where(Policy.holder_id == 1).limit(1))
    return customer, policy


async def _code(sessions, customer) -> str:
    async with sessions() as session:
        return re.search(r"\d{6}", await latest_sms(session, customer.mobile)).group()


async def test_identify_by_policy_or_id_number_in_free_text(database_url, sessions):
    await generate(database_url, customers=20, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    async with sessions() as session:
        assert (await find_customer(session, f"我的保单号是 {policy.number.lower()}")).id == 1
        by_id = await find_customer(session, f"my id is {customer.id_card_number}")
        assert by_id.id == 1
        assert await find_customer(session, "P0000000099999") is None
        assert await find_customer(session, "hello") is None


async def test_code_verifies_once_and_wrong_codes_lock(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, _ = await _customer_and_policy(sessions)
    async with sessions.begin() as session:
        await send_code(session, "conv-a", customer)
    code = await _code(sessions, customer)
    wrong = "000000" if code != "000000" else "111111"
    async with sessions.begin() as session:
        result = await check_code(session, "conv-a", wrong)
    assert result.outcome == CodeCheck.WRONG and result.remaining == MAX_WRONG_CODES - 1
    async with sessions.begin() as session:
        assert (await check_code(session, "conv-b", code)).outcome == CodeCheck.NO_CHALLENGE
        result = await check_code(session, "conv-a", f"验证码 {code}")
    assert result.outcome == CodeCheck.VERIFIED and result.customer_id == 1

    async with sessions.begin() as session:
        await send_code(session, "conv-c", customer)
    for _ in range(MAX_WRONG_CODES - 1):
        async with sessions.begin() as session:
            assert (await check_code(session, "conv-c", wrong)).outcome == CodeCheck.WRONG
    async with sessions.begin() as session:
        assert (await check_code(session, "conv-c", wrong)).outcome == CodeCheck.LOCKED
    # locked for the customer, even with the right code and in another conversation
    code = await _code(sessions, customer)
    async with sessions.begin() as session:
        assert (await check_code(session, "conv-c", code)).outcome == CodeCheck.LOCKED
        assert await locked_until(session, 1) is not None


async def test_expired_codes_are_refused(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, _ = await _customer_and_policy(sessions)
    async with sessions.begin() as session:
        await send_code(session, "conv-e", customer)
        await session.flush()
        await session.execute(
            update(OtpChallenge).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    code = await _code(sessions, customer)
    async with sessions.begin() as session:
        assert (await check_code(session, "conv-e", code)).outcome == CodeCheck.EXPIRED
