"""Outcome: customer satisfaction (CSAT) from the ratings customers gave when the desk
asked for one, always beside the response rate and the mean score (see
docs/metrics.md, where each figure is defined next to this query).

The desk asks for a rating in the same transaction as it resolves a conversation, by
an agent or by the bot (`desk.lifecycle`'s `_ask_for_rating`), so each `resolved`
event is a rating request; an abandon resolves without asking and records
`abandoned` instead. The customer answers with one of the buttons (`csat`,
`data.score` 1 to 5). A request counts in the range it was made in, with its answer
whenever that came. The figures read the rollups' resolves, each with the team that
had its contact and the score it was given (`desk.analytics.event_facts`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.event_facts import SCORES
from desk.analytics.filters import checked
from desk.analytics.ranges import FilteredQuery, check_reader, ratio
from store.models import Agent
from store.rollups import ResolveFact

# Satisfied: a rating of 4 or 5 out of 5.
SATISFIED = 4


# A range, optionally of the contacts some teams had when they were resolved, of
# some channels, languages or topics, or of those some agents (by username) resolved.
OutcomeQuery = FilteredQuery


async def outcome_metrics(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: OutcomeQuery
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    filters = await checked(sessions, query, "outcome")
    chosen = [
        ResolveFact.at >= since,
        ResolveFact.at < until,
        *filters.on(
            ResolveFact.conversation_id,
            channel=ResolveFact.channel,
            team=ResolveFact.team,
            agent=ResolveFact.agent_id,
            language=ResolveFact.language,
            intent=ResolveFact.topic,
        ),
    ]
    async with sessions() as session:
        per_score = dict(
            (score, count)
            for score, count in await session.execute(
                select(ResolveFact.score, func.count()).where(*chosen).group_by(ResolveFact.score)
            )
        )
    requests = sum(per_score.values())
    scores = {score: per_score.get(score, 0) for score in SCORES}
    ratings = sum(scores.values())
    satisfied = sum(count for score, count in scores.items() if score >= SATISFIED)
    total = sum(score * count for score, count in scores.items())
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        **query.echo("team", "channel", "agent"),
        "rating_requests": requests,
        "ratings": ratings,
        "response_rate": ratio(ratings, requests),
        "satisfied": satisfied,
        "csat": ratio(satisfied, ratings),
        "mean_score": round(total / ratings, 3) if ratings else None,
        "per_score": {str(score): count for score, count in scores.items()},
    }
