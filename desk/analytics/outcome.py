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
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.ranges import FilteredQuery, Name, check_filters, check_reader, ratio
from desk.errors import DeskError
from store.models import Agent, Conversation, Event

# Each resolve asks for a rating.
RATING_REQUESTED = "resolved"
CSAT = "csat"
SCORES = range(1, 6)
# Satisfied: a rating of 4 or 5 out of 5.
SATISFIED = 4


class OutcomeQuery(FilteredQuery):
    """A range, optionally of one team's or channel's conversations, or of the
    conversations one agent (by username) resolved."""

    agent: Name | None = None


async def _agent_id(session: AsyncSession, username: str | None) -> int | None:
    if username is None:
        return None
    agent_id = await session.scalar(select(Agent.id).where(Agent.username == username))
    if agent_id is None:
        raise DeskError("unknown_agent", f"There is no agent {username!r}.", 400)
    return agent_id


async def _answers(session: AsyncSession, requests: list[Event]) -> dict[int, int]:
    """Each request's score: the first rating in its conversation after it and before
    the conversation's next request."""
    asked = {request.id for request in requests}
    pending: dict[int, int | None] = {}
    scores: dict[int, int] = {}
    for event_id, kind, conversation_id, data in await session.execute(
        select(Event.id, Event.kind, Event.conversation_id, Event.data)
        .where(
            Event.kind.in_((RATING_REQUESTED, CSAT)),
            Event.conversation_id.in_({request.conversation_id for request in requests}),
            Event.id >= requests[0].id,
        )
        .order_by(Event.id)
    ):
        if kind == RATING_REQUESTED:
            pending[conversation_id] = event_id if event_id in asked else None
            continue
        request = pending.pop(conversation_id, None)
        score = data.get("score")
        if request is not None and score in SCORES:
            scores[request] = int(score)
    return scores


async def outcome_metrics(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: OutcomeQuery
) -> dict[str, Any]:
    check_reader(reader)
    start, end = query.bounds()
    since, until = query.utc_bounds()
    async with sessions() as session:
        await check_filters(session, query)
        agent_id = await _agent_id(session, query.agent)
        requests = [
            event
            for event, team, channel in await session.execute(
                select(Event, Conversation.team, Conversation.channel)
                .join(Conversation, Conversation.id == Event.conversation_id)
                .where(Event.kind == RATING_REQUESTED, Event.at >= since, Event.at < until)
                .order_by(Event.id)
            )
            if (query.team is None or team == query.team)
            and (query.channel is None or channel == query.channel)
            and (agent_id is None or event.agent_id == agent_id)
        ]
        scores = list((await _answers(session, requests)).values()) if requests else []
    satisfied = sum(1 for score in scores if score >= SATISFIED)
    per_score = Counter(scores)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "team": query.team,
        "channel": query.channel,
        "agent": query.agent,
        "rating_requests": len(requests),
        "ratings": len(scores),
        "response_rate": ratio(len(scores), len(requests)),
        "satisfied": satisfied,
        "csat": ratio(satisfied, len(scores)),
        "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
        "per_score": {str(score): per_score[score] for score in SCORES},
    }
