"""The figures read the conversations they need a part at a time (PostgreSQL's driver
takes at most 32,767 parameters, and a season names more conversations): read two at
a time, every exact figure comes out the same (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from desk.analytics import ranges
from store.models import AgentRole
from tests.desk import (
    test_bot_metrics,
    test_claims_metrics,
    test_contacts_metrics,
    test_form_metrics,
    test_funnel,
    test_outcome_metrics,
    test_queue_metrics,
    test_resolution_metrics,
)
from tests.desk.test_conversations import make_agent


@pytest.fixture(autouse=True)
def two_at_a_time(monkeypatch):
    monkeypatch.setattr(ranges, "IN_CHUNK", 2)


async def test_the_bot_sessions(sessions):
    await test_bot_metrics.test_a_days_bot_sessions_exactly(sessions)


async def test_the_funnel(sessions):
    await test_funnel.test_a_days_funnel_exactly(sessions)


async def test_the_forms(sessions):
    await test_form_metrics.test_a_days_forms_exactly(sessions)


async def test_first_contact_resolution(sessions):
    await test_resolution_metrics.test_a_days_resolves_exactly(sessions)


async def test_claims(sessions):
    await test_claims_metrics.test_three_days_of_claims_exactly(sessions)


async def supervisor(sessions):
    return await make_agent(sessions, "sup-chunks", AgentRole.SUPERVISOR, "general")


async def test_the_queue(sessions):
    await test_queue_metrics.test_the_figures_of_a_morning_exactly(
        sessions, await supervisor(sessions)
    )


async def test_contacts(sessions):
    await test_contacts_metrics.test_the_contacts_of_a_day_exactly(
        sessions, await supervisor(sessions)
    )


async def test_satisfaction(sessions):
    await test_outcome_metrics.test_the_satisfaction_of_a_day_exactly(
        sessions, await supervisor(sessions)
    )
