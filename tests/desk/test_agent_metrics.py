"""Agent figures from the status timeline and who held which conversation when,
exactly (SQLite and PostgreSQL): time online and away, handling time, occupancy,
concurrency, handled, average handle time (with the wrap-up), the wrap-ups and each
agent's service level; per agent and per team; holds and statuses that began before
the range count from its start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desk.analytics.agents import agent_metrics
from desk.analytics.queue import QueueQuery
from desk.errors import DeskError
from desk.inputs import read
from store.models import AgentRole, Conversation, Event
from tests.desk.test_conversations import make_agent

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 China time
SINCE = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 1 December begins, China time
DAY = {"start": "2026-12-01", "end": "2026-12-01"}


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


async def record(sessions, *events: tuple) -> None:
    """(at, kind, conversation, agent, data) rows; `conversation` is a name. A first
    agent reply names the conversation's last handoff, as the desk's do; a wrap-up
    names the resolve it follows (`of`: the conversation's first resolve is 0)."""
    async with sessions.begin() as session:
        made: dict[str, int] = {}
        handoffs: dict[str, int] = {}
        resolves: dict[str, list[int]] = {}
        for at, kind, name, agent, data in events:
            if name is not None and name not in made:
                conversation = Conversation(channel="web", external_user_id=f"agents-{name}")
                session.add(conversation)
                await session.flush()
                made[name] = conversation.id
            if kind == "first_agent_reply":
                data = {"handoff_id": handoffs[name], **data}
            if kind == "wrap_up_done":
                of = data.pop("of")
                data = {"auto": False, **data, "resolve_id": resolves[name][of]}
            event = Event(
                at=at,
                kind=kind,
                conversation_id=made.get(name),
                agent_id=agent.id if agent else None,
                data=data,
            )
            session.add(event)
            await session.flush()
            if kind == "handoff":
                handoffs[name] = event.id
            if kind == "resolved":
                resolves.setdefault(name, []).append(event.id)


def handoff(at: datetime, name: str, wait: float) -> tuple:
    """The handoff `wait` seconds before a first reply at `at`."""
    return (at - timedelta(seconds=wait), "handoff", name, None, {"team": "claims"})


def presence(at, agent, now, before):
    return (at, "presence", None, agent, {"presence": now, "previous": before})


async def test_an_agents_day_exactly(sessions):
    ana = await make_agent(sessions, "ana", team="claims")
    bo = await make_agent(sessions, "bo", team="claims")
    await make_agent(sessions, "cy", team="general")
    boss = await make_agent(sessions, "boss", AgentRole.SUPERVISOR, "general")
    await record(
        sessions,
        # Bo: online since the day before, a conversation held across midnight
        presence(SINCE - timedelta(hours=6), bo, "online", "offline"),
        handoff(SINCE - timedelta(minutes=59, seconds=40), "w", 3),
        (SINCE - timedelta(hours=1), "assigned", "w", bo, {}),
        (
            SINCE - timedelta(minutes=59, seconds=40),
            "first_agent_reply",
            "w",
            bo,
            {"wait_seconds": 3},
        ),
        (SINCE + timedelta(hours=1), "resolved", "w", bo, {"by": "agent", "reason": "answered"}),
        presence(minutes(120), bo, "offline", "online"),
        # Ana: online, away for half an hour, online, offline
        presence(minutes(0), ana, "online", "offline"),
        presence(minutes(60), ana, "away", "online"),
        presence(minutes(90), ana, "online", "away"),
        presence(minutes(180), ana, "offline", "online"),
        handoff(minutes(10.5), "x", 12),
        (minutes(10), "assigned", "x", ana, {}),
        (minutes(10.5), "first_agent_reply", "x", ana, {"wait_seconds": 12}),
        (minutes(40), "resolved", "x", ana, {"by": "agent", "reason": "answered"}),
        (minutes(40.75), "wrap_up_done", "x", ana, {"seconds": 45.0, "of": 0}),
        handoff(minutes(20) + timedelta(seconds=10), "y", 25),
        (minutes(20), "assigned", "y", ana, {}),
        (minutes(20) + timedelta(seconds=10), "first_agent_reply", "y", ana, {"wait_seconds": 25}),
        (minutes(70), "transferred", "y", ana, {"to_team": "general"}),
        # still hers when the day ends (she went offline first)
        (minutes(170), "assigned", "z", ana, {}),
    )
    figures = await agent_metrics(sessions, boss, read(QueueQuery, {**DAY, "team": "claims"}))
    by_name = {row["username"]: row for row in figures["agents"]}
    assert set(by_name) == {"ana", "bo"}
    ana_row = {k: v for k, v in by_name["ana"].items() if k not in ("id", "display_name")}
    assert ana_row == {
        "username": "ana",
        "team": "claims",
        "online_seconds": 9000.0,
        "away_seconds": 1800.0,
        "signed_in_seconds": 10800.0,
        # x and y overlap: 10–70 min; z from 170 min to the day's end (15:00 China)
        "handling_seconds": 3600.0 + 43800.0,
        # handling while signed in: 10–70 and 170–180 min
        "occupancy": round(4200 / 10800, 4),
        "concurrency": round((1800 + 3000 + 43800) / 47400, 4),
        "handled": 1,
        # 1770 s from the first reply to the resolve, then 45 s of wrap-up
        "aht": {"mean": 1815.0, "p50": 1815.0, "p90": 1815.0},
        "wrap_up": {"mean": 45.0, "p50": 45.0, "p90": 45.0},
        "answered": 2,
        "service_level": 0.5,
    }
    bo_row = by_name["bo"]
    assert (bo_row["online_seconds"], bo_row["handling_seconds"], bo_row["handled"]) == (
        11 * 3600.0,
        3600.0,
        1,
    )
    assert bo_row["occupancy"] == round(3600 / 39600, 4) and bo_row["concurrency"] == 1.0
    # Bo has not finished his wrap-up: his handle time alone.
    assert bo_row["aht"]["mean"] == 7180.0 and bo_row["service_level"] is None
    assert bo_row["wrap_up"] == {"mean": None, "p50": None, "p90": None}
    [claims] = figures["teams"]
    assert claims["team"] == "claims"
    assert (claims["signed_in_seconds"], claims["handled"], claims["answered"]) == (50400.0, 2, 2)
    assert claims["occupancy"] == round(7800 / 50400, 4)
    assert claims["aht"] == {"mean": 4497.5, "p50": 1815.0, "p90": 7180.0}
    assert claims["wrap_up"] == {"mean": 45.0, "p50": 45.0, "p90": 45.0}
    everyone = await agent_metrics(sessions, boss, read(QueueQuery, DAY))
    assert [t["team"] for t in everyone["teams"]] == ["claims", "general"]
    general = everyone["teams"][1]
    assert (general["signed_in_seconds"], general["occupancy"], general["aht"]["mean"]) == (
        0.0,
        None,
        None,
    )


async def test_wrap_ups_add_to_aht_each_with_its_own_resolve(sessions):
    di = await make_agent(sessions, "di", team="claims")
    boss = await make_agent(sessions, "boss3", AgentRole.SUPERVISOR, "general")
    resolved = {"by": "agent", "reason": "answered"}
    await record(
        sessions,
        # p: 300 s handled, wrapped up by housekeeping at the limit
        handoff(minutes(200), "p", 5),
        (minutes(199), "assigned", "p", di, {}),
        (minutes(200), "first_agent_reply", "p", di, {"wait_seconds": 5}),
        (minutes(205), "resolved", "p", di, resolved),
        (minutes(207), "wrap_up_done", "p", di, {"seconds": 120.0, "auto": True, "of": 0}),
        # q: 60 s handled; the customer came back and di resolved it again (30 s)
        # before finishing the first wrap-up (50 s), then the second (10 s)
        handoff(minutes(210), "q", 5),
        (minutes(209), "assigned", "q", di, {}),
        (minutes(210), "first_agent_reply", "q", di, {"wait_seconds": 5}),
        (minutes(211), "resolved", "q", di, resolved),
        (minutes(211.5), "reopened", "q", None, {}),
        handoff(minutes(212), "q", 5),
        (minutes(211.9), "assigned", "q", di, {}),
        (minutes(212), "first_agent_reply", "q", di, {"wait_seconds": 5}),
        (minutes(212.5), "resolved", "q", di, resolved),
        (minutes(212.6), "wrap_up_done", "q", di, {"seconds": 50.0, "of": 0}),
        (minutes(212.7), "wrap_up_done", "q", di, {"seconds": 10.0, "of": 1}),
        # the bot's resolve is nobody's: no wrap-up, no handle time
        (minutes(213), "resolved", "r", None, {"by": "bot"}),
    )
    figures = await agent_metrics(sessions, boss, read(QueueQuery, {**DAY, "agent": "di"}))
    [row] = figures["agents"]
    [team] = figures["teams"]
    # AHT of 300 + 120, 60 + 50 and 30 + 10
    for figure in (row, team):
        assert figure["handled"] == 3
        assert figure["aht"] == {"mean": 190.0, "p50": 110.0, "p90": 420.0}
        assert figure["wrap_up"] == {"mean": 60.0, "p50": 50.0, "p90": 120.0}


async def test_an_agent_sees_their_own_figures_and_a_trainer_none(sessions):
    agent = await make_agent(sessions, "plain")
    await make_agent(sessions, "colleague")
    trainer = await make_agent(sessions, "teacher", AgentRole.TRAINER, "general")
    boss = await make_agent(sessions, "boss2", AgentRole.SUPERVISOR, "general")
    own = await agent_metrics(sessions, agent, read(QueueQuery, {**DAY, "team": "general"}))
    assert [row["username"] for row in own["agents"]] == ["plain"] and own["teams"] == []
    everyone = await agent_metrics(sessions, boss, read(QueueQuery, DAY))
    assert {row["username"] for row in everyone["agents"]} >= {"plain", "colleague", "boss2"}
    with pytest.raises(DeskError) as refused:
        await agent_metrics(sessions, trainer, read(QueueQuery, DAY))
    assert refused.value.status == 403
    with pytest.raises(DeskError) as by_channel:
        await agent_metrics(sessions, boss, read(QueueQuery, {**DAY, "channel": "web"}))
    assert (by_channel.value.code, by_channel.value.status) == ("bad_filter", 400)
