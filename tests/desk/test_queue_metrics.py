"""The queue figures computed from the episodes' events, exactly (SQLite and
PostgreSQL): service level with short abandons left out, speed of answer as mean and
percentiles, abandonment, those still waiting and the longest wait; filters and the
range in China time; refusals of bad ranges and unknown filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from desk.analytics.episodes import ABANDONED, FIRST_REPLY, HANDOFF
from desk.analytics.queue import QueueQuery, Targets, percentile, queue_metrics
from desk.errors import DeskError
from desk.inputs import read
from desk.routing import CALLBACK_INSTEAD_PAYLOAD
from store.models import Agent, AgentRole, Conversation, ConversationState, Event
from tests.desk.test_conversations import make_agent

# 09:00 on 1 December 2026, China time.
MORNING = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
DAY = {"start": "2026-12-01", "end": "2026-12-01"}


async def episode(sessions, n, *, waited=None, left=False, how="left", state="resolved", **where):
    """A handoff `n` minutes into the morning and, with `waited`, its end."""
    team, channel = where.get("team", "claims"), where.get("channel", "web")
    at = where.get("at", MORNING + timedelta(minutes=n))
    async with sessions.begin() as session:
        conversation = Conversation(
            channel=channel,
            external_user_id=f"metrics-{n}",
            team=team,
            state=ConversationState(state),
            queued_at=at,
        )
        session.add(conversation)
        await session.flush()
        handoff = Event(
            at=at,
            kind=HANDOFF,
            conversation_id=conversation.id,
            data={"reason": "customer_request", "team": team, "channel": channel},
        )
        session.add(handoff)
        await session.flush()
        if waited is not None:
            session.add(
                Event(
                    at=at + timedelta(seconds=waited),
                    kind=ABANDONED if left else FIRST_REPLY,
                    conversation_id=conversation.id,
                    data={
                        "handoff_id": handoff.id,
                        "wait_seconds": waited,
                        "team": team,
                        **({"how": how} if left else {}),
                    },
                )
            )
    return at


@pytest.fixture
async def supervisor(sessions) -> Agent:
    return await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")


async def test_the_figures_of_a_morning_exactly(sessions, supervisor):
    await episode(sessions, 0, waited=3)
    await episode(sessions, 1, waited=15)
    await episode(sessions, 2, waited=40)
    await episode(sessions, 3, waited=2, left=True)  # a short abandon
    await episode(sessions, 4, waited=30, left=True, how="callback")
    waiting_since = await episode(sessions, 5, state="queued")
    await episode(sessions, 6)  # closed by staff without a reply
    await episode(sessions, 7, waited=1, team="general", channel="wechat")
    await episode(sessions, 8, waited=99, at=MORNING - timedelta(hours=10))  # 30 Nov, 23:00
    await episode(sessions, 9, waited=4, at=MORNING - timedelta(hours=2))  # 07:00, 23:00 UTC
    at = waiting_since + timedelta(seconds=100)

    claims = await queue_metrics(
        sessions, supervisor, read(QueueQuery, {**DAY, "team": "claims"}), at=at
    )
    assert {k: claims[k] for k in claims if k not in ("start", "end", "asa")} == {
        "team": "claims",
        "channel": None,
        "filters": {"team": ["claims"]},
        "target_seconds": 20.0,
        "short_abandon_seconds": 5.0,
        "handoffs": 8,
        "answered": 4,
        "answered_within_target": 3,
        "abandoned": 2,
        "short_abandons": 1,
        "abandoned_by_how": {"left": 1, "silent": 0, "callback": 1},
        "waiting": 1,
        "closed_unanswered": 1,
        # 3 within 20 s ÷ (4 answered + 2 abandoned − 1 short abandon)
        "service_level": 0.6,
        "abandon_rate": 0.2,
        "longest_wait_seconds": 100.0,
    }
    assert claims["asa"] == {"mean": 15.5, "p50": 4.0, "p90": 40.0}
    assert claims["start"] == "2026-12-01T00:00:00+08:00"

    everyone = await queue_metrics(sessions, supervisor, read(QueueQuery, DAY), at=at)
    assert (everyone["handoffs"], everyone["answered"], everyone["service_level"]) == (
        9,
        5,
        round(4 / 6, 4),
    )
    wechat = await queue_metrics(
        sessions, supervisor, read(QueueQuery, {**DAY, "channel": "wechat"}), at=at
    )
    assert (wechat["handoffs"], wechat["asa"]["p50"]) == (1, 1.0)
    # 30 November in China time ends at 16:00 UTC: the 15:00 UTC handoff is in it
    before = await queue_metrics(
        sessions, supervisor, read(QueueQuery, {"start": "2026-11-30", "end": "2026-11-30"})
    )
    assert (before["handoffs"], before["asa"]["mean"]) == (1, 99.0)
    # a stricter target, the same events
    strict = await queue_metrics(sessions, supervisor, read(QueueQuery, DAY), Targets(10, 1), at=at)
    assert (strict["answered_within_target"], strict["short_abandons"]) == (3, 0)
    assert strict["service_level"] == round(3 / 7, 4)


async def test_an_empty_range_has_no_ratios_rather_than_zeros(sessions, supervisor):
    empty = await queue_metrics(sessions, supervisor, read(QueueQuery, DAY))
    assert empty["handoffs"] == 0 and empty["service_level"] is None
    assert empty["asa"] == {"mean": None, "p50": None, "p90": None}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"start": "2026-12-02", "end": "2026-12-01"}, "bad_range"),
        ({"start": "2026-01-01", "end": "2026-12-01"}, "bad_range"),
        ({"start": "1 Dec", "end": "2026-12-01"}, "bad_range"),
        ({**DAY, "tz": "Mars/Olympus"}, "bad_timezone"),
        ({**DAY, "team": "astronauts"}, "unknown_team"),
        ({**DAY, "channel": "pigeon"}, "unknown_channel"),
    ],
)
async def test_bad_ranges_and_unknown_filters_are_refused(sessions, supervisor, query, code):
    with pytest.raises(DeskError) as refused:
        await queue_metrics(sessions, supervisor, read(QueueQuery, query))
    assert (refused.value.code, refused.value.status) == (code, 400)


async def test_only_supervisors_and_admins_see_the_queue(sessions):
    agent = await make_agent(sessions, "plain")
    with pytest.raises(DeskError) as refused:
        await queue_metrics(sessions, agent, read(QueueQuery, DAY))
    assert refused.value.status == 403


async def test_what_the_desk_records_is_what_the_figures_count(service, sessions):
    """Through the conversation service: one answered, one who left, one who chose a
    callback instead (and is back with the bot, which starts the callback form)."""
    agent = await make_agent(sessions)
    supervisor = await make_agent(sessions, "sup2", AgentRole.SUPERVISOR, "general")
    answered, _ = await service.open("web", "counted-1")
    await service.customer_message(answered.id, "转人工", wait_for_bot=True)
    left, _ = await service.open("web", "counted-2")
    await service.customer_message(left.id, "转人工", wait_for_bot=True)
    await service.assign(answered.id, agent)
    await service.agent_message(answered.id, agent, "您好")
    await service.customer_message(left.id, "/leave_queue")
    called, _ = await service.open("web", "counted-3")
    await service.customer_message(called.id, "转人工", wait_for_bot=True)
    offer = (await service.messages_after(called.id))[-1]
    assert {"title": "改为预约回电", "payload": CALLBACK_INSTEAD_PAYLOAD} in offer["payload"][
        "buttons"
    ]
    await service.customer_message(called.id, CALLBACK_INSTEAD_PAYLOAD, wait_for_bot=True)
    assert service.bot.sent[-1][1] == CALLBACK_INSTEAD_PAYLOAD
    async with sessions() as session:
        back = await session.get(Conversation, called.id)
        assert (back.state, back.queue_position) == ("bot", None)
        kinds = list(
            await session.scalars(
                select(Event.kind).where(Event.conversation_id == called.id).order_by(Event.id)
            )
        )
    assert kinds[kinds.index("abandoned") + 1] == "back_to_bot"
    today = datetime.now(UTC).date()
    # (from yesterday: a run across midnight still finds its episodes)
    days = {"start": str(today - timedelta(days=1)), "end": str(today), "tz": "UTC"}
    figures = await queue_metrics(sessions, supervisor, read(QueueQuery, days))
    assert (figures["handoffs"], figures["answered"], figures["abandoned"]) == (3, 1, 2)
    assert figures["abandoned_by_how"] == {"left": 1, "silent": 0, "callback": 1}
    assert figures["answered_within_target"] == 1 and 0 < figures["asa"]["mean"] < 20


def test_percentiles_by_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert [percentile([1.0, 2.0, 3.0, 4.0], p) for p in (0.25, 0.5, 0.9, 1.0)] == [
        1.0,
        2.0,
        4.0,
        4.0,
    ]


def test_a_range_is_whole_days_in_its_time_zone():
    start, end = read(QueueQuery, {"start": "2026-12-01", "end": "2026-12-02"}).bounds()
    assert (start.isoformat(), end.isoformat()) == (
        "2026-12-01T00:00:00+08:00",
        "2026-12-03T00:00:00+08:00",
    )
    assert read(QueueQuery, DAY).start == date(2026, 12, 1)
