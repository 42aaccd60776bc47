"""Identity before disclosure: identify a customer, then authenticate them with
a one-time code sent to the mobile number on file (DESIGN §4)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Customer, OtpChallenge, Policy, SmsOutbox

CODE_TTL = timedelta(minutes=5)
MAX_WRONG_CODES = 5
LOCK_TIME = timedelta(minutes=15)

POLICY_NUMBER = re.compile(r"P\d{13}", re.IGNORECASE)
ID_CARD_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def _now() -> datetime:
    return datetime.now(UTC)


@overload
def _aware(at: datetime) -> datetime: ...


@overload
def _aware(at: None) -> None: ...


def _aware(at: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _hash(conversation_uid: str, code: str) -> str:
    return hmac.new(conversation_uid.encode(), code.encode(), hashlib.sha256).hexdigest()


async def find_customer(session: AsyncSession, text: str) -> Customer | None:
    """The customer named by a policy number or an ID card number found in `text`."""
    compact = re.sub(r"[\s-]", "", text or "")
    if match := POLICY_NUMBER.search(compact):
        policy = await session.scalar(select(Policy).where(Policy.number == match.group().upper()))
        return await session.get(Customer, policy.holder_id) if policy else None
    if match := ID_CARD_NUMBER.search(compact):
        return await session.scalar(
            select(Customer).where(Customer.id_card_number == match.group().upper())
        )
    return None


async def locked_until(session: AsyncSession, customer_id: int) -> datetime | None:
    """When a lock from too many wrong codes ends, if one is in force for this customer."""
    until = await session.scalar(
        select(OtpChallenge.locked_until)
        .where(OtpChallenge.customer_id == customer_id, OtpChallenge.locked_until.is_not(None))
        .order_by(OtpChallenge.locked_until.desc())
        .limit(1)
    )
    until = _aware(until)
    return until if until and until > _now() else None


async def send_code(
    session: AsyncSession, conversation_uid: str, customer: Customer, mobile: str | None = None
) -> None:
    """Create a challenge and send its code through the SMS gateway (the outbox): to
    the mobile on file, or to `mobile`, a new number the customer wants to prove."""
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        OtpChallenge(
            conversation_uid=conversation_uid,
            customer_id=customer.id,
            mobile=mobile,
            code_hash=_hash(conversation_uid, code),
            expires_at=_now() + CODE_TTL,
        )
    )
    session.add(
        SmsOutbox(
            mobile=mobile or customer.mobile,
            text=f"【健康险】您的验证码是{code},5分钟内有效,请勿告诉他人。"
            f"Your verification code is {code}, valid for 5 minutes.",
        )
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
    minutes_locked: int = 0


async def check_code(session: AsyncSession, conversation_uid: str, text: str) -> CodeResult:
    """Check the code typed in this conversation against its newest challenge."""
    challenge = await session.scalar(
        select(OtpChallenge)
        .where(OtpChallenge.conversation_uid == conversation_uid)
        .order_by(OtpChallenge.id.desc())
        .limit(1)
    )
    if challenge is None:
        return CodeResult(CodeCheck.NO_CHALLENGE)
    now = _now()
    if until := await locked_until(session, challenge.customer_id):
        return CodeResult(
            CodeCheck.LOCKED, minutes_locked=max(1, round((until - now).total_seconds() / 60))
        )
    if _aware(challenge.expires_at) < now:
        return CodeResult(CodeCheck.EXPIRED, customer_id=challenge.customer_id)
    match = CODE.search(text or "")
    if match and hmac.compare_digest(challenge.code_hash, _hash(conversation_uid, match.group())):
        challenge.verified_at = now
        return CodeResult(
            CodeCheck.VERIFIED, customer_id=challenge.customer_id, mobile=challenge.mobile
        )
    challenge.attempts += 1
    if challenge.attempts >= MAX_WRONG_CODES:
        challenge.locked_until = now + LOCK_TIME
        return CodeResult(CodeCheck.LOCKED, minutes_locked=int(LOCK_TIME.total_seconds() // 60))
    return CodeResult(CodeCheck.WRONG, remaining=MAX_WRONG_CODES - challenge.attempts)


async def latest_sms(session: AsyncSession, mobile: str) -> str | None:
    """The newest text sent to a number (the development outbox)."""
    return await session.scalar(
        select(SmsOutbox.text)
        .where(SmsOutbox.mobile == mobile)
        .order_by(SmsOutbox.id.desc())
        .limit(1)
    )
