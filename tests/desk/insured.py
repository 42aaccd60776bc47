"""A customer holding an active long-term medical policy on which they are insured,
for tests that need claims (or a policy's expiry) of their own."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from store.identifiers import make_policy_number
from store.models import Customer, InsuredMember, Policy, PolicyKind, PolicyStatus
from tests.console.test_casework import new_customer


async def holder(
    session, serial: int, name: str = "客户", expires: date = date(2044, 2, 29)
) -> tuple[Customer, Policy, InsuredMember]:
    customer = new_customer(serial, name, f"1581234{serial:04d}")
    session.add(customer)
    await session.flush()
    policy = Policy(
        number=make_policy_number(serial),
        holder_id=customer.id,
        product_code="HYB-LTM",
        product_name="好医保·长期医疗",
        kind=PolicyKind.LONG_TERM_MEDICAL,
        long_term=True,
        status=PolicyStatus.ACTIVE,
        sum_insured=Decimal("4000000.00"),
        premium=Decimal("368.00"),
        effective_date=date(2024, 3, 1),
        expiry_date=expires,
    )
    session.add(policy)
    await session.flush()
    member = InsuredMember(
        policy_id=policy.id,
        customer_id=customer.id,
        name=name,
        relation="self",
        id_card_number=customer.id_card_number,
        birth_date=customer.birth_date,
    )
    session.add(member)
    await session.flush()
    return customer, policy, member
