"""The agent workspace in real headless Chromium (Debian's, driven by Playwright)
against the real stack: an agent signs in, takes a live socket.io customer's
handoff, chats both ways, writes a private note, schedules a callback, resolves,
and sees the customer's satisfaction rating arrive; the interface switches to English."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.chromium import WAIT_MS, launch
from tests.test_end_to_end import store_rows
from web.stack import Customer, Stack

pytestmark = pytest.mark.stack

SHANGHAI = ZoneInfo("Asia/Shanghai")
MARKUP = "<img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.fixture
async def browser(stack: Stack):
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        yield browser
        await browser.close()


async def signed_in(browser, stack: Stack, username: str) -> Page:
    """A fresh browser profile, signed in through the login form, the console connected."""
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    page.dialogs = []

    async def on_dialog(dialog) -> None:
        page.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await page.goto(stack.base_url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", stack.password)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/console$"))
    await expect(page.locator("#status")).not_to_have_class(re.compile("offline"))
    await page.wait_for_function(
        "() => !!document.getElementById('status').textContent.match(/已连接|Connected/)"
    )
    return page


async def back_online(stack: Stack, username: str) -> None:
    """Closing a console takes its agent offline; the stack's other tests expect this
    one online (as the stack left them), so sign them in again once that is done."""
    for _ in range(50):
        [(presence,)] = store_rows(stack, "SELECT presence FROM agents WHERE username=?", username)
        if presence == "offline":
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"{username} is still {presence} ten seconds after closing")
    stack.sign_in(username)


async def verify(stack: Stack, customer: Customer) -> int:
    """Verify as demo customer 1 with the code from the SMS outbox; returns their id."""
    [(mobile,)] = store_rows(stack, "SELECT mobile FROM customers WHERE id=1")
    [(policy,)] = store_rows(stack, "SELECT number FROM policies WHERE holder_id=1 ORDER BY id")[:1]
    await customer.say("查一下我的保单")
    await customer.until(lambda m: "保单号或身份证号" in m.get("text", ""))
    await customer.say(policy)
    await customer.until(lambda m: "6位验证码" in m.get("text", ""))
    [(sms,)] = store_rows(
        stack, "SELECT text FROM sms_outbox WHERE mobile=? ORDER BY id DESC LIMIT 1", mobile
    )
    code = re.search(r"\d{6}", sms).group()
    await customer.say(f"验证码 {code}")
    await customer.until(lambda m: "身份验证成功" in m.get("text", ""))
    # the turn ends with the policy it asked for: nothing of it is still to come
    await customer.until(lambda m: m.get("text", "").startswith("保单 P"))
    return 1


async def test_an_agent_works_a_handoff_from_accept_to_rating(stack: Stack, browser):
    page = await signed_in(browser, stack, "agent1")

    customer = Customer(stack.base_url)
    agent_typing: list[dict[str, Any]] = []
    customer.sio.on("agent_typing", lambda data: agent_typing.append(data))
    session_id = await customer.connect()
    customer_id = await verify(stack, customer)
    await customer.say("我要转人工")
    heard = await customer.until(
        lambda m: m.get("sender") == "system" and ("队列" in m["text"] or "已接入" in m["text"])
    )
    [(conversation,)] = store_rows(
        stack,
        "SELECT id FROM conversations WHERE channel='web' AND external_user_id=?",
        session_id,
    )
    item = f'.conversation-item[data-conversation-id="{conversation}"]'

    # Queued for agent1's team (then accepted by hand), or given to agent1 automatically.
    await page.wait_for_selector(f"#queued {item}, #mine {item}")
    if await page.locator(f"#queued {item}").count():
        try:
            await expect(page.locator(f"#queued {item} .waiting")).to_contain_text(
                "20", timeout=3000
            )
            await page.click(f"#queued {item}", timeout=3000)
            await page.click("#accept", timeout=3000)
        except (AssertionError, PlaywrightTimeoutError):
            pass  # the dispatcher gave it to agent1 meanwhile
    await page.wait_for_selector(f"#mine {item}")
    await page.click(f"#mine {item}")
    transcript = page.locator("#messages")
    await expect(page.locator("#conversation-title")).to_contain_text(str(conversation))
    # The whole transcript, the bot's part with the intents it saw.
    await expect(transcript).to_contain_text("查一下我的保单")
    await expect(transcript).to_contain_text("我要转人工")
    await expect(
        page.locator("#messages li.message.customer", has_text="我要转人工").locator(".intent")
    ).to_contain_text("request_human")
    await expect(page.locator("#messages li.message.bot").first).to_be_visible()
    await expect(page.locator("#handoff-summary")).to_contain_text("我要转人工")
    if not any("已接入" in m.get("text", "") for m in heard):
        await customer.until(lambda m: "已接入" in m.get("text", ""))

    # A supervisor sees it under agent1, and agent1 online with their load.
    supervisor = await signed_in(browser, stack, "supervisor1")
    try:
        group = supervisor.locator("#assigned-by-agent .agent-group", has_text="王芳")
        await expect(group.locator(item)).to_be_visible()
        await expect(supervisor.locator("#agents li", has_text="王芳")).to_contain_text("在线")
    finally:
        await supervisor.context.close()
        await back_online(stack, "supervisor1")

    # The customer 360 of a verified customer, identifiers masked.
    [(name, mobile)] = store_rows(
        stack, "SELECT name, mobile FROM customers WHERE id=?", customer_id
    )
    [(policy,)] = store_rows(stack, "SELECT number FROM policies WHERE holder_id=?", customer_id)[
        :1
    ]
    panel = page.locator("#customer")
    await expect(panel).to_contain_text(name)
    await expect(panel).to_contain_text(policy)
    assert mobile not in await panel.inner_text()

    # Chat both ways; the agent's typing reaches the customer, the customer's the agent.
    await page.click("#reply-text")
    await page.keyboard.type("您好,我是王芳,请问有什么可以帮您?")
    await page.keyboard.press("Enter")
    reply = await customer.until(lambda m: m.get("sender") == "agent")
    assert reply[-1]["text"] == "您好,我是王芳,请问有什么可以帮您?"
    assert any(t.get("typing") for t in agent_typing)
    await expect(page.locator("#reply-text")).to_have_value("")
    await expect(page.locator("#messages li.pending")).to_have_count(0)

    await customer.sio.emit("typing", {"typing": True})
    await expect(page.locator("#typing")).to_contain_text("客户正在输入")
    await customer.say("我上个月住院的报销什么时候能到账?")
    await expect(transcript).to_contain_text("我上个月住院的报销什么时候能到账?")
    await expect(page.locator("#typing")).to_have_text("")

    # Markup from the customer is text, all the way to the agent's screen.
    await customer.say(MARKUP)
    await expect(transcript).to_contain_text(MARKUP)
    assert await page.locator("#messages img, #messages script").count() == 0

    # Enter that confirms an input method's composition does not send.
    await page.fill("#reply-text", "正在输入")
    await page.eval_on_selector(
        "#reply-text",
        """box => box.dispatchEvent(new KeyboardEvent("keydown",
            {key: "Enter", keyCode: 229, isComposing: true, bubbles: true, cancelable: true}))""",
    )
    await expect(page.locator("#reply-text")).to_have_value("正在输入")
    await expect(page.locator("#messages li.pending")).to_have_count(0)

    # A canned response with its variables filled in, put in the reply box to edit.
    await page.fill("#reply-text", "/hello")
    await page.press("#reply-text", "Tab")
    await expect(page.locator("#reply-text")).not_to_have_value("/hello")
    filled = await page.locator("#reply-text").input_value()
    assert filled and "{" not in filled
    await page.fill("#reply-text", "")

    # A label, on the conversation and in the queue column.
    await page.fill("#label-input", "住院报销")
    await page.click("#label-form button[type=submit]")
    await expect(page.locator("#labels")).to_contain_text("住院报销")
    await expect(page.locator(f"#mine {item}")).to_contain_text("住院报销")

    # A private note: in the transcript, never sent to the customer.
    note = "客户情绪平稳,核实住院日期后回电"
    await page.fill("#note-text", note)
    await page.click("#note-form button[type=submit]")
    await expect(page.locator("#messages li.note")).to_contain_text(note)

    # A callback for the verified customer, on the number on file, starting in two
    # minutes: due soon enough for a reminder.
    start = datetime.now(SHANGHAI).replace(second=0, microsecond=0) + timedelta(minutes=2)
    await page.fill("#callback-start", start.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#callback-end", (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#callback-reason", "核对住院报销材料")
    await page.click("#callback-form button[type=submit]")
    await expect(page.locator("#callback-result")).to_contain_text("已预约回电")
    answer = await page.request.get(stack.base_url + "/api/v1/callbacks?scope=mine")
    assert answer.ok, await answer.text()
    callbacks = (await answer.json())["callbacks"]
    [scheduled] = [c for c in callbacks if c["conversation_id"] == conversation]
    assert scheduled["reason"] == "核对住院报销材料"
    assert datetime.fromisoformat(scheduled["window_start"]) == start

    # Resolve with a reason; the customer is asked for a rating and gives five stars.
    await page.select_option("#resolve-reason", "answered")
    await page.click("#resolve")
    asked = await customer.until(lambda m: m.get("quick_replies"))
    # Everything the customer was sent, in order, up to the rating request (which
    # came after the note): a leaked note would be among it.
    assert all(note not in m.get("text", "") for m in heard + reply + asked)
    five = next(b for b in asked[-1]["quick_replies"] if b["title"] == "★★★★★")
    await customer.say(five["payload"])
    await expect(page.locator("#messages li.rating")).to_contain_text("5/5")
    await expect(page.locator("#messages li.rating")).to_contain_text("★★★★★")
    await expect(page.locator("#conversation-meta")).to_contain_text("已结束")
    await expect(page.locator(f"#mine {item}")).to_have_count(0)
    await customer.disconnect()

    # The callback falls due: a reminder banner, linking to the callbacks, dismissable.
    reminder = page.locator("#reminders [role=alert]", has_text="核对住院报销材料")
    await expect(reminder).to_be_visible()
    await expect(reminder.locator("a")).to_have_attribute("href", "/console/callbacks")
    await reminder.get_by_role("button").click()
    await expect(reminder).to_have_count(0)
    assert page.dialogs == []


async def test_the_workspace_switches_to_english(stack: Stack, browser):
    page = await signed_in(browser, stack, "agent2")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator(".queue")).to_contain_text("我的会话")
    await page.click("button[name=language]")
    await page.wait_for_url(re.compile(r"/console$"))
    try:
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator(".queue h3").first).to_have_text(re.compile("^Waiting"))
        await expect(page.locator(".queue")).to_contain_text("Mine")
        await expect(page.locator("label[for=presence]")).to_have_text("My status")
        await expect(page.locator("#conversation-title")).to_have_text(
            "Select a conversation on the left"
        )
        # the script's own strings too
        await expect(page.locator("#status")).to_have_text("Connected")
        await expect(page.locator("nav")).to_contain_text("Callbacks")
        assert "我的会话" not in await page.locator(".workspace").inner_text()
    finally:
        # The stack is shared: agent2 goes back to Chinese.
        await page.click("button[name=language]")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
