"""Staffing by Erlang C (SQLite and PostgreSQL): the formula against a direct one,
the agents a half hour needs from the last four same weekdays' arrivals and the
handle time measured over them, beside the agents actually online."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from desk.analytics.staffing import (
    StaffingQuery,
    agents_needed,
    erlang_c_wait,
    service_level,
    staffing,
)
from desk.errors import DeskError
from desk.inputs import read
from store.models import AgentRole, Conversation, Event
from tests.desk.test_conversations import make_agent

DAY = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 China time


def direct_wait(agents: int, traffic: float) -> float:
    """Erlang C as textbooks write it, with factorials."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    below = sum(traffic**k / math.factorial(k) for k in range(agents)) + top
    return top / below


@pytest.mark.parametrize(("agents", "traffic"), [(1, 0.5), (2, 1.0), (13, 10.0), (40, 33.3)])
def test_erlang_c_is_the_textbooks(agents, traffic):
    assert erlang_c_wait(agents, traffic) == pytest.approx(direct_wait(agents, traffic), rel=1e-9)


def test_agents_needed_is_the_fewest_that_meet_the_target():
    # 10 erlangs (200 an hour, 3 minutes each), 80 % within 20 s
    needed = agents_needed(10.0, 180, 0.80, 20)
    assert service_level(needed, 10.0, 180, 20) >= 0.80 > service_level(needed - 1, 10.0, 180, 20)
    assert needed == 14
    assert erlang_c_wait(10, 10.0) == 1.0 and agents_needed(0, 180, 0.8, 20) == 0
    # the seed's 96 % in 20 s needs more
    assert agents_needed(10.0, 180, 0.96, 20) > needed


async def test_a_days_staffing_from_four_weeks_of_arrivals(sessions):
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    agent = await make_agent(sessions, "ling", team="claims")
    async with sessions.begin() as session:
        conversation = Conversation(channel="web", external_user_id="staffing")
        session.add(conversation)
        await session.flush()
        # 8, 8, 12 and 12 handoffs between 10:00 and 10:30 on the four Tuesdays before
        for weeks, arrivals in ((1, 8), (2, 8), (3, 12), (4, 12)):
            for n in range(arrivals):
                session.add(
                    Event(
                        at=DAY - timedelta(weeks=weeks) + timedelta(minutes=n),
                        kind="handoff",
                        conversation_id=conversation.id,
                        data={"team": "claims"},
                    )
                )
        # one conversation handled then, in 10 minutes from the first reply
        then = DAY - timedelta(weeks=1)
        for kind, minutes, data in (
            ("assigned", 0, {}),
            ("first_agent_reply", 0, {"wait_seconds": 5}),
            ("resolved", 10, {"by": "agent"}),
        ):
            session.add(
                Event(
                    at=then + timedelta(minutes=minutes),
                    kind=kind,
                    conversation_id=conversation.id,
                    agent_id=agent.id,
                    data=data,
                )
            )
        # on the day: online from 10:00 to 11:15
        for at, now, before in (
            (DAY, "online", "offline"),
            (DAY + timedelta(minutes=75), "offline", "online"),
        ):
            session.add(
                Event(
                    at=at,
                    kind="presence",
                    agent_id=agent.id,
                    data={"presence": now, "previous": before},
                )
            )
    plan = await staffing(sessions, boss, read(StaffingQuery, {"day": "2026-12-08"}))
    assert plan["weeks"] == ["2026-12-01", "2026-11-24", "2026-11-17", "2026-11-10"]
    assert (plan["handle_seconds"], plan["concurrency"], plan["level"]) == (600.0, 1.0, 0.8)
    ten = plan["slots"][20]
    traffic = 10 * 600 / 1800
    assert ten == {
        "slot": "10:00",
        "arrivals": 10.0,
        "traffic_erlangs": round(traffic, 3),
        "agents_needed": agents_needed(traffic, 600, 0.80, 20),
        "agents_online": 1.0,
    }
    assert ten["agents_needed"] == 6
    assert [s["agents_online"] for s in plan["slots"][19:24]] == [0.0, 1.0, 1.0, 0.5, 0.0]
    assert sum(s["agents_needed"] for s in plan["slots"]) == ten["agents_needed"]
    seed = await staffing(
        sessions, boss, read(StaffingQuery, {"day": "2026-12-08", "preset": "seed"})
    )
    assert (seed["level"], seed["seconds"]) == (0.96, 20.0)
    assert seed["slots"][20]["agents_needed"] > ten["agents_needed"]


async def test_staffing_is_for_managers_and_checks_its_query(sessions):
    agent = await make_agent(sessions, "plain")
    with pytest.raises(DeskError) as refused:
        await staffing(sessions, agent, read(StaffingQuery, {"day": "2026-12-08"}))
    assert refused.value.status == 403
    for bad, code in (
        ({"day": "Tuesday"}, "bad_range"),
        ({"day": "2026-12-08", "preset": "99/1"}, "bad_preset"),
    ):
        with pytest.raises(DeskError) as wrong:
            read(StaffingQuery, bad)
        assert wrong.value.code == code
