"""The analytics page in real headless Chromium (Debian's, driven by Playwright)
against the console in-process: a supervisor sees the week's figures, drills down
from a tile to the conversation behind it and opens its transcript; the trend,
funnel and staffing charts draw beside their tables; an agent is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import async_playwright, expect

from store.db import create_engine, session_factory
from store.models import Conversation, ConversationState, Event
from tests.browser.chromium import WAIT_MS, launch
from tests.browser.test_wallboard import signed_in
from tests.console.test_agent_socket import queued_customer
from tests.console.test_api import token
from tests.console_app import bearer, start_console

CHINA = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def patient_expectations():
    """The page's figures come from several requests at once, each bringing the
    rollups up to date first: on a loaded machine that takes more than Playwright's
    default 5 s, so its expectations wait as long as the rest of the browser tests."""
    expect.set_options(timeout=WAIT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
async def console(sqlite_url):
    client = await start_console(
        sqlite_url, housekeeping=False, auto_assign=False, service_hours="00:00-24:00"
    )
    yield client
    await client.close()


async def test_a_supervisor_drills_from_a_figure_to_the_transcript(console):
    await token(console, "agent1")  # an agent at work: the customer is queued
    customer, conversation_id = await queued_customer(console)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, console, "supervisor1")
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.click("a[href='/console/analytics']")
            await page.wait_for_url(re.compile(r"/console/analytics$"))
            await expect(page.locator("h2")).to_have_text("服务分析")
            handoffs = page.locator(".tile[data-figure='handoffs'] dd")
            await expect(handoffs).to_have_text("1")
            # waiting, not answered: no service level yet, shown as a dash, not 0 %
            await expect(page.locator(".tile[data-figure='service_level'] dd")).to_have_text("—")
            await handoffs.locator("button").click()
            row = page.locator(f"#drilldown-table tr[data-conversation-id='{conversation_id}']")
            await expect(row).to_contain_text("等待中")
            # the charts drew beside their tables
            await expect(page.locator("#trend-chart svg")).to_have_count(1)
            await expect(page.locator("#trend-table tbody tr")).to_have_count(7)
            await expect(page.locator("#staffing-chart svg")).to_have_count(1)
            await expect(page.locator("#funnel-table tbody tr").last).to_contain_text("合计")
            await expect(page.locator("#forms-table tbody tr")).to_have_count(4)
            await expect(page.locator("#forms-table tr[data-form='claim'] th")).to_have_text(
                "理赔申请"
            )
            export = await page.locator("#analytics-export").get_attribute("href")
            assert export and export.startswith("/api/v1/analytics/conversations.csv?start=")
            # from the drill-down to the transcript
            await row.locator("a").click()
            await page.wait_for_url(re.compile(rf"/console\?conversation={conversation_id}$"))
            await expect(page.locator("#messages")).to_contain_text("我要转人工")
            assert errors == []

            # in English
            await page.goto(console.base + "/console/analytics")
            await page.click("header form[action='/me/language'] button")
            await expect(page.locator("h2")).to_have_text("Service analytics")
            await expect(page.locator(".tile[data-figure='handoffs'] dt")).to_have_text("Handoffs")

            agent = await signed_in(browser, console, "agent1")
            refused = await agent.goto(console.base + "/console/analytics")
            assert refused is not None and refused.status == 403
        finally:
            await browser.close()
            await customer.disconnect()


async def test_a_supervisor_filters_by_two_channels_and_a_language(sqlite_url):
    client = await start_console(sqlite_url, housekeeping=False, auto_assign=False)
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    # Four handoffs today just after midnight China time (the trend's last day): web in
    # Chinese, and web, WeChat and the app in English.
    midnight = datetime.now(CHINA).replace(hour=0, minute=1, second=0, microsecond=0)
    just_after_midnight = midnight.astimezone(UTC)
    async with sessions.begin() as session:
        for n, (channel, language) in enumerate(
            [("web", "zh"), ("web", "en"), ("wechat", "en"), ("app", "en")]
        ):
            conversation = Conversation(
                channel=channel,
                external_user_id=f"filtered-{n}",
                team="claims",
                language=language,
                state=ConversationState.QUEUED,
                queued_at=just_after_midnight,
            )
            session.add(conversation)
            await session.flush()
            session.add_all(
                [
                    Event(
                        at=just_after_midnight,
                        kind="created",
                        conversation_id=conversation.id,
                        data={},
                    ),
                    Event(
                        at=just_after_midnight,
                        kind="handoff",
                        conversation_id=conversation.id,
                        data={"team": "claims", "channel": channel, "language": language},
                    ),
                ]
            )
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                page = await signed_in(browser, client, "supervisor1")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(client.base + "/console/analytics")
                handoffs = page.locator(".tile[data-figure='handoffs'] dd").first
                await expect(handoffs).to_have_text("4")
                await expect(page.locator("#funnel-table tbody tr").last).to_contain_text("4")

                await page.select_option("select[name='channel']", ["web", "wechat"])
                await page.select_option("select[name='language']", ["en"])
                await page.click("#analytics-filters button[type='submit']")
                # what the API answers for the same filters, and the page shows it
                start = await page.input_value("input[name='start']")
                end = await page.input_value("input[name='end']")
                headers = await bearer(client, "supervisor1")
                answer = await client.get(
                    "/api/v1/analytics/queue",
                    params=[
                        ("start", start),
                        ("end", end),
                        ("channel", "web"),
                        ("channel", "wechat"),
                        ("language", "en"),
                    ],
                    headers=headers,
                )
                filtered = await answer.json()
                assert filtered["handoffs"] == 2
                await expect(handoffs).to_have_text(str(filtered["handoffs"]))
                bot = await client.get(
                    "/api/v1/analytics/bot",
                    params=[
                        ("start", start),
                        ("end", end),
                        ("channel", "web,wechat"),
                        ("language", "en"),
                    ],
                    headers=headers,
                )
                assert (await bot.json())["sessions"] == 2
                await expect(page.locator("#funnel-table tbody tr").last).to_contain_text("合计2")
                # figures that cannot split by language say so on their tile
                await expect(
                    page.locator(".tile[data-figure='claims_self_service'] .unfiltered")
                ).to_contain_text("语言")
                export = await page.locator("#analytics-export").get_attribute("href")
                assert export is not None
                assert "channel=web&channel=wechat&language=en" in export
                # the trend, day by day, with the same filters: today's handoffs
                await page.select_option("#trend-metric", "handoffs")
                today = page.locator("#trend-table tbody tr").last.locator("td").nth(1)
                await expect(today).to_have_text("2")
                await expect(page.locator("#trend-unfiltered")).to_have_text("")
                # the agents' figures take no channel nor language, and say so
                await page.select_option("#trend-metric", "handled")
                await expect(page.locator("#trend-unfiltered")).to_have_text("未按渠道, 语言筛选")
                # the drill-down lists the two conversations the figure counts
                await handoffs.locator("button").click()
                await expect(page.locator("#drilldown-table tbody tr")).to_have_count(2)
                await expect(page.locator("#drilldown-table tbody")).not_to_contain_text("app")
                assert errors == []
            finally:
                await browser.close()
    finally:
        await client.close()
        await engine.dispose()
