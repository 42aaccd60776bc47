"""The live wallboard in real headless Chromium (Debian's, driven by Playwright) against
the console in-process: a supervisor sees each team's queue, in the chart and in the
table beside it, and the number changes without a reload when a customer is queued;
both languages; an agent is refused the page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import async_playwright, expect

from tests.browser.chromium import WAIT_MS, launch
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


async def signed_in(browser, console, username: str):
    context = await browser.new_context(locale="zh-CN")
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.goto(console.base + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "pw")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/console"))
    return page


async def test_the_supervisor_watches_a_queue_grow_live_and_an_agent_is_refused(console):
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, console, "supervisor1")
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.click("a[href='/console/wallboard']")
            await page.wait_for_url(re.compile(r"/console/wallboard$"))
            await expect(page.locator("h2")).to_contain_text("实时看板")
            general = page.locator("#queue-table tr[data-team='general']")
            await expect(general.locator("th")).to_have_text("综合服务")
            await expect(general.locator("td.queued")).to_have_text("0")
            await expect(general.locator("td.longest-wait")).to_have_text("—")
            # The chart drew (ECharts from our own origin) beside the table.
            await expect(page.locator("#queue-chart canvas")).to_have_count(1)
            await expect(page.locator("#wallboard-alert")).to_be_hidden()

            await token(console, "agent1")  # an agent at work: the customer is queued
            customer, _ = await queued_customer(console)
            await expect(general.locator("td.queued")).to_have_text("1")
            await expect(general.locator("td.longest-wait")).to_have_text(re.compile(r"^\d+ 秒$"))
            # Waiting now, nobody answered yet today: the projection is 0 %, the alert up.
            await expect(page.locator("#wallboard-alert")).to_be_visible()
            await expect(page.locator("#sl-projected")).to_have_text("0.0 %")
            await expect(page.locator("#sl-misses")).to_have_text("1")
            await customer.disconnect()

            # In English, the same board.
            await page.click("form[action='/me/language'] button")
            await page.wait_for_url(re.compile(r"/console/wallboard$"))
            await expect(page.locator("h2")).to_contain_text("Live wallboard")
            await expect(general.locator("td.queued")).to_have_text("1")
            assert errors == []

            agent = await signed_in(browser, console, "agent1")
            refused = await agent.goto(console.base + "/console/wallboard")
            assert refused is not None and refused.status == 403
            assert await agent.locator("a[href='/console/wallboard']").count() == 0
        finally:
            await browser.close()
