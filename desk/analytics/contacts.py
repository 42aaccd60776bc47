"""Contacts: how many times customers came to the desk in a range of days, by channel,
hour of day, team and language, and how many different customers they were (see
docs/metrics.md, where each figure is defined next to this query).

A conversation row is kept per channel identity and starts again when its customer
writes after a resolve, so a contact is a `created` event (the first time) or a
`reopened` one (each time after). Its team is where its first handoff went (none if
the bot kept it); its language is the conversation's now, as no event records it.
The figures read the rollups' contacts (`desk.analytics.event_facts`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.filters import checked
from desk.analytics.ranges import CHANNELS, FilteredQuery, check_reader, whole_hours
from desk.clock import aware
from store.models import Agent
from store.rollups import ContactFact

CREATED = "created"
REOPENED = "reopened"
CONTACTS = (CREATED, REOPENED)


async def contacts_metrics(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: FilteredQuery
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    zone = query.zone()
    filters = await checked(sessions, query, "contacts")
    chosen = [
        ContactFact.at >= since,
        ContactFact.at < until,
        *filters.on(
            ContactFact.conversation_id,
            channel=ContactFact.channel,
            team=ContactFact.team,
            language=ContactFact.language,
            intent=ContactFact.topic,
        ),
    ]
    # Counted per hour begun (UTC), which is an hour of the day in any zone whose
    # offset is whole hours; in another, per contact.
    when = ContactFact.hour if whole_hours(zone, query.start, query.end) else ContactFact.at
    kinds: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    teams: Counter[str | None] = Counter()
    languages: Counter[str] = Counter()
    per_hour = [0] * 24
    async with sessions() as session:
        for moment, count in await session.execute(
            select(when, func.count()).where(*chosen).group_by(when)
        ):
            per_hour[aware(moment).astimezone(zone).hour] += count
        for kind, channel, team, language, count in await session.execute(
            select(
                ContactFact.kind,
                ContactFact.channel,
                ContactFact.team,
                ContactFact.language,
                func.count(),
            )
            .where(*chosen)
            .group_by(ContactFact.kind, ContactFact.channel, ContactFact.team, ContactFact.language)
        ):
            kinds[kind] += count
            channels[channel] += count
            teams[team] += count
            languages[language] += count
        unique, without = (
            await session.execute(
                select(
                    func.count(func.distinct(ContactFact.customer_id)),
                    func.count().filter(ContactFact.customer_id.is_(None)),
                ).where(*chosen)
            )
        ).one()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("team", "channel"),
        "contacts": sum(kinds.values()),
        "new_conversations": kinds[CREATED],
        "returns": kinds[REOPENED],
        "per_channel": {channel: channels[channel] for channel in CHANNELS},
        "per_hour": per_hour,
        "per_team": {team: teams[team] for team in sorted(t for t in teams if t is not None)},
        "not_handed_over": teams[None],
        "per_language": dict(sorted(languages.items())),
        "unique_customers": unique,
        "contacts_without_customer": without,
    }
