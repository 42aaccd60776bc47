"""The supervisors' figures over the API (queue, contacts, outcome, casework): they
read them for a range of days; bad ranges and unknown filters are refused with a
clear code (the access matrix checks every role)."""

from __future__ import annotations

import pytest

from tests.console_app import bearer, start_console


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(sqlite_url, housekeeping=False, service_level_target_seconds=30)
    yield client
    await client.close()


async def test_a_supervisor_reads_the_queue_figures_of_a_range(client):
    headers = await bearer(client, "supervisor1")
    answer = await client.get(
        "/api/v1/analytics/queue",
        params={"start": "2026-12-01", "end": "2026-12-07", "team": "claims"},
        headers=headers,
    )
    assert answer.status == 200
    figures = await answer.json()
    assert figures["start"] == "2026-12-01T00:00:00+08:00"
    assert figures["end"] == "2026-12-08T00:00:00+08:00"
    # the target is the console's setting
    assert (figures["target_seconds"], figures["team"], figures["handoffs"]) == (30, "claims", 0)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2026-12-07", "end": "2026-12-01"}, "bad_range"),
        ({"end": "2026-12-01"}, "bad_range"),
        ({"start": "2026-12-01", "end": "2026-12-01", "team": "nobody"}, "unknown_team"),
        ({"start": "2026-12-01", "end": "2026-12-01", "tz": "Nowhere/Land"}, "bad_timezone"),
    ],
)
async def test_bad_queries_are_refused_clearly(client, params, code):
    headers = await bearer(client, "supervisor1")
    answer = await client.get("/api/v1/analytics/queue", params=params, headers=headers)
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == code


async def test_a_supervisor_reads_contacts_outcome_and_casework(client):
    headers = await bearer(client, "admin1")
    week = {"start": "2026-12-01", "end": "2026-12-07"}
    contacts = await client.get(
        "/api/v1/analytics/contacts", params={**week, "channel": "wechat"}, headers=headers
    )
    assert contacts.status == 200
    figures = await contacts.json()
    assert (figures["end"], figures["channel"], figures["contacts"]) == (
        "2026-12-08T00:00:00+08:00",
        "wechat",
        0,
    )
    assert figures["per_hour"] == [0] * 24
    outcome = await client.get(
        "/api/v1/analytics/outcome", params={**week, "agent": "agent1"}, headers=headers
    )
    assert outcome.status == 200
    rated = await outcome.json()
    assert (rated["agent"], rated["rating_requests"], rated["csat"]) == ("agent1", 0, None)
    casework = await client.get("/api/v1/analytics/casework", params=week, headers=headers)
    assert casework.status == 200
    cases = await casework.json()
    assert set(cases) == {
        "start",
        "end",
        "at",
        "complaints",
        "callbacks",
        "follow_ups",
        "overdue_now",
    }
    assert cases["start"] == "2026-12-01T00:00:00+08:00"


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        (
            "contacts",
            {"start": "2026-12-01", "end": "2026-12-01", "channel": "fax"},
            "unknown_channel",
        ),
        ("contacts", {"start": "2026-12-01"}, "bad_range"),
        (
            "outcome",
            {"start": "2026-12-01", "end": "2026-12-01", "agent": "nobody"},
            "unknown_agent",
        ),
        ("outcome", {"start": "2026-12-01", "end": "2026-12-01", "team": "nobody"}, "unknown_team"),
        ("casework", {"start": "2026-12-01", "end": "2027-12-01"}, "bad_range"),
        ("casework", {"start": "2026-12-01", "end": "2026-12-01", "tz": "Nowhere"}, "bad_timezone"),
    ],
)
async def test_bad_queries_of_each_group_are_refused(client, path, params, code):
    headers = await bearer(client, "supervisor1")
    answer = await client.get(f"/api/v1/analytics/{path}", params=params, headers=headers)
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == code


async def test_a_request_that_reads_too_long_is_cancelled_and_said_so(sqlite_url):
    client = await start_console(sqlite_url, housekeeping=False, analytics_timeout_seconds=1e-6)
    try:
        headers = await bearer(client, "supervisor1")
        answer = await client.get(
            "/api/v1/analytics/bot",
            params={"start": "2026-09-10", "end": "2026-12-07"},
            headers=headers,
        )
        assert answer.status == 503
        assert (await answer.json())["error"]["code"] == "too_slow"
        # the store is free for the next request
        quick = await client.get("/api/v1/conversations?state=queued", headers=headers)
        assert quick.status == 200
    finally:
        await client.close()
