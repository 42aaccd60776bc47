"""Outcome: customer satisfaction (CSAT) from the ratings customers gave when the desk
asked for one, always beside the response rate and the mean score (see
docs/metrics.md, where each figure is defined next to this query).

The desk asks for a rating in the same transaction as it resolves a conversation, by
an agent or by the bot (`desk.lifecycle`'s `_ask_for_rating`), so each `resolved`
event is a rating request; an abandon resolves without asking and records
`abandoned` instead. The customer answers with one of the buttons (`csat`,
`data.score` 1 to 5). A request counts in the range it was made in, with its answer
whenever that came."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.contacts import CONTACTS
from desk.analytics.episodes import HANDOFF
from desk.analytics.ranges import FilteredQuery, Name, check_filters, check_reader, ratio, rows_in
from desk.errors import DeskError
from store.models import Agent, Conversation, Event

# Each resolve asks for a rating.
RATING_REQUESTED = "resolved"
CSAT = "csat"
TRANSFERRED = "transferred"
SCORES = range(1, 6)
# Satisfied: a rating of 4 or 5 out of 5.
SATISFIED = 4


class OutcomeQuery(FilteredQuery):
    """A range, optionally of the contacts one team had when they were resolved, of
    one channel's, or of those one agent (by username) resolved."""

    agent: Name | None = None


async def _agent_id(session: AsyncSession, username: str | None) -> int | None:
    if username is None:
        return None
    agent_id = await session.scalar(select(Agent.id).where(Agent.username == username))
    if agent_id is None:
        raise DeskError("unknown_agent", f"There is no agent {username!r}.", 400)
    return agent_id


@dataclass
class Request:
    """A rating request: the team that handled its contact, and its answer."""

    team: str | None = None
    score: int | None = None


async def _answers(
    session: AsyncSession, asked: dict[int, Request], conversations: set[int]
) -> None:
    """Complete each request from its conversation's events in order: its team is that
    of the contact's last handoff or transfer before it (none if the bot alone had the
    contact); its score, the first rating after it and before the next request."""
    team: dict[int, str | None] = {}
    pending: dict[int, Request | None] = {}
    # A part of the conversations at a time: each conversation's events in order.
    for event_id, kind, conversation_id, data in await rows_in(
        session,
        conversations,
        lambda part: (
            select(Event.id, Event.kind, Event.conversation_id, Event.data)
            .where(
                Event.kind.in_((*CONTACTS, HANDOFF, TRANSFERRED, RATING_REQUESTED, CSAT)),
                Event.conversation_id.in_(part),
            )
            .order_by(Event.id)
        ),
    ):
        if kind in CONTACTS:
            team[conversation_id] = None
        elif kind == HANDOFF:
            team[conversation_id] = data.get("team")
        elif kind == TRANSFERRED:
            team[conversation_id] = data.get("to_team")
        elif kind == RATING_REQUESTED:
            pending[conversation_id] = request = asked.get(event_id)
            if request is not None:
                request.team = team.get(conversation_id)
        elif (request := pending.pop(conversation_id, None)) is not None:
            score = data.get("score")
            request.score = int(score) if score in SCORES else None


async def outcome_metrics(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: OutcomeQuery
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    async with sessions() as session:
        await check_filters(session, query)
        agent_id = await _agent_id(session, query.agent)
        rows = [
            row
            for row in await session.execute(
                select(Event.id, Event.conversation_id, Event.agent_id, Conversation.channel)
                .join(Conversation, Conversation.id == Event.conversation_id)
                .where(Event.kind == RATING_REQUESTED, Event.at >= since, Event.at < until)
            )
            if (query.channel is None or row.channel == query.channel)
            and (agent_id is None or row.agent_id == agent_id)
        ]
        requests = {row.id: Request() for row in rows}
        if rows:
            await _answers(session, requests, {row.conversation_id for row in rows})
    counted = [r for r in requests.values() if query.team is None or r.team == query.team]
    scores = [request.score for request in counted if request.score is not None]
    satisfied = sum(1 for score in scores if score >= SATISFIED)
    per_score = Counter(scores)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "team": query.team,
        "channel": query.channel,
        "agent": query.agent,
        "rating_requests": len(counted),
        "ratings": len(scores),
        "response_rate": ratio(len(scores), len(counted)),
        "satisfied": satisfied,
        "csat": ratio(satisfied, len(scores)),
        "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
        "per_score": {str(score): per_score[score] for score in SCORES},
    }
