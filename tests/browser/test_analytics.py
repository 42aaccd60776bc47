"""The analytics page in real headless Chromium (Debian's, driven by Playwright)
against the console in-process: a supervisor sees the week's figures, drills down
from a tile to the conversation behind it and opens its transcript; the trend,
funnel and staffing charts draw beside their tables; an agent is refused."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import async_playwright, expect

from tests.browser.chromium import launch
from tests.browser.test_wallboard import signed_in
from tests.console.test_agent_socket import queued_customer
from tests.console.test_api import token
from tests.console_app import start_console


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
