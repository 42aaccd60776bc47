"""The agents' lists in real headless Chromium: each conversation shows its customer's
behaviour tags, and the tag filter narrows the lists to the customers with that tag;
a conversation the agent may not view is neither listed nor tagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import async_playwright, expect

from store.db import create_engine, session_factory
from store.models import Complaint, Conversation, ConversationState, TaskStatus
from tests.browser.chromium import launch
from tests.browser.test_wallboard import signed_in
from tests.console.test_casework import new_customer
from tests.console_app import start_console


@pytest.fixture
async def console(sqlite_url):
    client = await start_console(sqlite_url, housekeeping=False, auto_assign=False)
    engine = create_engine(sqlite_url)
    client.sessions = session_factory(engine)
    yield client
    await client.close()
    await engine.dispose()


async def queued(console, team: str) -> tuple[int, int, int]:
    """Queued in `team`: a customer with an open complaint, one without, and nobody."""
    waiting = datetime.now(UTC) - timedelta(seconds=5)
    async with console.sessions.begin() as session:
        tagged = new_customer(7001, "王芳", "13912347001")
        plain = new_customer(7002, "李雷", "13912347002")
        session.add_all([tagged, plain])
        await session.flush()
        session.add(
            Complaint(
                number="TSQ7001",
                customer_id=tagged.id,
                category="service",
                description="…",
                status=TaskStatus.OPEN,
                due_at=waiting + timedelta(days=3),
            )
        )
        rows = [
            Conversation(
                channel="web",
                external_user_id=f"tags-{n}",
                customer_id=customer,
                team=on,
                state=ConversationState.QUEUED,
                queued_at=waiting,
            )
            for n, (customer, on) in enumerate(
                [(tagged.id, team), (plain.id, team), (tagged.id, "claims")]
            )
        ]
        session.add_all(rows)
    return rows[0].id, rows[1].id, rows[2].id


async def test_an_agent_narrows_the_queue_to_a_customer_tag(console):
    mine, plain, elsewhere = await queued(console, "general")  # agent1's team
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, console, "agent1")
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            items = page.locator("#queued .conversation-item")
            await expect(items).to_have_count(2)
            tagged = page.locator(f"#queued .conversation-item[data-conversation-id='{mine}']")
            await expect(tagged.locator(".customer-tags [data-tag='open_complaint']")).to_have_text(
                "投诉处理中"
            )
            other = page.locator(f"#queued .conversation-item[data-conversation-id='{plain}']")
            await expect(other.locator(".customer-tags")).to_have_count(0)
            await page.select_option("#tag-filter", "open_complaint")
            await expect(items).to_have_count(1)
            await expect(items.first).to_have_attribute("data-conversation-id", str(mine))
            await expect(page.locator("#queued-count")).to_have_text("1")
            # another team's conversation, though its customer has the tag
            await expect(
                page.locator(f".conversation-item[data-conversation-id='{elsewhere}']")
            ).to_have_count(0)
            await page.select_option("#tag-filter", "")
            await expect(items).to_have_count(2)
            assert errors == []
        finally:
            await browser.close()
