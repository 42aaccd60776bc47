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


async def test_a_filter_takes_several_values_repeated_or_comma_separated(client):
    headers = await bearer(client, "supervisor1")
    week = [("start", "2026-12-01"), ("end", "2026-12-07")]
    repeated = await client.get(
        "/api/v1/analytics/queue",
        params=[*week, ("channel", "web"), ("channel", "wechat"), ("language", "en")],
        headers=headers,
    )
    assert repeated.status == 200
    figures = await repeated.json()
    assert figures["filters"] == {"channel": ["web", "wechat"], "language": ["en"]}
    # one channel alone is named as before; several are in `filters` only
    assert (figures["channel"], figures["team"]) == (None, None)
    listed = await client.get(
        "/api/v1/analytics/bot",
        params=[*week, ("intent", "ask_claim_status,faq/waiting_period"), ("tag", "low_csat")],
        headers=headers,
    )
    assert listed.status == 200
    assert (await listed.json())["filters"] == {
        "intent": ["ask_claim_status", "faq/waiting_period"],
        "tag": ["low_csat"],
    }


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("queue", [("intent", "ask_nothing")], "unknown_intent"),
        ("queue", [("language", "fr")], "unknown_language"),
        ("outcome", [("tag", "vip")], "unknown_tag"),
        ("contacts", [("channel", "web"), ("channel", "fax")], "unknown_channel"),
        ("resolution", [("agent", "agent1,nobody")], "unknown_agent"),
        ("bot", [("team", "claims")], "bad_filter"),
        ("contacts", [("agent", "agent1")], "bad_filter"),
        ("agents", [("tag", "low_csat")], "bad_filter"),
        ("trends", [("metric", "containment"), ("agent", "agent1")], "bad_filter"),
        ("drilldown", [("of", "bot"), ("part", "sessions"), ("team", "claims")], "bad_filter"),
    ],
)
async def test_unknown_filter_values_and_filters_a_figure_cannot_take_are_refused(
    client, path, params, code
):
    headers = await bearer(client, "supervisor1")
    answer = await client.get(
        f"/api/v1/analytics/{path}",
        params=[("start", "2026-12-01"), ("end", "2026-12-01"), *params],
        headers=headers,
    )
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == code


async def test_the_export_takes_the_filters(client):
    headers = await bearer(client, "supervisor1")
    refused = await client.get(
        "/api/v1/analytics/conversations.csv",
        params=[("start", "2026-12-01"), ("end", "2026-12-01"), ("language", "fr")],
        headers=headers,
    )
    assert refused.status == 400
    assert (await refused.json())["error"]["code"] == "unknown_language"
