"""The casework figures, exactly (SQLite and PostgreSQL): complaints opened and closed
within their due date (the last time they were closed), callbacks due, done, reached
at the first attempt and on time, follow-ups due, and the backlog overdue now; range
edges in China time; refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desk.analytics.casework import casework_metrics, closed_at, reached_at
from desk.analytics.ranges import RangeQuery
from desk.errors import DeskError
from desk.inputs import read
from store.models import Agent, AgentRole, Callback, Complaint, FollowUp, TaskStatus
from tests.desk.test_contacts_metrics import china
from tests.desk.test_conversations import make_agent

DAY = {"start": "2026-12-01", "end": "2026-12-01"}
# When the figures are read: 3 December, noon in China.
NOW = china(3, 12)


def marked(*changes):
    """A history: (status, when) in order."""
    return [{"at": at.isoformat(), "by": "sup", "status": status} for status, at in changes]


def complaint(n, opened, due, status="open", history=()):
    return Complaint(
        number=f"TS{n:08d}",
        category="service",
        description="等太久了",
        created_at=opened,
        due_at=due,
        status=TaskStatus(status),
        history=list(history),
    )


def callback(start, status="open", attempts=(), hours=1):
    return Callback(
        phone="13800000000",
        window_start=start,
        window_end=start + timedelta(hours=hours),
        reason="理赔进度",
        status=TaskStatus(status),
        attempts=[{"at": at.isoformat(), "outcome": outcome} for outcome, at in attempts],
    )


def follow_up(due, status="open"):
    return FollowUp(kind="conversation", title="回访", due_at=due, status=TaskStatus(status))


@pytest.fixture
async def supervisor(sessions) -> Agent:
    return await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")


async def figures(sessions, reader, at=NOW, **query):
    return await casework_metrics(sessions, reader, read(RangeQuery, {**DAY, **query}), at)


async def test_the_casework_of_a_day_exactly(sessions, supervisor):
    async with sessions.begin() as session:
        session.add_all(
            [
                # closed, reopened, closed again before its due date
                complaint(
                    1,
                    china(1, 9),
                    china(3, 9),
                    "done",
                    marked(("done", china(1, 12)), ("open", china(1, 13)), ("done", china(2, 10))),
                ),
                # closed in time once, but last closed an hour late
                complaint(
                    2,
                    china(1, 10),
                    china(2, 10),
                    "done",
                    marked(("done", china(1, 11)), ("open", china(1, 12)), ("done", china(2, 11))),
                ),
                complaint(3, china(1, 11), china(2, 9), "in_progress"),  # overdue
                # closed and reopened: open, not yet due
                complaint(
                    4,
                    china(1, 12),
                    china(5, 12),
                    history=marked(("done", china(1, 13)), ("open", china(1, 14))),
                ),
                complaint(5, china(1, 0), china(3, 0), "cancelled"),
                complaint(6, china(2, 0), china(2, 12)),  # 2 December's, overdue
                complaint(7, china(1, 0) - timedelta(days=10), china(1, 0), "done"),
                callback(china(1, 10), "done", [("reached", china(1, 10, 15))]),
                callback(china(1, 12), "done", [("reached", china(1, 12, 30))]),
                callback(
                    china(1, 14),
                    "done",
                    [("no_answer", china(1, 14, 5)), ("reached", china(1, 16))],
                ),
                # its window starts on the first and ends on the second: overdue
                callback(china(1, 23, 30), attempts=[("no_answer", china(1, 23, 40))]),
                callback(china(1, 0), "cancelled"),
                callback(china(1, 20), hours=48),  # its window is still open
                callback(china(2, 0)),  # 2 December's, overdue
                callback(china(1, 0) - timedelta(days=10)),  # long overdue
                follow_up(china(1, 10), "done"),
                follow_up(china(1, 18)),  # overdue
                follow_up(china(1, 0), "cancelled"),
                follow_up(china(2, 0), "in_progress"),  # 2 December's, overdue
                follow_up(china(5, 0)),
                follow_up(china(1, 0) - timedelta(days=11)),
                follow_up(china(1, 0) - timedelta(days=10)),
            ]
        )

    day = await figures(sessions, supervisor)
    assert day == {
        "start": "2026-12-01T00:00:00+08:00",
        "end": "2026-12-02T00:00:00+08:00",
        "at": NOW.isoformat(),
        "complaints": {
            "opened": 5,
            "closed": 2,
            "closed_within_due": 1,
            "cancelled": 1,
            "open": 2,
            # 1 within ÷ (2 closed + 1 open past its due date)
            "on_time_rate": round(1 / 3, 4),
        },
        "callbacks": {
            "due": 6,
            "done": 3,
            "cancelled": 1,
            "open": 2,
            "attempted": 4,
            "reached_first_attempt": 2,
            "first_attempt_reach_rate": 0.5,
            "on_time": 2,
            # 2 on time ÷ (3 done + 1 open past its window)
            "on_time_rate": 0.5,
        },
        "follow_ups": {"due": 3, "done": 1, "cancelled": 1, "open": 1},
        "overdue_now": {"complaints": 2, "callbacks": 3, "follow_ups": 4},
    }
    next_day = await figures(sessions, supervisor, start="2026-12-02", end="2026-12-02")
    assert next_day["complaints"]["opened"] == next_day["callbacks"]["due"] == 1
    assert next_day["follow_ups"]["due"] == 1 and next_day["complaints"]["on_time_rate"] == 0.0
    # the evening before: nothing due, no rates
    before = await figures(sessions, supervisor, start="2026-11-30", end="2026-11-30")
    assert (before["complaints"]["opened"], before["callbacks"]["first_attempt_reach_rate"]) == (
        0,
        None,
    )
    # earlier, fewer are overdue: at 10:00 on 2 December only complaint 3 is
    earlier = await figures(sessions, supervisor, at=china(2, 10))
    assert earlier["overdue_now"] == {"complaints": 1, "callbacks": 3, "follow_ups": 4}
    assert earlier["complaints"]["on_time_rate"] == round(1 / 3, 4)


async def test_a_bad_range_is_refused(sessions, supervisor):
    with pytest.raises(DeskError) as refused:
        await figures(sessions, supervisor, tz="Mars/Olympus")
    assert (refused.value.code, refused.value.status) == ("bad_timezone", 400)


@pytest.mark.parametrize("role", [AgentRole.AGENT, AgentRole.TRAINER])
async def test_only_supervisors_and_admins_see_the_casework(sessions, role):
    reader = await make_agent(sessions, "plain", role)
    with pytest.raises(DeskError) as refused:
        await figures(sessions, reader)
    assert refused.value.status == 403


def test_when_a_complaint_was_closed_and_a_callback_reached():
    # a time without an offset is UTC, as the store's; a note alone changes nothing
    assert closed_at(
        [
            {"at": "2026-12-01T10:00:00", "status": "done"},
            {"at": "2026-12-01T11:00:00+08:00", "note": "回访了"},
        ]
    ) == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert closed_at([{"status": "done"}]) is None and closed_at([]) is None
    assert closed_at([{"at": "2026-12-01T10:00:00", "status": "done"}, {"status": "open"}]) is None
    assert reached_at(
        [
            {"at": "2026-12-01T09:00:00Z", "outcome": "no_answer"},
            {"at": "2026-12-01T10:00:00Z", "outcome": "reached"},
        ]
    ) == datetime(2026, 12, 1, 10, tzinfo=UTC)
