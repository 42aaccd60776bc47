"""Identity before disclosure: identify a customer, then authenticate them with
a one-time code sent to the mobile number on file (DESIGN §4).

Guessing is limited across codes and sessions: wrong codes are counted per
customer and per mobile number over a rolling day, codes sent per customer and
per number are capped by the hour and by the day, and identifications by the
hour per session and per client address. A limit reached locks for a stated
time (a `verification_locks` row, and a `verification_locked` event without
personal data). Until a code is proved the answer never says whether a number
is on file: an unknown number gets a code step too, whose code no one has.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.identifiers import is_valid_id_card, is_valid_policy_number
from store.models import (
    Conversation,
    Customer,
    Event,
    OtpChallenge,
    Policy,
    SmsOutbox,
    VerificationLock,
)

CODE_TTL = timedelta(minutes=5)
# Wrong codes are counted over a rolling day (by the time each code was sent);
# reaching the limit locks for LOCK_TIME, and each wrong code after it locks again.
FAILURE_WINDOW = timedelta(days=1)
LOCK_TIME = timedelta(hours=1)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# What the outbox keeps of a code outside demo mode.
HIDDEN_CODE = "******"

POLICY_NUMBER = re.compile(r"P\d{13}", re.IGNORECASE)
ID_CARD_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


@dataclass(frozen=True)
class Limits:
    wrong_codes: int = 5  # per customer and per mobile number, in FAILURE_WINDOW
    codes_per_hour: int = 3  # per customer and per mobile number
    codes_per_day: int = 10
    identifications_per_session: int = 5  # an hour
    identifications_per_address: int = 20  # an hour


@dataclass(frozen=True)
class Rules:
    """What verification needs from the settings: the server's secret (codes and
    numbers are hashed under it), whether this is a demo, and the limits."""

    secret: str
    demo_mode: bool = False
    limits: Limits = field(default_factory=Limits)

    def digest(self, kind: str, value: str) -> str:
        """A keyed digest that names a number without holding it."""
        mac = hmac.new(self.secret.encode(), f"{kind}|{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def code_hash(self, conversation_uid: str, code: str) -> str:
        mac = hmac.new(self.secret.encode(), f"code|{conversation_uid}|{code}".encode(), "sha256")
        return mac.hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(at: datetime) -> datetime: ...


@overload
def _aware(at: None) -> None: ...


def _aware(at: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def identifier_in(text: str) -> str | None:
    """A well-formed policy or ID card number in `text` (check digits right), upper case."""
    compact = re.sub(r"[\s-]", "", text or "").upper()
    if (match := POLICY_NUMBER.search(compact)) and is_valid_policy_number(match.group()):
        return match.group()
    if (match := ID_CARD_NUMBER.search(compact)) and is_valid_id_card(match.group()):
        return match.group()
    return None


async def find_customer(session: AsyncSession, text: str) -> Customer | None:
    """The customer named by a policy number or an ID card number found in `text`."""
    number = identifier_in(text)
    if number is None:
        return None
    if number.startswith("P"):
        policy = await session.scalar(select(Policy).where(Policy.number == number))
        return await session.get(Customer, policy.holder_id) if policy else None
    return await session.scalar(select(Customer).where(Customer.id_card_number == number))


class Outcome(enum.StrEnum):
    CODE_SENT = "code_sent"
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass
class Identification:
    outcome: Outcome
    # How long a lock has left, when locked.
    wait: timedelta = timedelta(0)


async def identify(
    session: AsyncSession,
    rules: Rules,
    conversation_uid: str,
    text: str,
    client_address: str | None = None,
    now: datetime | None = None,
) -> Identification:
    """Start verifying whoever `text` names. A known number gets a code sent to the
    mobile on file, an unknown one a code step all the same, so the two look alike."""
    now = now or _now()
    number = identifier_in(text)
    if number is None:
        return Identification(Outcome.INVALID)
    address = rules.digest("address", client_address) if client_address else None
    # (lock key, the column that counts, its value, the limit an hour)
    throttles: list[tuple[str, Any, str, int]] = [
        (f"session:{conversation_uid}", OtpChallenge.conversation_uid, conversation_uid,
         rules.limits.identifications_per_session),
    ]  # fmt: skip
    if address:
        throttles.append((f"address:{address}", OtpChallenge.address_digest, address,
                          rules.limits.identifications_per_address))  # fmt: skip
    if until := await _locked(session, [key for key, *_ in throttles], now):
        return Identification(Outcome.LOCKED, until - now)
    for key, column, value, limit in throttles:
        if reopens := await _reopens(session, column, value, HOUR, limit, now):
            reason = f"identifications_per_{key.partition(':')[0]}"
            await _lock(session, [key], reason, reopens, conversation_uid, None, now)
            return Identification(Outcome.LOCKED, reopens - now)
    customer = await find_customer(session, number)
    return await _send(
        session,
        rules,
        conversation_uid,
        subject=f"customer:{customer.id}" if customer else f"number:{rules.digest('id', number)}",
        customer=customer,
        mobile=customer.mobile if customer else None,
        on_file=True,
        address=address,
        now=now,
    )


async def send_code(
    session: AsyncSession,
    rules: Rules,
    conversation_uid: str,
    customer: Customer,
    mobile: str | None = None,
    now: datetime | None = None,
) -> Identification:
    """Send a code to the mobile on file, or to `mobile`, a new number the
    customer wants to prove; refused (locked) when a limit is reached."""
    return await _send(
        session,
        rules,
        conversation_uid,
        subject=f"customer:{customer.id}",
        customer=customer,
        mobile=mobile or customer.mobile,
        on_file=mobile is None,
        address=None,
        now=now or _now(),
    )


async def resend(
    session: AsyncSession, rules: Rules, conversation_uid: str, now: datetime | None = None
) -> Identification:
    """A fresh code for the conversation's newest challenge, under the same limits."""
    now = now or _now()
    last = await _newest_challenge(session, conversation_uid)
    if last is None:
        return Identification(Outcome.INVALID)
    customer = await session.get(Customer, last.customer_id) if last.customer_id else None
    return await _send(
        session,
        rules,
        conversation_uid,
        subject=last.subject,
        customer=customer,
        mobile=last.mobile or (customer.mobile if customer else None),
        on_file=last.mobile is None,
        address=last.address_digest,
        now=now,
    )


async def _send(
    session: AsyncSession,
    rules: Rules,
    conversation_uid: str,
    *,
    subject: str,
    customer: Customer | None,
    mobile: str | None,
    on_file: bool,
    address: str | None,
    now: datetime,
) -> Identification:
    mobile_digest = rules.digest("mobile", mobile) if mobile else None
    keys = [subject] + ([f"mobile:{mobile_digest}"] if mobile_digest else [])
    if until := await _locked(session, keys, now):
        return Identification(Outcome.LOCKED, until - now)
    counted: list[tuple[Any, str]] = [(OtpChallenge.subject, subject)]
    if mobile_digest:
        counted.append((OtpChallenge.mobile_digest, mobile_digest))
    caps = (("codes_per_hour", HOUR, rules.limits.codes_per_hour),
            ("codes_per_day", DAY, rules.limits.codes_per_day))  # fmt: skip
    for reason, window, limit in caps:
        reopening = [await _reopens(session, column, value, window, limit, now)
                     for column, value in counted]  # fmt: skip
        if reopens := max((at for at in reopening if at), default=None):
            customer_id = customer.id if customer else None
            await _lock(session, keys, reason, reopens, conversation_uid, customer_id, now)
            return Identification(Outcome.LOCKED, reopens - now)
    # An unknown number's challenge holds the hash of a code nobody is sent.
    code = f"{secrets.randbelow(10**6):06d}" if customer else secrets.token_hex(16)
    session.add(
        OtpChallenge(
            conversation_uid=conversation_uid,
            customer_id=customer.id if customer else None,
            subject=subject,
            mobile=None if on_file else mobile,
            mobile_digest=mobile_digest,
            address_digest=address,
            code_hash=rules.code_hash(conversation_uid, code),
            expires_at=now + CODE_TTL,
            created_at=now,
        )
    )
    if customer is not None and mobile is not None:
        deliver_code(session, rules, mobile, code)
    return Identification(Outcome.CODE_SENT)


def deliver_code(session: AsyncSession, rules: Rules, mobile: str, code: str) -> None:
    """The SMS gateway seam: the one place a code leaves the desk. It writes the
    message to the outbox, with the code in clear only in demo mode (where the
    `/dev/outbox` page and the tests read it). A production deployment sends
    `sms_text(code)` to `mobile` through its SMS provider here."""
    session.add(SmsOutbox(mobile=mobile, text=sms_text(code if rules.demo_mode else HIDDEN_CODE)))


def sms_text(code: str) -> str:
    return (
        f"【健康险】您的验证码是{code},5分钟内有效,请勿告诉他人。"
        f"Your verification code is {code}, valid for 5 minutes."
    )


class CodeCheck(enum.StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    EXPIRED = "expired"
    NO_CHALLENGE = "no_challenge"


@dataclass
class CodeResult:
    outcome: CodeCheck
    customer_id: int | None = None
    # The number the code went to, when it was not the one on file.
    mobile: str | None = None
    remaining: int = 0
    wait: timedelta = timedelta(0)


async def check_code(
    session: AsyncSession,
    rules: Rules,
    conversation_uid: str,
    text: str,
    now: datetime | None = None,
) -> CodeResult:
    """Check the code typed in this conversation against its newest challenge."""
    now = now or _now()
    challenge = await _newest_challenge(session, conversation_uid)
    if challenge is None:
        return CodeResult(CodeCheck.NO_CHALLENGE)
    keys = [challenge.subject]
    counted: list[tuple[Any, str]] = [(OtpChallenge.subject, challenge.subject)]
    if challenge.mobile_digest:
        keys.append(f"mobile:{challenge.mobile_digest}")
        counted.append((OtpChallenge.mobile_digest, challenge.mobile_digest))
    if until := await _locked(session, keys, now):
        return CodeResult(CodeCheck.LOCKED, wait=until - now)
    if _aware(challenge.expires_at) < now:
        return CodeResult(CodeCheck.EXPIRED, customer_id=challenge.customer_id)
    match = CODE.search(text or "")
    if match and hmac.compare_digest(
        challenge.code_hash, rules.code_hash(conversation_uid, match.group())
    ):
        challenge.verified_at = now
        return CodeResult(
            CodeCheck.VERIFIED, customer_id=challenge.customer_id, mobile=challenge.mobile
        )
    challenge.attempts += 1
    await session.flush()
    failures = 0
    for column, value in counted:
        failures = max(failures, await _failures(session, column, value, now))
    if failures >= rules.limits.wrong_codes:
        until = now + LOCK_TIME
        await _lock(
            session, keys, "wrong_codes", until, conversation_uid, challenge.customer_id, now
        )
        return CodeResult(CodeCheck.LOCKED, wait=LOCK_TIME)
    return CodeResult(CodeCheck.WRONG, remaining=rules.limits.wrong_codes - failures)


def minutes(wait: timedelta) -> int:
    """A lock's time left as whole minutes, rounded up (at least one)."""
    return max(1, math.ceil(wait.total_seconds() / 60))


async def _newest_challenge(session: AsyncSession, conversation_uid: str) -> OtpChallenge | None:
    return await session.scalar(
        select(OtpChallenge)
        .where(OtpChallenge.conversation_uid == conversation_uid)
        .order_by(OtpChallenge.id.desc())
        .limit(1)
    )


async def _locked(session: AsyncSession, keys: list[str], now: datetime) -> datetime | None:
    """When the latest lock in force on any of `keys` ends."""
    until = await session.scalar(
        select(func.max(VerificationLock.until)).where(
            VerificationLock.key.in_(keys), VerificationLock.until > now
        )
    )
    return _aware(until)


async def _reopens(
    session: AsyncSession, column: Any, value: str, window: timedelta, limit: int, now: datetime
) -> datetime | None:
    """When fewer than `limit` challenges will be inside `window`, if `limit` are now."""
    nth_newest = await session.scalar(
        select(OtpChallenge.created_at)
        .where(column == value, OtpChallenge.created_at > now - window)
        .order_by(OtpChallenge.created_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    return _aware(nth_newest) + window if nth_newest is not None else None


async def _failures(session: AsyncSession, column: Any, value: str, now: datetime) -> int:
    """Wrong codes inside the window, since the last code that was right."""
    proved = await session.scalar(
        select(func.max(OtpChallenge.id)).where(
            column == value, OtpChallenge.verified_at.is_not(None)
        )
    )
    total = await session.scalar(
        select(func.coalesce(func.sum(OtpChallenge.attempts), 0)).where(
            column == value,
            OtpChallenge.created_at > now - FAILURE_WINDOW,
            OtpChallenge.id > (proved or 0),
        )
    )
    return int(total or 0)


async def _lock(
    session: AsyncSession,
    keys: list[str],
    reason: str,
    until: datetime,
    conversation_uid: str,
    customer_id: int | None,
    now: datetime,
) -> None:
    """Lock `keys` until `until`, and report it (the reason and times only)."""
    for key in keys:
        session.add(VerificationLock(key=key, reason=reason, until=until, at=now))
    conversation_id = await session.scalar(
        select(Conversation.id).where(Conversation.uid == conversation_uid)
    )
    session.add(
        Event(
            kind="verification_locked",
            at=now,
            conversation_id=conversation_id,
            customer_id=customer_id,
            data={"reason": reason, "until": until.isoformat(), "minutes": minutes(until - now)},
        )
    )


async def latest_sms(session: AsyncSession, mobile: str) -> str | None:
    """The newest text sent to a number (the development outbox)."""
    return await session.scalar(
        select(SmsOutbox.text)
        .where(SmsOutbox.mobile == mobile)
        .order_by(SmsOutbox.id.desc())
        .limit(1)
    )
