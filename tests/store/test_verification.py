"""Identity before disclosure, on SQLite and PostgreSQL: codes, their limits across
codes and sessions, unknown numbers that look like known ones, and the outbox."""

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from store.demo import generate
from store.identifiers import make_policy_number
from store.models import Customer, Event, OtpChallenge, Policy, SmsOutbox
from store.verification import (
    HIDDEN_CODE,
    LOCK_TIME,
    CodeCheck,
    Limits,
    Outcome,
    Rules,
    check_code,
    find_customer,
    identify,
    latest_sms,
    send_code,
)

RULES = Rules(secret="test-secret", demo_mode=True)
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
# A well-formed policy number that no demo customer holds.
UNKNOWN = make_policy_number(987654321)


async def _customer_and_policy(sessions):
    async with sessions() as session:
        customer = await session.get(Customer, 1)
        policy = await session.scalar(select(Policy).where(Policy.holder_id == 1).limit(1))
    return customer, policy


async def _code(sessions, customer) -> str:
    async with sessions() as session:
        return re.search(r"\d{6}", await latest_sms(session, customer.mobile)).group()


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def _identify(sessions, uid, text, at=T0, rules=RULES, address=None):
    async with sessions.begin() as session:
        return await identify(session, rules, uid, text, address, now=at)


async def _check(sessions, uid, text, at=T0, rules=RULES):
    async with sessions.begin() as session:
        return await check_code(session, rules, uid, text, now=at)


async def _locks(sessions) -> list[Event]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(Event).where(Event.kind == "verification_locked").order_by(Event.id)
            )
        )


async def test_identify_by_policy_or_id_number_in_free_text(database_url, sessions):
    await generate(database_url, customers=20, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    async with sessions() as session:
        assert (await find_customer(session, f"我的保单号是 {policy.number.lower()}")).id == 1
        by_id = await find_customer(session, f"my id is {customer.id_card_number}")
        assert by_id.id == 1
        assert await find_customer(session, UNKNOWN) is None
        assert await find_customer(session, "hello") is None


async def test_code_verifies_once_and_wrong_codes_lock(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    assert (await _identify(sessions, "conv-a", policy.number)).outcome == Outcome.CODE_SENT
    code = await _code(sessions, customer)
    result = await _check(sessions, "conv-a", _wrong(code))
    assert result.outcome == CodeCheck.WRONG and result.remaining == Limits().wrong_codes - 1
    assert (await _check(sessions, "conv-b", code)).outcome == CodeCheck.NO_CHALLENGE
    result = await _check(sessions, "conv-a", f"验证码 {code}")
    assert result.outcome == CodeCheck.VERIFIED and result.customer_id == 1

    # a right code starts the count again
    await _identify(sessions, "conv-c", policy.number)
    for _ in range(Limits().wrong_codes - 1):
        assert (await _check(sessions, "conv-c", _wrong(code))).outcome == CodeCheck.WRONG
    locked = await _check(sessions, "conv-c", _wrong(code))
    assert locked.outcome == CodeCheck.LOCKED and locked.wait == LOCK_TIME
    # locked for the customer, even with the right code and in another conversation
    code = await _code(sessions, customer)
    assert (await _check(sessions, "conv-c", code)).outcome == CodeCheck.LOCKED
    later = await _identify(sessions, "conv-d", customer.id_card_number, T0 + timedelta(minutes=1))
    assert later.outcome == Outcome.LOCKED and later.wait == LOCK_TIME - timedelta(minutes=1)


async def test_wrong_codes_count_per_customer_across_codes_and_sessions(database_url, sessions):
    """New codes and new sessions do not start the count again: four wrong codes
    in one session and one in the next lock the customer."""
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    await _identify(sessions, "conv-1", policy.number)
    wrong = _wrong(await _code(sessions, customer))
    for _ in range(4):
        assert (await _check(sessions, "conv-1", wrong)).outcome == CodeCheck.WRONG
    at = T0 + timedelta(minutes=10)  # the first code has expired
    assert (await _identify(sessions, "conv-2", policy.number, at)).outcome == Outcome.CODE_SENT
    wrong = _wrong(await _code(sessions, customer))
    assert (await _check(sessions, "conv-2", wrong, at)).outcome == CodeCheck.LOCKED
    # the lock is reported, with its reason and length and nothing personal
    [event] = await _locks(sessions)
    assert event.customer_id == 1
    assert event.data == {
        "reason": "wrong_codes",
        "until": (at + LOCK_TIME).isoformat(),
        "minutes": 60,
    }
    # an hour on it has passed, but one more wrong code in the day locks again
    at += LOCK_TIME + timedelta(minutes=1)
    assert (await _identify(sessions, "conv-3", policy.number, at)).outcome == Outcome.CODE_SENT
    assert (await _check(sessions, "conv-3", wrong, at)).outcome == CodeCheck.LOCKED
    # a day after the wrong codes, the customer may try again
    at += timedelta(days=1)
    assert (await _identify(sessions, "conv-4", policy.number, at)).outcome == Outcome.CODE_SENT
    assert (await _check(sessions, "conv-4", wrong, at)).outcome == CodeCheck.WRONG


async def test_wrong_codes_count_per_mobile_number(database_url, sessions):
    """Two customers who share a mobile number share its count of wrong codes."""
    await generate(database_url, customers=5, progress=lambda *_: None)
    async with sessions.begin() as session:
        first = await session.get(Customer, 1)
        await session.execute(update(Customer).where(Customer.id == 2).values(mobile=first.mobile))
        second = await session.get(Customer, 2)
    for uid, customer, tries in (("conv-1", first, 3), ("conv-2", second, 1)):
        await _identify(sessions, uid, customer.id_card_number)
        for _ in range(tries):
            assert (await _check(sessions, uid, "000000")).outcome == CodeCheck.WRONG
    assert (await _check(sessions, "conv-2", "000000")).outcome == CodeCheck.LOCKED
    # both customers are locked, since the number is
    again = await _identify(sessions, "conv-3", first.id_card_number, T0 + timedelta(minutes=1))
    assert again.outcome == Outcome.LOCKED


async def test_codes_sent_are_capped_per_customer_an_hour_and_a_day(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    for n in range(3):
        at = T0 + timedelta(minutes=10 * n)
        assert (await _identify(sessions, f"c{n}", policy.number, at)).outcome == Outcome.CODE_SENT
    at = T0 + timedelta(minutes=30)
    refused = await _identify(sessions, "c3", policy.number, at)
    # the hour of the first code ends at T0 + 1 h
    assert refused.outcome == Outcome.LOCKED and refused.wait == timedelta(minutes=30)
    async with sessions() as session:
        sent = await session.scalar(
            select(SmsOutbox.id).where(SmsOutbox.mobile == customer.mobile).offset(3)
        )
    assert sent is None  # no fourth message
    [event] = await _locks(sessions)
    assert (event.customer_id, event.data["reason"]) == (1, "codes_per_hour")
    # the lock holds in every session until it ends; a code sent for a callback too
    assert (await _identify(sessions, "c4", policy.number, at)).outcome == Outcome.LOCKED
    async with sessions.begin() as session:
        callback = await send_code(session, RULES, "c5", customer, "13911112222", now=at)
    assert callback.outcome == Outcome.LOCKED
    # ten a day: three an hour for three hours, one more, and the eleventh is refused
    sent_at = [T0 + timedelta(hours=h, minutes=m) for h in (1, 2) for m in (0, 10, 20)]
    sent_at += [T0 + timedelta(hours=3)]
    for n, at in enumerate(sent_at):
        assert (await _identify(sessions, f"d{n}", policy.number, at)).outcome == Outcome.CODE_SENT
    refused = await _identify(sessions, "d9", policy.number, T0 + timedelta(hours=5))
    assert refused.outcome == Outcome.LOCKED and refused.wait == timedelta(hours=19)
    assert (await _locks(sessions))[-1].data["reason"] == "codes_per_day"


async def test_codes_sent_are_capped_per_mobile_number(database_url, sessions):
    """Codes to one number count however many customers name it (no SMS bombing)."""
    await generate(database_url, customers=5, progress=lambda *_: None)
    async with sessions() as session:
        customers = [await session.get(Customer, n) for n in (1, 2, 3, 4)]
    for n, customer in enumerate(customers[:3]):
        async with sessions.begin() as session:
            sent = await send_code(session, RULES, f"c{n}", customer, "13911112222", now=T0)
        assert sent.outcome == Outcome.CODE_SENT
    async with sessions.begin() as session:
        sent = await send_code(session, RULES, "c3", customers[3], "13911112222", now=T0)
    assert sent.outcome == Outcome.LOCKED


async def test_an_unknown_number_gets_a_code_step_like_a_known_one(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    _, policy = await _customer_and_policy(sessions)
    assert (await _identify(sessions, "conv-x", "hello")).outcome == Outcome.INVALID
    # a check digit that is wrong is not a number at all
    misread = UNKNOWN[:-1] + str((int(UNKNOWN[-1]) + 1) % 10)
    assert (await _identify(sessions, "conv-x", misread)).outcome == Outcome.INVALID
    known = await _identify(sessions, "conv-k", policy.number)
    unknown = await _identify(sessions, "conv-u", UNKNOWN)
    assert known == unknown  # the same answer, nothing else to tell them apart
    for n in range(Limits().wrong_codes - 1):
        at = T0 + timedelta(seconds=n)
        wrong_known = await _check(sessions, "conv-k", "000000", at)
        wrong_unknown = await _check(sessions, "conv-u", "000000", at)
        assert wrong_unknown == wrong_known and wrong_unknown.outcome == CodeCheck.WRONG
    # no code can be right, and the number locks like a customer does
    last = await _check(sessions, "conv-u", "123456")
    assert last.outcome == CodeCheck.LOCKED and last.wait == LOCK_TIME
    assert (await _identify(sessions, "conv-v", UNKNOWN.lower())).outcome == Outcome.LOCKED
    [event] = await _locks(sessions)
    assert event.customer_id is None and event.data["reason"] == "wrong_codes"
    # its challenges hold a digest of the number, never the number
    async with sessions() as session:
        challenge = await session.scalar(
            select(OtpChallenge).where(OtpChallenge.conversation_uid == "conv-u")
        )
        assert await session.scalar(select(SmsOutbox.id).offset(1)) is None  # one SMS: known
    assert challenge.customer_id is None and UNKNOWN not in challenge.subject


async def test_identifications_are_throttled_per_session_and_per_address(database_url, sessions):
    await generate(database_url, customers=30, progress=lambda *_: None)
    async with sessions() as session:
        rows = (await session.execute(select(Policy.holder_id, Policy.number))).all()
    # one number per customer, so that no customer's own limits come into it
    numbers = list(dict(sorted(rows, reverse=True)).values())
    assert len(numbers) >= 26
    limits = Limits()
    for number in numbers[: limits.identifications_per_session]:
        assert (await _identify(sessions, "one-session", number)).outcome == Outcome.CODE_SENT
    at = T0 + timedelta(minutes=15)
    refused = await _identify(sessions, "one-session", numbers[10], at)
    assert refused.outcome == Outcome.LOCKED and refused.wait == timedelta(minutes=45)
    [event] = await _locks(sessions)
    assert event.data["reason"] == "identifications_per_session" and event.customer_id is None
    # new sessions from one address: twenty an hour
    rules = Rules(secret="test-secret", limits=Limits(identifications_per_session=99))
    for n in range(limits.identifications_per_address):
        found = await _identify(sessions, f"s{n}", numbers[n], T0, rules, "203.0.113.9")
        assert found.outcome == Outcome.CODE_SENT
    found = await _identify(sessions, "s-next", numbers[25], T0, rules, "203.0.113.9")
    assert found.outcome == Outcome.LOCKED
    found = await _identify(sessions, "s-other", numbers[25], T0, rules, "198.51.100.7")
    assert found.outcome == Outcome.CODE_SENT
    assert (await _locks(sessions))[-1].data["reason"] == "identifications_per_address"


async def test_codes_are_hashed_under_the_secret_and_kept_only_in_demo_mode(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    production = Rules(secret="production-secret", demo_mode=False)
    await _identify(sessions, "conv-p", policy.number, rules=production)
    async with sessions() as session:
        text = await latest_sms(session, customer.mobile)
        challenge = await session.scalar(select(OtpChallenge))
    assert HIDDEN_CODE in text and not re.search(r"\d{6}", text)
    assert challenge.conversation_uid == "conv-p"
    # in demo mode the outbox shows the code, which proves the customer
    await _identify(sessions, "conv-d", policy.number, T0 + timedelta(minutes=1))
    code = await _code(sessions, customer)
    async with sessions() as session:
        challenge = await session.scalar(
            select(OtpChallenge).where(OtpChallenge.conversation_uid == "conv-d")
        )
    # the hash is keyed by the server's secret, not by the (public) conversation id
    unkeyed = hmac.new(b"conv-d", code.encode(), hashlib.sha256).hexdigest()
    assert challenge.code_hash != unkeyed
    other_secret = Rules(secret="another-secret", demo_mode=True)
    assert (
        await _check(sessions, "conv-d", code, T0 + timedelta(minutes=1), other_secret)
    ).outcome == CodeCheck.WRONG
    assert (
        await _check(sessions, "conv-d", code, T0 + timedelta(minutes=1))
    ).outcome == CodeCheck.VERIFIED


async def test_expired_codes_are_refused(database_url, sessions):
    await generate(database_url, customers=5, progress=lambda *_: None)
    customer, policy = await _customer_and_policy(sessions)
    await _identify(sessions, "conv-e", policy.number)
    code = await _code(sessions, customer)
    late = T0 + timedelta(minutes=5, seconds=1)
    assert (await _check(sessions, "conv-e", code, late)).outcome == CodeCheck.EXPIRED
