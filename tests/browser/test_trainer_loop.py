"""The trainer's whole loop in real headless Chromium against the real stack: a
customer's message the bot gets wrong reaches the review inbox; the trainer
relabels it, fine-tunes the production model from the console and reads the
candidate's evaluation beside production's; it is deployed (by the trainer when
the gate passes, else by a supervisor's override with a written reason); the bot
now gets the message right in the customer's chat; the trainer rolls back and the
bot gets it wrong again.

A real fine-tune and two models parsing the held-out set: minutes of CPU, so this
runs in `make test-training`, not `make test`."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from tests.browser.chromium import WAIT_MS, launch
from tests.browser.test_chat_page import say, until_shown
from tests.test_end_to_end import store_rows
from web.stack import AgentApi, Stack

pytestmark = [pytest.mark.stack, pytest.mark.training]

# A customer asking for a manager: no example says so, and the bot falls back
# (request_human 0.38, complain 0.21 under the 0.45 threshold).
ASKED = "我要找你们领导"
FALLBACK = "抱歉,我没太明白"
HANDOFF = "好的,我来为您联系人工客服"
# A fine-tune, its evaluation and a model loaded twice: generous on a slow machine.
TRAINING_MS = 30 * 60_000
SWAP_MS = 5 * 60_000


async def customer_says(browser, stack: Stack, text: str, answer: str) -> None:
    """A new customer on the chat page says `text` and is answered with `answer`."""
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(stack.base_url + "/")
        await say(page, text)
        await until_shown(page, answer)
    finally:
        await context.close()


async def staff_page(browser, stack: Stack, username: str, locale: str, lands: str):
    context = await browser.new_context(locale=locale)
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.goto(stack.base_url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", stack.password)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(lands))
    return page


async def put_baseline_back(stack: Stack) -> None:
    """Whatever happened, the stack's Rasa serves the model it started with again."""
    [(baseline, production)] = store_rows(
        stack, "SELECT id, production FROM bot_models WHERE kind='baseline'"
    )
    if production:
        return
    async with aiohttp.ClientSession() as http:
        trainer = AgentApi(http, stack.base_url)
        await trainer.login("trainer1", stack.password)
        status, body = await trainer.request("POST", f"/api/v1/training/models/{baseline}/rollback")
        assert status == 200, body


async def test_a_wrong_answer_relabelled_trained_deployed_and_rolled_back(stack: Stack):
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            await customer_says(browser, stack, ASKED, FALLBACK)

            # The inbox: the fallback is there, found by its text, and relabelled.
            trainer = await staff_page(browser, stack, "trainer1", "zh-CN", r"/console/intents$")
            await trainer.click("a[href='/console/inbox']")
            await trainer.fill("#inbox-search", ASKED)
            await trainer.press("#inbox-search", "Enter")
            await trainer.wait_for_url(re.compile(r"/console/inbox\?.*q="))
            item = trainer.locator(".inbox-item", has_text=ASKED).first
            await expect(item).to_have_attribute("data-status", "new")
            await expect(item.locator(".badge-overdue")).to_have_text("未识别")
            await item.locator(".text").click()
            await trainer.fill("#relabel-intent", "request_human")
            await trainer.press("#relabel-intent", "Enter")
            await expect(item).to_have_attribute("data-status", "relabelled")
            await expect(item.locator(".status")).to_contain_text("request_human")

            # A fine-tune from the models page, followed live until it is evaluated.
            await trainer.goto(stack.base_url + "/console/models")
            await trainer.click("#training button[value=finetune]")
            await expect(trainer.locator("#job-status")).to_be_visible()
            await expect(trainer.locator("#job-status.status-succeeded")).to_have_count(
                1, timeout=TRAINING_MS
            )
            [(candidate,)] = store_rows(
                stack, "SELECT model_id FROM training_jobs ORDER BY id DESC LIMIT 1"
            )
            [(baseline,)] = store_rows(stack, "SELECT id FROM bot_models WHERE kind='baseline'")

            # The evaluation, candidate beside production, per language.
            await trainer.goto(f"{stack.base_url}/console/models/{candidate}")
            overall = trainer.locator('#evaluation-holdout .language[data-language="all"]')
            await expect(overall).to_contain_text(
                re.compile(r"准确率:\s*\d+\.\d %\s*·\s*生产 \d+\.\d %")
            )
            await expect(overall.locator("tr", has_text="request_human")).to_have_count(1)
            for language in ("zh", "en"):
                part = trainer.locator(f'#evaluation-holdout .language[data-language="{language}"]')
                await expect(part.locator("tbody tr").first).to_be_visible()

            # Deployed: by the trainer if the gate passes, else over it by a supervisor
            # who writes why (a fine-tune may score a point under production).
            if await trainer.locator("#gate .badge.status-done").count():
                await trainer.click("#gate form[action$='/deploy'] button")
                await trainer.wait_for_url(
                    re.compile(r"/console/models\?saved=1$"), timeout=SWAP_MS
                )
            else:
                await expect(trainer.locator("#gate .gate-reason").first).to_be_visible()
                assert await trainer.locator("#gate form[action$='/deploy']").count() == 0
                supervisor = await staff_page(browser, stack, "supervisor1", "en-US", r"/console$")
                await supervisor.goto(f"{stack.base_url}/console/models/{candidate}")
                await supervisor.fill(
                    "#override textarea[name=reason]", "Customers asking for a manager reach us."
                )
                await supervisor.click("#override button[type=submit]")
                # answered once Rasa took the model: back on the list, saying so
                await supervisor.wait_for_url(
                    re.compile(r"/console/models\?saved=1$"), timeout=SWAP_MS
                )
            await trainer.goto(stack.base_url + "/console/models")
            await expect(trainer.locator(f"#model-{candidate}.production")).to_have_count(
                1, timeout=SWAP_MS
            )

            await customer_says(browser, stack, ASKED, HANDOFF)

            # One click back to the model before, and the bot is wrong again.
            await trainer.click(f"#model-{baseline} form[action$='/rollback'] button")
            await expect(trainer.locator(f"#model-{baseline}.production")).to_have_count(
                1, timeout=SWAP_MS
            )
            await expect(trainer.locator("#deployments li").first).to_contain_text(str(baseline))
            await customer_says(browser, stack, ASKED, FALLBACK)

            # Every act of the loop is in the audit log, newest first.
            await trainer.goto(stack.base_url + "/console/changes")
            acts = trainer.locator(".audit-entry")
            await expect(acts.first).to_have_attribute("data-change", "rollback")
            changes = await acts.evaluate_all("rows => rows.map(r => r.dataset.change)")
            assert changes[:3] in (
                ["rollback", "deploy", "start"],
                ["rollback", "override", "start"],
            ), changes
            assert "relabel" in changes[3:], changes
        finally:
            await browser.close()
            await put_baseline_back(stack)
