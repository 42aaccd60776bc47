"""Contacts: how many times customers came to the desk in a range of days, by channel,
hour of day, team and language, and how many different customers they were (see
docs/metrics.md, where each figure is defined next to this query).

A conversation row is kept per channel identity and starts again when its customer
writes after a resolve, so a contact is a `created` event (the first time) or a
`reopened` one (each time after)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.ranges import CHANNELS, FilteredQuery, check_filters, check_reader
from desk.clock import aware
from store.models import Agent, Conversation, Event

CREATED = "created"
REOPENED = "reopened"
CONTACTS = (CREATED, REOPENED)
VERIFIED = "customer_verified"


async def _verified_during(
    session: AsyncSession, contacts: dict[int, int | None], conversations: set[int]
) -> dict[int, int | None]:
    """Each contact's customer: the one its event names (verified when it started),
    else the first verified during it, before its conversation's next contact."""
    customers = dict(contacts)
    current: dict[int, int | None] = {}
    for event_id, kind, conversation_id, customer_id in await session.execute(
        select(Event.id, Event.kind, Event.conversation_id, Event.customer_id)
        .where(
            Event.kind.in_((*CONTACTS, VERIFIED)),
            Event.conversation_id.in_(conversations),
            Event.id >= min(contacts),
        )
        .order_by(Event.id)
    ):
        if kind in CONTACTS:
            # A contact outside the range (or filtered out) ends the one before it.
            current[conversation_id] = event_id if event_id in contacts else None
            continue
        contact = current.get(conversation_id)
        if contact is not None and customers[contact] is None:
            customers[contact] = customer_id
    return customers


async def contacts_metrics(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: FilteredQuery
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    zone = query.zone()
    async with sessions() as session:
        await check_filters(session, query)
        rows = [
            row
            for row in await session.execute(
                select(
                    Event.id,
                    Event.kind,
                    Event.at,
                    Event.conversation_id,
                    Event.customer_id,
                    Conversation.channel,
                    Conversation.team,
                    Conversation.language,
                )
                .join(Conversation, Conversation.id == Event.conversation_id)
                .where(Event.kind.in_(CONTACTS), Event.at >= since, Event.at < until)
                .order_by(Event.id)
            )
            if (query.team is None or row.team == query.team)
            and (query.channel is None or row.channel == query.channel)
        ]
        customers = (
            await _verified_during(
                session,
                {row.id: row.customer_id for row in rows},
                {row.conversation_id for row in rows},
            )
            if rows
            else {}
        )
    per_hour = [0] * 24
    for row in rows:
        per_hour[aware(row.at).astimezone(zone).hour] += 1
    kinds = Counter(row.kind for row in rows)
    channels = Counter(row.channel for row in rows)
    known = [customer for customer in customers.values() if customer is not None]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "team": query.team,
        "channel": query.channel,
        "contacts": len(rows),
        "new_conversations": kinds[CREATED],
        "returns": kinds[REOPENED],
        "per_channel": {channel: channels[channel] for channel in CHANNELS},
        "per_hour": per_hour,
        "per_team": dict(sorted(Counter(row.team for row in rows).items())),
        "per_language": dict(sorted(Counter(row.language for row in rows).items())),
        "unique_customers": len(set(known)),
        "contacts_without_customer": len(rows) - len(known),
    }
