"""The contacts figures, exactly (SQLite and PostgreSQL): conversations started and
started again, per channel, hour of day in China time, team and language; unique
customers, counting one verified during the contact; range edges, filters, refusals,
and what the conversation service records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from desk.analytics.contacts import contacts_metrics
from desk.analytics.ranges import FilteredQuery
from desk.errors import DeskError
from desk.inputs import read
from store.models import Agent, AgentRole, Conversation, Customer, Event
from tests.desk.test_conversations import make_agent

DAY = {"start": "2026-12-01", "end": "2026-12-01"}


def china(day: int, hour: int, minute: int = 0) -> datetime:
    """A December 2026 time in China, as the UTC instant the store keeps."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def customers(sessions, *names: str) -> list[int]:
    async with sessions.begin() as session:
        rows = [
            Customer(
                name=name,
                id_card_number=f"11010119900101{n:04d}",
                mobile=f"1380000{n:04d}",
                birth_date=date(1990, 1, 1),
                gender="F",
                province="北京",
                city="北京",
                city_tier=1,
                has_social_insurance=True,
            )
            for n, name in enumerate(names)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def conversation(sessions, name, channel="web", team="claims", language="zh") -> int:
    async with sessions.begin() as session:
        row = Conversation(channel=channel, external_user_id=name, team=team, language=language)
        session.add(row)
        await session.flush()
        return row.id


async def event(sessions, kind, conversation_id, at, customer_id=None, **data) -> None:
    async with sessions.begin() as session:
        session.add(
            Event(
                at=at,
                kind=kind,
                conversation_id=conversation_id,
                customer_id=customer_id,
                data=data,
            )
        )


@pytest.fixture
async def supervisor(sessions) -> Agent:
    return await make_agent(sessions, "sup", AgentRole.SUPERVISOR, "general")


async def figures(sessions, reader, **query):
    return await contacts_metrics(sessions, reader, read(FilteredQuery, {**DAY, **query}))


async def test_the_contacts_of_a_day_exactly(sessions, supervisor):
    alice, bob, carol = await customers(sessions, "Alice", "Bob", "Carol")
    # transferred since: the conversation's team now is not the contact's
    claims = await conversation(sessions, "c1", team="complaints")
    anonymous = await conversation(sessions, "c2", channel="wechat", language="en")
    late = await conversation(sessions, "c3")
    before = await conversation(sessions, "c4", channel="app")
    # verified during the contact: the contact is Alice's
    await event(sessions, "created", claims, china(1, 9))
    await event(sessions, "customer_verified", claims, china(1, 9, 5), alice)
    # the contact's team is its first handoff's, whatever came after
    await event(sessions, "handoff", claims, china(1, 9, 10), team="claims")
    await event(sessions, "handoff", claims, china(1, 9, 20), team="complaints")
    await event(sessions, "reopened", claims, china(1, 10, 30), alice)
    await event(sessions, "customer_verified", claims, china(1, 10, 31), alice)
    await event(sessions, "created", anonymous, china(1, 0, 30))
    await event(sessions, "handoff", anonymous, china(1, 1), team="general")
    await event(sessions, "created", late, china(1, 23, 59), bob)
    # midnight in China starts 2 December; Carol verified in the next contact is not
    # the customer of the one before
    await event(sessions, "reopened", late, china(2, 0), bob)
    await event(sessions, "reopened", anonymous, china(2, 0, 10))
    await event(sessions, "customer_verified", anonymous, china(2, 0, 11), carol)
    await event(sessions, "created", before, china(1, 0) - timedelta(seconds=1))
    # the next contact's handoff
    await event(sessions, "handoff", late, china(2, 0, 5), team="claims")
    # not contacts
    await event(sessions, "resolved", claims, china(1, 9, 30))

    day = await figures(sessions, supervisor)
    assert day == {
        "start": "2026-12-01T00:00:00+08:00",
        "end": "2026-12-02T00:00:00+08:00",
        "team": None,
        "channel": None,
        "filters": {},
        "contacts": 4,
        "new_conversations": 3,
        "returns": 1,
        "per_channel": {"web": 3, "wechat": 1, "telegram": 0, "app": 0},
        "per_hour": [1 if hour in (0, 9, 10, 23) else 0 for hour in range(24)],
        "per_team": {"claims": 1, "general": 1},
        "not_handed_over": 2,
        "per_language": {"en": 1, "zh": 3},
        "unique_customers": 2,
        "contacts_without_customer": 1,
    }
    wechat = await figures(sessions, supervisor, channel="wechat")
    assert (wechat["contacts"], wechat["unique_customers"], wechat["per_hour"][0]) == (1, 0, 1)
    assert wechat["contacts_without_customer"] == 1
    team = await figures(sessions, supervisor, team="claims")
    assert (team["contacts"], team["returns"], team["unique_customers"]) == (1, 0, 1)
    assert team["per_channel"]["web"] == 1 and team["per_team"] == {"claims": 1}
    assert team["not_handed_over"] == 0 and team["per_hour"][9] == 1

    next_day = await figures(sessions, supervisor, start="2026-12-02", end="2026-12-02")
    assert (next_day["contacts"], next_day["returns"], next_day["unique_customers"]) == (2, 2, 2)
    assert next_day["contacts_without_customer"] == 0
    assert (next_day["per_team"], next_day["not_handed_over"]) == ({"claims": 1}, 1)
    last_day = await figures(sessions, supervisor, start="2026-11-30", end="2026-11-30")
    assert (last_day["contacts"], last_day["per_channel"]["app"]) == (1, 1)
    assert last_day["per_hour"][23] == 1
    # the same instants read in UTC: 00:30 in China is 16:30 the day before, and
    # China's midnight of 2 December is 16:00 on the first
    utc = await figures(sessions, supervisor, tz="UTC")
    assert utc["per_hour"] == [
        2 if hour == 16 else 1 if hour in (1, 2, 15, 16) else 0 for hour in range(24)
    ]
    two_days = await figures(sessions, supervisor, end="2026-12-02")
    assert (two_days["contacts"], two_days["unique_customers"]) == (6, 3)


async def test_an_empty_range_counts_nothing(sessions, supervisor):
    empty = await figures(sessions, supervisor)
    assert (empty["contacts"], empty["unique_customers"], sum(empty["per_hour"])) == (0, 0, 0)
    assert empty["per_team"] == {} and empty["per_channel"]["web"] == 0


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"start": "2026-12-02", "end": "2026-12-01"}, "bad_range"),
        ({"tz": "Mars/Olympus"}, "bad_timezone"),
        ({"team": "astronauts"}, "unknown_team"),
        ({"channel": "pigeon"}, "unknown_channel"),
    ],
)
async def test_bad_ranges_and_unknown_filters_are_refused(sessions, supervisor, query, code):
    with pytest.raises(DeskError) as refused:
        await figures(sessions, supervisor, **query)
    assert (refused.value.code, refused.value.status) == (code, 400)


@pytest.mark.parametrize("role", [AgentRole.AGENT, AgentRole.TRAINER])
async def test_only_supervisors_and_admins_see_the_contacts(sessions, role):
    reader = await make_agent(sessions, "plain", role)
    with pytest.raises(DeskError) as refused:
        await figures(sessions, reader)
    assert refused.value.status == 403
    admin = await make_agent(sessions, "boss", AgentRole.ADMIN)
    assert (await figures(sessions, admin))["contacts"] == 0


async def test_what_the_desk_records_is_what_the_contacts_count(service, sessions):
    """Through the conversation service: a customer who comes back after a resolve
    is a second contact on the same conversation."""
    agent = await make_agent(sessions)
    supervisor = await make_agent(sessions, "sup2", AgentRole.SUPERVISOR, "general")
    first, _ = await service.open("web", "contact-1")
    await service.customer_message(first.id, "转人工", wait_for_bot=True)
    await service.assign(first.id, agent)
    await service.resolve(first.id, agent, "answered")
    await service.customer_message(first.id, "还有一个问题", wait_for_bot=True)
    await service.open("wechat", "contact-2")
    today = datetime.now(UTC).date().isoformat()
    counted = await figures(sessions, supervisor, start=today, end=today, tz="UTC")
    assert (counted["contacts"], counted["new_conversations"], counted["returns"]) == (3, 2, 1)
    assert counted["per_channel"] == {"web": 2, "wechat": 1, "telegram": 0, "app": 0}
    assert counted["contacts_without_customer"] == 3
    assert (counted["per_team"], counted["not_handed_over"]) == ({"claims": 1}, 2)
