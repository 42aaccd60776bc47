"""The wallboard's figures at a given instant, exactly (SQLite and PostgreSQL): queue
length and longest wait per team, agents by presence (a presence not heard of within
the TTL is offline) and load, today's service level in China time, and the projection
that raises the alert."""

from __future__ import annotations

from datetime import timedelta

import pytest

from desk.analytics.queue import Targets
from desk.analytics.wallboard import Board, projection, wallboard
from desk.errors import DeskError
from store.models import AgentRole, Conversation, ConversationState
from tests.desk.test_conversations import make_agent
from tests.desk.test_queue_metrics import MORNING, episode


async def presence(sessions, agent, state, at):
    async with sessions.begin() as session:
        stored = await session.get(type(agent), agent.id)
        stored.presence, stored.presence_at = state, at


async def assigned(sessions, agent, n):
    async with sessions.begin() as session:
        session.add(
            Conversation(
                channel="web",
                external_user_id=f"board-{n}",
                team=agent.team,
                state=ConversationState.ASSIGNED,
                assigned_agent_id=agent.id,
            )
        )


async def test_the_board_at_a_given_instant_exactly(sessions):
    supervisor = await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")
    busy = await make_agent(sessions, "busy", AgentRole.AGENT, "claims")
    resting = await make_agent(sessions, "resting", AgentRole.AGENT, "claims")
    gone = await make_agent(sessions, "gone", AgentRole.AGENT, "general")
    await make_agent(sessions, "admin", AgentRole.ADMIN, "general")  # not on the board
    # Today (1 December, China time): 3 answered within 20 s, 1 late, 1 left late,
    # 1 short abandon (left out); yesterday's handoff is not today's.
    await episode(sessions, 0, waited=3)
    await episode(sessions, 1, waited=15)
    await episode(sessions, 2, waited=19, team="general")
    await episode(sessions, 3, waited=40)
    await episode(sessions, 4, waited=30, left=True)
    await episode(sessions, 5, waited=2, left=True)
    await episode(sessions, 6, waited=99, at=MORNING - timedelta(hours=10))
    # Waiting now: two for claims (since minute 20 and 21), one for complaints.
    await episode(sessions, 20, state="queued")
    await episode(sessions, 21, state="queued")
    await episode(sessions, 22, state="queued", team="complaints")
    at = MORNING + timedelta(minutes=22, seconds=10)
    await presence(sessions, supervisor, "online", at - timedelta(seconds=5))
    await presence(sessions, busy, "online", at - timedelta(seconds=30))
    await presence(sessions, resting, "away", at - timedelta(seconds=10))
    # online, but no console has heart-beaten them for longer than the TTL
    await presence(sessions, gone, "online", at - timedelta(minutes=2))
    await assigned(sessions, busy, 1)
    await assigned(sessions, busy, 2)

    board = await wallboard(sessions, supervisor, at, Board())

    assert board["day"] == "2026-12-01"
    assert [(t["code"], t["queued"], t["longest_wait_seconds"]) for t in board["teams"]] == [
        ("general", 0, None),
        ("claims", 2, 130.0),
        ("complaints", 1, 10.0),
    ]
    assert {
        (a["display_name"], a["presence"], a["active_conversations"], a["capacity"])
        for a in board["agents"]
    } == {
        ("SUP", "online", 0, 3),
        ("BUSY", "online", 2, 3),
        ("RESTING", "away", 0, 3),
        ("GONE", "offline", 0, 3),
    }
    assert board["presence"] == {"online": 2, "away": 1, "offline": 1}
    # 3 within 20 s ÷ (4 answered + 2 abandoned − 1 short abandon)
    assert board["service_level"] == {
        "value": 0.6,
        "goal": 0.8,
        "target_seconds": 20.0,
        "answered_within_target": 3,
        "counted": 5,
    }
    # the three waiting will all pass 20 s within 15 minutes: 3 ÷ (5 + 3)
    assert board["projection"] == {
        "horizon_minutes": 15.0,
        "misses_soon": 3,
        "service_level": 0.375,
        "alert": True,
    }


async def test_a_quiet_morning_raises_no_alert_and_shows_no_ratio(sessions):
    supervisor = await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")
    board = await wallboard(sessions, supervisor, MORNING, Board())
    assert board["service_level"]["value"] is None
    assert board["projection"] == {
        "horizon_minutes": 15.0,
        "misses_soon": 0,
        "service_level": None,
        "alert": False,
    }
    assert [t["queued"] for t in board["teams"]] == [0, 0, 0]
    # answered all within target, nobody waiting: no alert
    await episode(sessions, 0, waited=3)
    board = await wallboard(sessions, supervisor, MORNING + timedelta(minutes=5), Board())
    assert (board["service_level"]["value"], board["projection"]["alert"]) == (1.0, False)


def test_only_waits_that_pass_the_target_within_the_horizon_are_misses():
    # a one-hour target: only a wait already past 45 minutes passes it within 15
    board = Board(targets=Targets(answer_seconds=3600), goal=0.5)
    assert projection(2, 3, [2700.5, 2699.0, 10.0], board) == {
        "horizon_minutes": 15.0,
        "misses_soon": 1,
        "service_level": 0.5,
        "alert": False,
    }
    assert projection(1, 2, [2701.0], board)["alert"] is True


async def test_agents_may_not_read_the_board(sessions):
    agent = await make_agent(sessions, "a1", AgentRole.AGENT, "claims")
    with pytest.raises(DeskError) as refused:
        await wallboard(sessions, agent, MORNING, Board())
    assert refused.value.status == 403
