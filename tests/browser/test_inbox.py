"""The review inbox in real headless Chromium (Debian's, driven by Playwright) against
the console in-process: a customer message with markup in it shows as literal text in
the inbox, in the conversation panel and, confirmed with one keystroke, on its
intent's page; no dialog opens and no element the markup names is ever created. And
an agent flags a customer message from the console's transcript."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import select, update

from console.keys import service_key
from store.db import create_engine, session_factory
from store.models import Conversation, ConversationState
from store.workbench import ParsedMessage
from tests.browser.chromium import WAIT_MS, launch
from tests.console_app import start_console
from tests.desk.inbox_rows import store_message
from tests.desk.training_project import copy_project, parsed_examples

MARKUP = "<img src=x onerror=alert(1)><b>bold</b>"
BOT_MARKUP = "<script>alert(2)</script><i>answer</i>"


@pytest.fixture
async def console(sqlite_url, tmp_path):
    project = copy_project(tmp_path / "project")
    client = await start_console(
        sqlite_url, housekeeping=False, training_project_dir=str(project.root)
    )
    client.project = project
    engine = create_engine(sqlite_url)
    client.sessions = session_factory(engine)
    yield client
    await client.close()
    await engine.dispose()


async def test_customer_markup_is_text_in_the_inbox_conversation_and_intent_page(console):
    await store_message(
        console.sessions, MARKUP, intent="greet", rank=0, fallback=True, bot_text=BOT_MARKUP
    )
    # An example greet already has: confirming it as ask_policy is refused, naming greet.
    await store_message(console.sessions, "您好", intent="ask_policy", minutes=1)
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            context = await browser.new_context(locale="zh-CN")
            context.set_default_timeout(WAIT_MS)
            page = await context.new_page()
            dialogs: list[str] = []

            async def on_dialog(dialog) -> None:
                dialogs.append(dialog.message)
                await dialog.dismiss()

            page.on("dialog", on_dialog)
            await page.goto(console.base + "/login")
            await page.fill("input[name=username]", "trainer1")
            await page.fill("input[name=password]", "pw")
            await page.click("button[type=submit]")
            await page.wait_for_url(re.compile(r"/console/intents$"))
            await page.click("a[href='/console/inbox']")
            await page.wait_for_url(re.compile(r"/console/inbox$"))

            first = page.locator(".inbox-item").first
            await expect(first.locator(".text")).to_have_text(MARKUP)
            # The conversation around it, on demand (the key v; a click does the same).
            await page.keyboard.press("v")
            panel = page.locator("#conversation-panel")
            await expect(panel).to_be_visible()
            await expect(panel.locator(".message.customer .text")).to_have_text(MARKUP)
            await expect(panel.locator(".message.bot .text")).to_have_text(BOT_MARKUP)
            # From there, the conversation as a test story.
            await expect(panel.locator("#conversation-story")).to_have_attribute(
                "href", re.compile(r"^/console/conversations/\d+/story$")
            )
            # One keystroke confirms it as an example of greet.
            await page.keyboard.press("c")
            await expect(page.locator('.inbox-item[data-status="confirmed"]')).to_have_count(1)
            await expect(first.locator(".status")).to_have_text("已确认 → greet")
            assert MARKUP in parsed_examples(
                console.project.root / "bot/data/nlu/chitchat.yml", "greet"
            )
            # The next message is current now; the refusal is in the trainer's language.
            await page.keyboard.press("c")
            flash = page.locator("#inbox-flash")
            await expect(flash).to_contain_text("已有意图包含这条例句")
            await expect(flash).to_contain_text("intent greet")
            await expect(page.locator(".inbox-item").nth(1)).to_have_attribute("data-status", "new")
            # The markup never became elements: no image, bold, script or italic made of it.
            for selector in ("main img", "main b", "main i", "main script"):
                assert await page.locator(selector).count() == 0, selector

            await page.goto(console.base + "/console/intents/greet")
            example = page.locator(".examples .example", has_text="bold").first
            await expect(example).to_have_text(MARKUP)
            assert await page.locator("main img").count() == 0
            assert await page.locator("main b").count() == 0
            assert dialogs == []
        finally:
            await browser.close()


async def signed_in(browser, console, username: str, lands: str):
    context = await browser.new_context(locale="zh-CN")
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.goto(console.base + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "pw")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(lands))
    return page


async def test_an_agent_flags_a_message_from_the_transcript(console):
    service = console.app[service_key]
    conversation, _ = await service.open("web", "flag-in-the-browser")
    async with console.sessions.begin() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(state=ConversationState.QUEUED, queued_at=datetime.now(UTC))
        )
    await service.customer_message(conversation.id, "我的手机13912345678，保单怎么退")
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await signed_in(browser, console, "supervisor1", r"/console$")
            await page.click(
                f'#queued .conversation-item[data-conversation-id="{conversation.id}"]'
            )
            said = page.locator("#messages li.message.customer")
            await expect(said).to_contain_text("保单怎么退")
            await said.locator(".flag-open").click()
            await said.locator(".flag-form input").fill("ask_policy")
            await said.locator(".flag-form button[type=submit]").click()
            await expect(said.locator(".flagged")).to_have_text("已标记给训练师:ask_policy")
        finally:
            await browser.close()
    async with console.sessions() as session:
        [row] = (await session.scalars(select(ParsedMessage))).all()
    assert (row.text, row.flag_intent, row.rank) == (
        "我的手机<MOBILE>，保单怎么退",
        "ask_policy",
        3,
    )
