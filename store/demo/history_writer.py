"""Writing the demo history: what it needs of the store (customers, their policies,
the demo agents), then its rows in bulk, in chunks, in one transaction."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.demo.history import (
    CONTACTS_PER_CUSTOMER,
    HISTORY_AGENTS,
    HISTORY_TABLES,
    MOST_CONTACTS_A_DAY,
    History,
)
from store.demo.products import SUBMISSION_CHANNELS
from store.models import (
    Agent,
    AgentRole,
    Base,
    Claim,
    ClaimStage,
    ClaimStageChange,
    Customer,
    InsuredMember,
    Policy,
    PolicyStatus,
)

CHUNK = 2_000  # rows per INSERT
_ONLINE = set(SUBMISSION_CHANNELS[:2])


async def _agents(conn) -> dict[str, int]:
    """The demo agents' ids, adding those missing. The console sets their passwords
    and switches them on in demo mode; until then nobody can sign in as them."""
    names = [username for username, _, _ in HISTORY_AGENTS]
    found = dict(
        (
            await conn.execute(select(Agent.username, Agent.id).where(Agent.username.in_(names)))
        ).all()
    )
    missing = [
        {
            "username": username,
            "display_name": display,
            "password_hash": "",
            "role": AgentRole.SUPERVISOR if username.startswith("supervisor") else AgentRole.AGENT,
            "team": team,
            "is_active": False,
        }
        for username, display, team in HISTORY_AGENTS
        if username not in found
    ]
    if missing:
        await conn.execute(insert(Agent), missing)
        found = dict(
            (
                await conn.execute(
                    select(Agent.username, Agent.id).where(Agent.username.in_(names))
                )
            ).all()
        )
    return {username: found[username] for username in names}


async def _customers(conn) -> dict[int, dict[str, Any]]:
    """Every customer, with the active policies they hold and a member on each."""
    customers: dict[int, dict[str, Any]] = {
        cid: {"mobile": mobile, "policies": []}
        for cid, mobile in await conn.execute(
            select(Customer.id, Customer.mobile).order_by(Customer.id)
        )
    }
    members: dict[int, int] = {}
    for policy_id, member_id in await conn.execute(
        select(InsuredMember.policy_id, func.min(InsuredMember.id)).group_by(
            InsuredMember.policy_id
        )
    ):
        members[policy_id] = member_id
    for policy_id, holder, kind in await conn.execute(
        select(Policy.id, Policy.holder_id, Policy.kind)
        .where(Policy.status == PolicyStatus.ACTIVE)
        .order_by(Policy.id)
    ):
        if policy_id in members:
            customers[holder]["policies"].append((policy_id, kind, members[policy_id]))
    return customers


async def _filed_online(conn, since: datetime, end: datetime) -> list[dict[str, Any]]:
    """`claim_filed` events for the store's claims submitted online in the range, as
    the bot's claim form would have written them."""
    found = []
    for claim_id, number, submitted, holder, note in await conn.execute(
        select(Claim.id, Claim.number, Claim.submitted_at, Policy.holder_id, ClaimStageChange.note)
        .join(Policy, Policy.id == Claim.policy_id)
        .join(ClaimStageChange, ClaimStageChange.claim_id == Claim.id)
        .where(
            ClaimStageChange.stage == ClaimStage.SUBMITTED,
            Claim.submitted_at >= since,
            Claim.submitted_at <= end,
        )
        .order_by(Claim.id)
    ):
        if note in _ONLINE:
            at = submitted if submitted.tzinfo else submitted.replace(tzinfo=UTC)
            found.append(
                {
                    "at": at,
                    "kind": "claim_filed",
                    "conversation_id": None,
                    "customer_id": holder,
                    "agent_id": None,
                    "data": {"claim_id": claim_id, "number": number},
                }
            )
    return found


async def write_history(
    engine: AsyncEngine,
    seed: int,
    days: int,
    end: datetime | None = None,
    per_day: float | None = None,
) -> dict[str, int]:
    """Add `days` days of service history ending at `end` (now) to the store: the
    same seed, store and end give the same rows. Returns the rows added per table."""
    end = (end or datetime.now(UTC)).astimezone(UTC)
    tables = {name: Base.metadata.tables[name] for name in HISTORY_TABLES}
    async with engine.begin() as conn:
        agents = await _agents(conn)
        customers = await _customers(conn)
        first = {
            name: ((await conn.scalar(select(func.max(table.c.id)))) or 0) + 1
            for name, table in tables.items()
        }
        if per_day is None:
            per_day = min(len(customers) * CONTACTS_PER_CUSTOMER, MOST_CONTACTS_A_DAY)
        history = History(
            random.Random(f"health-desk demo history: seed {seed}, {end.isoformat()}"),
            first,
            customers,
            agents,
            end,
            days,
            per_day,
        )
        earlier = await _filed_online(conn, end - timedelta(days=days), end)
        for row in earlier:
            history.event(
                row["at"], "claim_filed", None, row["data"], customer_id=row["customer_id"]
            )
        rows = history.draw()
        counts: dict[str, int] = defaultdict(int)
        for name in HISTORY_TABLES:
            for i in range(0, len(rows[name]), CHUNK):
                await conn.execute(insert(tables[name]), rows[name][i : i + CHUNK])
            counts[name] = len(rows[name])
    return dict(counts)
