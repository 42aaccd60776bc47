"""The embeddable web widget and the rasa-webchat widget, in real headless Chromium
(Debian's, driven by Playwright), on an insurer's site of their own (another origin,
served here) against the real stack: the launcher opened by keyboard, the bot
greeted and answering, a quick reply, Enter during an input method's composition,
Escape, the history after a reload, a claim document sent and a disguised program
refused; rasa-webchat from npm, unchanged, talking to the same endpoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright, expect

from tests.browser.chromium import WAIT_MS, launch
from tests.test_end_to_end import store_rows
from web.stack import ROOT, Stack

pytestmark = pytest.mark.stack

RASA_WEBCHAT = ROOT / "node_modules" / "rasa-webchat" / "lib" / "index.js"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture
async def site(stack: Stack):
    """The insurer's own site, on another origin: a page with the one script tag,
    and a page with rasa-webchat's UMD bundle from npm."""

    async def home(request: web.Request) -> web.Response:
        lang = request.query.get("lang", "zh")
        return web.Response(
            content_type="text/html",
            text=f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>某健康保险 Insurer</title></head>
<body><h1>某健康保险</h1><p><a href="/products">产品 Products</a></p>
<script src="{stack.base_url}/widget.js" data-lang="{lang}" async></script>
</body></html>""",
        )

    async def rasa_webchat_page(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text=f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>rasa-webchat</title></head>
<body><h1>rasa-webchat</h1>
<script src="/vendor/rasa-webchat.js"></script>
<script>
WebChat.default({{
  socketUrl: "{stack.base_url}",
  socketPath: "/socket.io/",
  initPayload: "/greet",
  customData: {{ language: "zh" }},
  params: {{ storage: "local" }},
  title: "在线客服"
}}, null);
</script></body></html>""",
        )

    async def bundle(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(RASA_WEBCHAT, headers={"Content-Type": "text/javascript"})

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/rasa-webchat", rasa_webchat_page)
    app.router.add_get("/vendor/rasa-webchat.js", bundle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        yield browser
        await browser.close()


async def new_page(browser, locale: str = "zh-CN") -> Page:
    context = await browser.new_context(locale=locale, timezone_id="Asia/Shanghai")
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    page.dialogs = []
    page.errors = []
    page.on("dialog", lambda dialog: page.dialogs.append(dialog.message))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


async def focus_launcher_by_keyboard(page: Page) -> None:
    for _ in range(6):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "hd-widget-launcher":
            return
    raise AssertionError("Tab never reached the widget's launcher")


async def test_the_widget_on_an_insurers_site(browser, site, stack: Stack, tmp_path: Path):
    page = await new_page(browser)
    await page.goto(site + "/")
    launcher = page.locator("#hd-widget-launcher")
    panel = page.locator("#hd-widget-panel")
    await expect(launcher).to_have_attribute("aria-label", "打开在线客服")
    await expect(launcher).to_have_attribute("aria-expanded", "false")

    # Opened from the keyboard; the focus goes to the message box inside the frame.
    await focus_launcher_by_keyboard(page)
    await page.keyboard.press("Enter")
    await expect(panel).to_be_visible()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    frame = page.frame_locator("#hd-widget-frame")
    await expect(frame.locator("#status")).to_have_text("在线", timeout=WAIT_MS)
    await expect(frame.locator("#text")).to_be_focused()
    messages = frame.locator("#messages")

    await page.keyboard.type("你好")
    await page.keyboard.press("Enter")
    await expect(messages).to_contain_text("您好", timeout=WAIT_MS)

    # Enter that confirms an input method's composition does not send.
    await frame.locator("#text").fill("正在输入")
    await frame.locator("#text").evaluate(
        """box => {
            box.dispatchEvent(new CompositionEvent("compositionstart", {data: "zheng"}));
            box.dispatchEvent(new KeyboardEvent("keydown",
                {key: "Enter", keyCode: 229, isComposing: true, bubbles: true, cancelable: true}));
        }"""
    )
    await expect(frame.locator("#text")).to_have_value("正在输入")
    await expect(frame.locator("#messages li.customer")).to_have_count(1)
    await frame.locator("#text").evaluate(
        'box => box.dispatchEvent(new CompositionEvent("compositionend", {data: "正在输入"}))'
    )
    await frame.locator("#text").fill("我想投诉")
    await frame.locator("#text").press("Enter")
    await expect(messages).to_contain_text("投诉的是哪方面", timeout=WAIT_MS)

    # A quick reply offered by the bot answers its question.
    await frame.locator(".quick-replies button", has_text="服务态度").click()
    await expect(messages).to_contain_text("描述一下", timeout=WAIT_MS)
    await expect(frame.locator(".quick-replies button", has_text="服务态度")).to_be_disabled()

    # Escape closes the panel and gives the focus back to the launcher.
    await frame.locator("#text").focus()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_focused()

    # A reload keeps the session: the conversation so far is shown again.
    await page.reload()
    await focus_launcher_by_keyboard(page)
    await page.keyboard.press("Enter")
    frame = page.frame_locator("#hd-widget-frame")
    messages = frame.locator("#messages")
    for shown in ("你好", "您好", "我想投诉", "投诉的是哪方面", "服务态度", "描述一下"):
        await expect(messages).to_contain_text(shown, timeout=WAIT_MS)
    assert "complaint" not in await messages.inner_text()  # a chosen reply shows its title

    # A claim document, from the keyboard: the attach button opens the form.
    await frame.locator("#attach").focus()
    await page.keyboard.press("Enter")
    await expect(frame.locator("#upload")).to_be_visible()
    await expect(frame.locator("#file")).to_be_focused()
    await expect(frame.locator("#claims-note")).to_contain_text("完成身份验证后")
    await expect(frame.locator("#claim")).to_be_disabled()
    document = tmp_path / "住院发票.pdf"
    document.write_bytes(PDF)
    await frame.locator("#file").set_input_files(document)
    await frame.locator("#upload-submit").click()
    await expect(frame.locator("#upload-status")).to_have_text("已上传:住院发票.pdf")
    await expect(frame.locator("#messages li.customer.file")).to_contain_text("住院发票.pdf")
    await expect(messages).to_contain_text("已收到您发送的文件", timeout=WAIT_MS)

    # A program renamed to .pdf is refused, with a clear message, and not kept.
    disguised = tmp_path / "理赔申请.pdf"
    disguised.write_bytes(EXE)
    await frame.locator("#file").set_input_files(disguised)
    await frame.locator("#upload-submit").click()
    await expect(frame.locator("#upload-error")).to_have_text(
        "不支持这种文件,只能发送 JPG, PNG, PDF。"
    )
    rows = store_rows(
        stack,
        "SELECT d.name, d.mime, d.size, c.channel FROM documents d"
        " JOIN conversations c ON c.id = d.conversation_id"
        " WHERE d.name IN ('住院发票.pdf', '理赔申请.pdf')",
    )
    assert rows == [("住院发票.pdf", "application/pdf", len(PDF), "web")]

    # Escape closes the upload form first, then the panel.
    await page.keyboard.press("Escape")
    await expect(frame.locator("#upload")).to_be_hidden()
    await expect(frame.locator("#attach")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_focused()
    assert page.dialogs == [] and page.errors == []


async def test_the_widget_in_english(browser, site):
    page = await new_page(browser, locale="en-GB")
    await page.goto(site + "/?lang=en")
    launcher = page.locator("#hd-widget-launcher")
    await expect(launcher).to_have_attribute("aria-label", "Open the online service chat")
    await launcher.click()
    await expect(page.locator("#hd-widget-frame")).to_have_attribute(
        "title", "Health insurance service chat"
    )
    frame = page.frame_locator("#hd-widget-frame")
    await expect(frame.locator("h1")).to_have_text("Health insurance service")
    await expect(frame.locator("#text")).to_have_attribute("placeholder", "Type your question…")
    await expect(frame.locator("#attach")).to_have_attribute("aria-label", "Send claim documents")
    await expect(frame.locator("#status")).to_have_text("Online")
    await frame.locator("#close").click()
    await expect(page.locator("#hd-widget-panel")).to_be_hidden()
    await expect(launcher).to_be_focused()


async def test_rasa_webchat_from_npm_works_unchanged(browser, site, stack: Stack):
    assert RASA_WEBCHAT.exists(), "rasa-webchat is missing: run `make setup` (npm ci)"
    page = await new_page(browser)
    await page.goto(site + "/rasa-webchat")
    await page.locator(".rw-launcher").click()
    # its initPayload is answered
    await expect(page.locator(".rw-response").first).to_be_visible(timeout=WAIT_MS)
    await page.locator(".rw-new-message").fill("我想投诉")
    await page.locator(".rw-new-message").press("Enter")
    conversation = page.locator(".rw-messages-container")
    await expect(conversation).to_contain_text("投诉的是哪方面", timeout=WAIT_MS)
    reply = page.locator(".rw-reply", has_text="服务态度")
    await expect(reply).to_be_visible(timeout=WAIT_MS)
    await reply.click()
    await expect(conversation).to_contain_text("描述一下", timeout=WAIT_MS)
    session_id = await page.evaluate(
        "() => JSON.parse(localStorage.getItem('chat_session') || '{}').session_id"
    )
    assert session_id and re.fullmatch(r"[\w-]{16,64}", session_id)
    [(channel, customer_messages)] = store_rows(
        stack,
        "SELECT c.channel, count(m.id) FROM conversations c JOIN messages m"
        " ON m.conversation_id = c.id AND m.sender = 'customer'"
        " WHERE c.external_user_id = ? GROUP BY c.id",
        session_id,
    )
    assert channel == "web" and customer_messages == 3  # its greeting, the text, the reply
    assert page.dialogs == []
