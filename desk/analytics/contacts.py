"""Contacts: how many times customers came to the desk in a range of days, by channel,
hour of day, team and language, and how many different customers they were (see
docs/metrics.md, where each figure is defined next to this query).

A conversation row is kept per channel identity and starts again when its customer
writes after a resolve, so a contact is a `created` event (the first time) or a
`reopened` one (each time after). Its team is where its first handoff went (none if
the bot kept it); its language is the conversation's now, as no event records it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.episodes import HANDOFF
from desk.analytics.ranges import CHANNELS, FilteredQuery, check_filters, check_reader, rows_in
from desk.clock import aware
from store.models import Agent, Conversation, Event

CREATED = "created"
REOPENED = "reopened"
CONTACTS = (CREATED, REOPENED)
VERIFIED = "customer_verified"


@dataclass
class Contact:
    """What a contact's own events say of it: its customer and the team it went to."""

    customer_id: int | None
    team: str | None = None


async def _during(
    session: AsyncSession, contacts: dict[int, Contact], conversations: set[int]
) -> None:
    """Complete each contact from its conversation's events after it and before the
    next contact: the first customer verified, if its event names none (nobody was
    verified when it started), and the team of its first handoff."""
    current: dict[int, int | None] = {}
    # A part of the conversations at a time: each conversation's events in order.
    for event_id, kind, conversation_id, customer_id, data in await rows_in(
        session,
        conversations,
        lambda part: (
            select(Event.id, Event.kind, Event.conversation_id, Event.customer_id, Event.data)
            .where(
                Event.kind.in_((*CONTACTS, VERIFIED, HANDOFF)),
                Event.conversation_id.in_(part),
                Event.id >= min(contacts),
            )
            .order_by(Event.id)
        ),
    ):
        if kind in CONTACTS:
            # A contact outside the range (or filtered out) ends the one before it.
            current[conversation_id] = event_id if event_id in contacts else None
            continue
        contact = contacts.get(current.get(conversation_id) or 0)
        if contact is None:
            continue
        if kind == VERIFIED and contact.customer_id is None:
            contact.customer_id = customer_id
        elif kind == HANDOFF and contact.team is None:
            contact.team = data.get("team")


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
                    Conversation.language,
                )
                .join(Conversation, Conversation.id == Event.conversation_id)
                .where(Event.kind.in_(CONTACTS), Event.at >= since, Event.at < until)
                .order_by(Event.id)
            )
            if query.channel is None or row.channel == query.channel
        ]
        contacts = {row.id: Contact(row.customer_id) for row in rows}
        if rows:
            await _during(session, contacts, {row.conversation_id for row in rows})
    if query.team is not None:
        rows = [row for row in rows if contacts[row.id].team == query.team]
    per_hour = [0] * 24
    for row in rows:
        per_hour[aware(row.at).astimezone(zone).hour] += 1
    kinds = Counter(row.kind for row in rows)
    channels = Counter(row.channel for row in rows)
    teams = Counter(contacts[row.id].team for row in rows)
    known = [contacts[row.id].customer_id for row in rows if contacts[row.id].customer_id]
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
        "per_team": {team: teams[team] for team in sorted(t for t in teams if t is not None)},
        "not_handed_over": teams[None],
        "per_language": dict(sorted(Counter(row.language for row in rows).items())),
        "unique_customers": len(set(known)),
        "contacts_without_customer": len(rows) - len(known),
    }
