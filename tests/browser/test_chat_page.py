"""The customer chat page in real headless Chromium (Debian's, driven by
Playwright) against the real stack: a greeting answered, markup shown as text."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.browser.chromium import launch
from web.stack import Stack

pytestmark = pytest.mark.stack


@pytest.fixture
async def page(stack: Stack):
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        page = await browser.new_page()
        page.dialogs = []
        page.on("dialog", lambda dialog: page.dialogs.append(dialog.message))
        await page.goto(stack.base_url + "/")
        yield page
        await browser.close()


async def say(page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def until_shown(page, text: str) -> None:
    await page.wait_for_function(
        "t => document.getElementById('messages').innerText.includes(t)", arg=text, timeout=30000
    )


async def test_the_chat_page_answers_and_shows_markup_as_text(page):
    await say(page, "你好")
    await until_shown(page, "您好")
    await say(page, "<img src=x onerror=alert(1)><b>hi</b>")
    await until_shown(page, "<img src=x onerror=alert(1)><b>hi</b>")
    assert await page.locator("#messages img, #messages b").count() == 0
    # Anything the markup could run would have run before the page shows a later answer.
    await say(page, "谢谢")
    await until_shown(page, "不客气")
    assert page.dialogs == []


async def test_buttons_offered_by_the_bot_answer_a_form_question(page):
    await say(page, "我想投诉")
    await until_shown(page, "投诉的是哪方面")
    await page.locator(".quick-replies button", has_text="服务态度").click()
    await until_shown(page, "描述一下")
