"""The outcome figures, exactly (SQLite and PostgreSQL): CSAT beside the response
rate and the mean score, each rating counted with the request it answers (a resolve);
range edges in China time, filters by team, channel and agent; refusals; and what the
conversation service records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desk.analytics.outcome import OutcomeQuery, outcome_metrics
from desk.errors import DeskError
from desk.inputs import read
from desk.lifecycle import rating_payload
from store.models import Agent, AgentRole, Conversation, Event
from tests.desk.test_contacts_metrics import china
from tests.desk.test_conversations import make_agent

DAY = {"start": "2026-12-01", "end": "2026-12-01"}


async def conversation(sessions, name, channel="web", team="claims") -> int:
    async with sessions.begin() as session:
        row = Conversation(channel=channel, external_user_id=name, team=team)
        session.add(row)
        await session.flush()
        return row.id


async def resolved(sessions, conversation_id, at, agent=None, score=None, after=60) -> None:
    """A resolve (the desk asks for a rating) and, with `score`, the customer's rating
    `after` seconds later."""
    async with sessions.begin() as session:
        by = {"by": "agent", "reason": "answered"} if agent else {"by": "bot"}
        session.add(
            Event(
                at=at,
                kind="resolved",
                conversation_id=conversation_id,
                agent_id=agent.id if agent else None,
                data=by,
            )
        )
    if score is not None:
        await rating(sessions, conversation_id, at + timedelta(seconds=after), score, agent)


async def happened(sessions, kind, conversation_id, at, **data) -> None:
    async with sessions.begin() as session:
        session.add(Event(at=at, kind=kind, conversation_id=conversation_id, data=data))


async def rating(sessions, conversation_id, at, score, agent=None) -> None:
    async with sessions.begin() as session:
        session.add(
            Event(
                at=at,
                kind="csat",
                conversation_id=conversation_id,
                agent_id=agent.id if agent else None,
                data={"score": score},
            )
        )


@pytest.fixture
async def supervisor(sessions) -> Agent:
    return await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")


async def figures(sessions, reader, **query):
    return await outcome_metrics(sessions, reader, read(OutcomeQuery, {**DAY, **query}))


async def test_the_satisfaction_of_a_day_exactly(sessions, supervisor):
    first = await make_agent(sessions, "a1")
    second = await make_agent(sessions, "a2")
    c1 = await conversation(sessions, "c1")
    c2 = await conversation(sessions, "c2", channel="wechat", team="general")
    # the conversations' teams now: transfers and later contacts change them
    c3 = await conversation(sessions, "c3", team="general")
    c4 = await conversation(sessions, "c4")
    c5 = await conversation(sessions, "c5")
    await happened(sessions, "handoff", c1, china(1, 9, 50), team="claims")
    await resolved(sessions, c1, china(1, 10), first, score=5)
    await resolved(sessions, c2, china(1, 11), score=2)  # the bot's: no team
    # asked twice: transferred to complaints and unanswered, then back with the bot,
    # handed to claims, resolved again and rated
    await happened(sessions, "handoff", c3, china(1, 11, 50), team="claims")
    await happened(sessions, "transferred", c3, china(1, 11, 55), to_team="complaints")
    await resolved(sessions, c3, china(1, 12), second)
    await happened(sessions, "reopened", c3, china(1, 13))
    await happened(sessions, "handoff", c3, china(1, 13, 30), team="claims")
    await resolved(sessions, c3, china(1, 14), second, score=4)
    # asked at 23:50, answered after midnight: counted with its request
    await happened(sessions, "handoff", c4, china(1, 23, 40), team="claims")
    await resolved(sessions, c4, china(1, 23, 50), first, score=3, after=900)
    # asked at midnight: 2 December
    await happened(sessions, "reopened", c1, china(1, 23, 55))
    await happened(sessions, "handoff", c1, china(1, 23, 56), team="claims")
    await resolved(sessions, c1, china(2, 0), first, score=1)
    # asked the evening before, answered on the first: 30 November's
    await happened(sessions, "handoff", c5, china(1, 0) - timedelta(minutes=5), team="claims")
    await resolved(sessions, c5, china(1, 0) - timedelta(minutes=1), first, score=4, after=600)
    # a rating that answers no request counts nowhere
    await rating(sessions, c2, china(1, 11, 30), 5)

    day = await figures(sessions, supervisor)
    assert day == {
        "start": "2026-12-01T00:00:00+08:00",
        "end": "2026-12-02T00:00:00+08:00",
        "team": None,
        "channel": None,
        "agent": None,
        "filters": {},
        "rating_requests": 5,
        "ratings": 4,
        "response_rate": 0.8,
        "satisfied": 2,
        "csat": 0.5,
        "mean_score": 3.5,
        "per_score": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1},
    }
    mine = await figures(sessions, supervisor, agent="a1")
    assert (mine["rating_requests"], mine["ratings"], mine["csat"], mine["mean_score"]) == (
        2,
        2,
        0.5,
        4.0,
    )
    theirs = await figures(sessions, supervisor, agent="a2")
    assert (theirs["rating_requests"], theirs["response_rate"], theirs["csat"]) == (2, 0.5, 1.0)
    # one unhappy rating: a CSAT of 0, not null
    wechat = await figures(sessions, supervisor, channel="wechat")
    assert (wechat["rating_requests"], wechat["csat"], wechat["mean_score"]) == (1, 0.0, 2.0)
    # the team that had the contact when it was resolved, not the conversation's now
    complaints = await figures(sessions, supervisor, team="complaints")
    assert (complaints["rating_requests"], complaints["response_rate"]) == (1, 0.0)
    assert complaints["csat"] is None
    claims = await figures(sessions, supervisor, team="claims")
    assert (claims["rating_requests"], claims["ratings"], claims["satisfied"]) == (3, 3, 2)
    assert (await figures(sessions, supervisor, team="general"))["rating_requests"] == 0
    next_day = await figures(sessions, supervisor, start="2026-12-02", end="2026-12-02")
    assert (next_day["rating_requests"], next_day["mean_score"], next_day["csat"]) == (1, 1.0, 0.0)
    before = await figures(sessions, supervisor, start="2026-11-30", end="2026-11-30")
    assert (before["rating_requests"], before["ratings"], before["csat"]) == (1, 1, 1.0)


async def test_no_requests_no_ratios(sessions, supervisor):
    empty = await figures(sessions, supervisor)
    assert (empty["rating_requests"], empty["response_rate"], empty["csat"]) == (0, None, None)
    assert empty["mean_score"] is None
    # asked, never answered: a response rate of 0 and no CSAT
    await resolved(sessions, await conversation(sessions, "quiet"), china(1, 9))
    quiet = await figures(sessions, supervisor)
    assert (quiet["response_rate"], quiet["csat"], quiet["mean_score"]) == (0.0, None, None)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"start": "2026-13-01"}, "bad_range"),
        ({"tz": "Mars/Olympus"}, "bad_timezone"),
        ({"team": "astronauts"}, "unknown_team"),
        ({"channel": "pigeon"}, "unknown_channel"),
        ({"agent": "nobody"}, "unknown_agent"),
    ],
)
async def test_bad_ranges_and_unknown_filters_are_refused(sessions, supervisor, query, code):
    with pytest.raises(DeskError) as refused:
        await figures(sessions, supervisor, **query)
    assert (refused.value.code, refused.value.status) == (code, 400)


@pytest.mark.parametrize("role", [AgentRole.AGENT, AgentRole.TRAINER])
async def test_only_supervisors_and_admins_see_the_outcome(sessions, role):
    reader = await make_agent(sessions, "plain", role)
    with pytest.raises(DeskError) as refused:
        await figures(sessions, reader)
    assert refused.value.status == 403


async def test_what_the_desk_records_is_what_csat_counts(service, sessions):
    """Through the conversation service: an agent's resolve rated 5, one not rated,
    and the bot's goodbye rated 2."""
    agent = await make_agent(sessions)
    supervisor = await make_agent(sessions, "sup2", AgentRole.SUPERVISOR, "general")
    ids = []
    for name in ("rated", "silent"):
        opened, _ = await service.open("web", name)
        await service.customer_message(opened.id, "转人工", wait_for_bot=True)
        await service.assign(opened.id, agent)
        await service.resolve(opened.id, agent, "answered")
        ids.append(opened.id)
    await service.customer_message(ids[0], rating_payload(5), wait_for_bot=True)
    bye, _ = await service.open("web", "bye")
    await service.customer_message(bye.id, "bye", wait_for_bot=True)
    await service.customer_message(bye.id, rating_payload(2), wait_for_bot=True)
    today = datetime.now(UTC).date().isoformat()
    counted = await figures(sessions, supervisor, start=today, end=today, tz="UTC")
    assert (counted["rating_requests"], counted["ratings"], counted["satisfied"]) == (3, 2, 1)
    assert (counted["response_rate"], counted["csat"], counted["mean_score"]) == (
        round(2 / 3, 4),
        0.5,
        3.5,
    )
    claims = await figures(sessions, supervisor, start=today, end=today, tz="UTC", team="claims")
    assert (claims["rating_requests"], claims["ratings"], claims["mean_score"]) == (2, 1, 5.0)
    by_agent = await figures(sessions, supervisor, start=today, end=today, tz="UTC", agent="a1")
    assert (by_agent["rating_requests"], by_agent["ratings"], by_agent["mean_score"]) == (2, 1, 5.0)
