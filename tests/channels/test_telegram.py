"""The Telegram channel against the real app and a local fake of the Bot API:
updates shaped as Telegram sends them, replies as Telegram receives them."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from desk.texts import REFUSALS
from tests.channels.fake_providers import BOT_TOKEN, WEBHOOK_SECRET, FakeTelegram, Updates

LONG_PAYLOAD = '/inform{"claim_kind": "inpatient", "hospital": "上海交通大学医学院附属瑞金医院"}'
BUTTONS = [
    {"title": "门诊", "payload": '/inform{"claim_kind": "outpatient"}'},
    {"title": "住院 瑞金医院", "payload": LONG_PAYLOAD},
]


@pytest.fixture
async def telegram():
    fake = await FakeTelegram().start()
    yield fake
    await fake.close()


@pytest.fixture
async def desk(channel_app, telegram):
    return await channel_app(
        telegram_bot_token=BOT_TOKEN,
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_api_base_url=telegram.base,
    )


async def post(desk, update, secret: str | None = WEBHOOK_SECRET, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = raw if raw is not None else json.dumps(update).encode()
    return await desk.client.post(WEBHOOK_PATH, data=data, headers=headers)


def customer_messages(desk) -> list[tuple]:
    return desk.rows(
        "SELECT m.seq, m.text, m.payload, m.client_message_id FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.channel = 'telegram' AND m.sender = 'customer' ORDER BY m.id"
    )


async def until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def test_the_webhook_takes_updates_only_with_the_secret_token(desk, telegram):
    chat = Updates()
    assert (await post(desk, chat.text("你好"), secret="wrong-secret")).status == 403
    assert (await post(desk, chat.text("你好"), secret=None)).status == 403
    assert (await post(desk, chat.text("你好"), secret="")).status == 403
    assert customer_messages(desk) == []
    assert (await post(desk, chat.text("你好"))).status == 200
    assert [row[1] for row in customer_messages(desk)] == ["你好"]


async def test_no_secret_no_webhook(channel_app, telegram, caplog):
    without_secret = await channel_app(
        telegram_bot_token=BOT_TOKEN, telegram_api_base_url=telegram.base
    )
    assert "TELEGRAM_WEBHOOK_SECRET is empty" in caplog.text
    assert (await post(without_secret, Updates().text("hi"))).status == 404
    switched_off = await channel_app()
    assert (await post(switched_off, Updates().text("hi"))).status == 404
    assert "telegram" not in switched_off.service.channels


async def test_a_text_is_answered_through_send_message(desk, telegram, fake_rasa):
    chat = Updates(chat_id=5551)
    assert (await post(desk, chat.text("我的保单什么时候到期"))).status == 200
    sent = await telegram.wait_sent(5551)
    assert sent[0]["text"] == "echo: 我的保单什么时候到期"
    assert "reply_markup" not in sent[0]
    assert [text for _, text in fake_rasa.received] == ["我的保单什么时候到期"]
    # The profile Telegram gave is kept on the channel identity.
    (profile,) = desk.rows(
        "SELECT profile FROM channel_identities WHERE channel = 'telegram' AND external_id = ?",
        "5551",
    )[0]
    assert json.loads(profile) == {"name": "Wei Zhang", "language": "zh"}


async def test_start_opens_the_conversation_with_the_welcome(desk, telegram, fake_rasa):
    chat = Updates(chat_id=5552, language_code="en")
    assert (await post(desk, chat.text("/start"))).status == 200
    sent = await telegram.wait_sent(5552)
    assert sent[0]["text"]  # the welcome, said by the gateway
    assert desk.rows(
        "SELECT m.sender FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.external_user_id = '5552'"
    ) == [("system",)]
    assert fake_rasa.received == []  # /start is not a message for the bot


async def test_buttons_become_an_inline_keyboard_and_a_press_reaches_the_bot(
    desk, telegram, fake_rasa
):
    fake_rasa.replies["我要理赔"] = [{"text": "请选择理赔类型", "buttons": BUTTONS}]
    chat = Updates(chat_id=5553)
    await post(desk, chat.text("我要理赔"))
    (sent,) = await telegram.wait_sent(5553)
    assert sent["text"] == "请选择理赔类型"
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [["门诊"], ["住院 瑞金医院"]]
    # A payload that fits Telegram's 64 bytes goes as it is; a longer one by reference.
    assert keyboard[0][0]["callback_data"] == BUTTONS[0]["payload"]
    long_data = keyboard[1][0]["callback_data"]
    assert long_data.startswith("#m:") and len(long_data.encode()) <= 64

    press = chat.callback(long_data)
    assert (await post(desk, press)).status == 200
    await until(lambda: len(fake_rasa.received) == 2)
    assert fake_rasa.received[-1][1] == LONG_PAYLOAD
    await until(lambda: telegram.answered() == [press["callback_query"]["id"]])
    assert [row[1] for row in customer_messages(desk)] == ["我要理赔", LONG_PAYLOAD]

    # A reference to a message that is not this chat's is not followed.
    stranger = Updates(chat_id=9999)
    await post(desk, stranger.callback(long_data))
    await until(lambda: len(telegram.answered()) == 2)
    assert len(fake_rasa.received) == 2

    # A press in a group the bot is in is not a customer's: answered, never stored.
    in_group = chat.callback(BUTTONS[0]["payload"])
    in_group["callback_query"]["message"]["chat"]["type"] = "group"
    await post(desk, in_group)
    await until(lambda: len(telegram.answered()) == 3)
    assert [row[1] for row in customer_messages(desk)] == ["我要理赔", LONG_PAYLOAD]
    assert len(fake_rasa.received) == 2


async def test_a_redelivered_update_is_stored_once(desk, telegram, fake_rasa):
    update = Updates(chat_id=5554).text("在吗")
    assert (await post(desk, update)).status == 200
    assert (await post(desk, update)).status == 200
    await desk.settle()  # the bot's turn and the delivery of its answer are over
    rows = customer_messages(desk)
    assert [(row[1], row[3]) for row in rows] == [("在吗", str(update["update_id"]))]
    assert len(fake_rasa.received) == 1
    assert telegram.texts(5554) == ["echo: 在吗"]


async def test_a_photo_is_stored_as_an_attachment_agents_can_open(desk, telegram):
    chat = Updates(chat_id=5555)
    update = chat.photo(caption="发票", file_id="AgACAgIAAxk-receipt")
    telegram.files["AgACAgIAAxk-receipt"] = b"\xff\xd8\xff\xe0 a jpeg"
    assert (await post(desk, update)).status == 200
    ((_, text, payload, _),) = await until(lambda: customer_messages(desk))
    attachment = json.loads(payload)["attachment"]
    assert text == "发票"
    assert attachment == {
        "type": "image",
        "url": "/channels/telegram/files/5555/AgACAgIAAxk-receipt",
        "name": "photo.jpg",
        "mime": "image/jpeg",
        "size": 81234,  # the largest size Telegram offered
    }
    # The file comes from Telegram through us, for agents only (no bot token leaks).
    assert (await desk.client.get(attachment["url"])).status == 401
    login = await desk.client.post(
        "/api/v1/auth/login", json={"username": "supervisor1", "password": "pw"}
    )
    token = (await login.json())["token"]
    response = await desk.client.get(
        attachment["url"], headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert await response.read() == b"\xff\xd8\xff\xe0 a jpeg"
    trainer = await desk.client.post(
        "/api/v1/auth/login", json={"username": "trainer1", "password": "pw"}
    )
    refused = await desk.client.get(
        attachment["url"], headers={"Authorization": f"Bearer {(await trainer.json())['token']}"}
    )
    assert refused.status == 404
    # Seeing this chat opens its own files, not any file Telegram holds for the bot.
    telegram.files["AgACAgIAAxk-someone-elses"] = b"\xff\xd8\xff\xe0 another"
    other = await desk.client.get(
        "/channels/telegram/files/5555/AgACAgIAAxk-someone-elses",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert other.status == 404


async def test_a_document_is_stored_as_a_file(desk, telegram):
    await post(desk, Updates(chat_id=5556).document("住院小结.pdf"))
    ((_, text, payload, _),) = await until(lambda: customer_messages(desk))
    assert text is None
    attachment = json.loads(payload)["attachment"]
    assert attachment["type"] == "file"
    assert attachment["name"] == "住院小结.pdf"
    assert attachment["mime"] == "application/pdf"


async def test_a_sticker_gets_a_polite_refusal(desk, telegram):
    chat = Updates(chat_id=5557, language_code="en")
    assert (await post(desk, chat.sticker())).status == 200
    (sent,) = await telegram.wait_sent(5557)
    assert sent["text"] == REFUSALS["unsupported"][1]
    assert customer_messages(desk) == []


async def test_malformed_oversized_and_other_updates(desk, telegram):
    chat = Updates(chat_id=5558)
    assert (await post(desk, None, raw=b"{not json")).status == 400
    assert (await post(desk, [1, 2])).status == 400
    assert (await post(desk, {"update_id": "7", "message": {}})).status == 400
    assert (await post(desk, {"update_id": 7, "message": {"text": "no chat"}})).status == 400
    assert (await post(desk, {"update_id": 8, "callback_query": {"data": "x"}})).status == 400
    big = chat.text("x" * (70 * 1024))
    assert (await post(desk, big)).status == 413
    # Kinds we do not handle are taken (Telegram must not redeliver them) and ignored.
    assert (await post(desk, chat.edited("改一下"))).status == 200
    assert (await post(desk, {"update_id": 9, "poll": {"id": "1"}})).status == 200
    group = chat.text("group chat")
    group["message"]["chat"] = {"id": -100123, "type": "group", "title": "family"}
    assert (await post(desk, group)).status == 200
    await desk.settle()  # nothing was set going that could still store or send
    assert customer_messages(desk) == []
    assert telegram.attempts == []


async def test_a_failed_send_is_retried_by_housekeeping_and_delivered_once_in_order(
    desk, telegram, fake_rasa
):
    fake_rasa.replies["你好"] = [{"text": "第一条"}, {"text": "第二条"}]
    telegram.failures = [(500, "Internal Server Error", None)]
    await post(desk, Updates(chat_id=5559).text("你好"))
    await desk.settle()
    # The first message failed, so the second was not tried: both wait for the retry.
    assert [body["text"] for body in telegram.attempts] == ["第一条"]
    assert telegram.sent(5559) == []
    assert desk.rows(
        "SELECT delivered_seq, delivery_attempts, delivery_error FROM conversations"
    ) == [(0, 1, "sendMessage: 500 Internal Server Error")]
    due = await desk.delivery_due()
    await desk.housekeeping(due - timedelta(microseconds=1))
    assert len(telegram.attempts) == 1  # not due yet
    await desk.housekeeping(due)
    assert telegram.texts(5559) == ["第一条", "第二条"]
    for hours in (1, 2, 3):  # later rounds have nothing left to send
        await desk.housekeeping(due + timedelta(hours=hours))
    assert telegram.texts(5559) == ["第一条", "第二条"]
    assert len(telegram.attempts) == 3
    assert desk.rows("SELECT delivered_seq, last_seq, delivery_error FROM conversations") == [
        (3, 3, None)
    ]


async def test_too_many_requests_waits_as_long_as_telegram_asks(desk, telegram, fake_rasa):
    telegram.failures = [(429, "Too Many Requests: retry after 600", 600)]
    chat = Updates(chat_id=5560)
    before = datetime.now(UTC)
    await post(desk, chat.text("hello"))
    await desk.settle()
    after = datetime.now(UTC)
    assert len(telegram.attempts) == 1 and telegram.sent(5560) == []
    # The retry is due when Telegram said, no sooner.
    due = await desk.delivery_due()
    assert before + timedelta(seconds=600) <= due <= after + timedelta(seconds=600)
    # A new answer meanwhile is held back too: the chat waits as a whole.
    await post(desk, chat.text("again"))
    await desk.settle()
    assert len(telegram.attempts) == 1
    await desk.housekeeping(due - timedelta(microseconds=1))
    assert len(telegram.attempts) == 1
    await desk.housekeeping(due)
    assert telegram.texts(5560) == ["echo: hello", "echo: again"]
    assert len(telegram.attempts) == 3


async def test_a_user_who_blocked_the_bot_is_not_retried(desk, telegram, fake_rasa):
    chat = Updates(chat_id=5561)
    telegram.blocked.add(5561)
    await post(desk, chat.text("hi"))
    failed = await until(
        lambda: desk.rows("SELECT data FROM events WHERE kind = 'delivery_failed'"), 5
    )
    data = json.loads(failed[0][0])
    assert data["permanent"] is True and "blocked" in data["reason"]
    await desk.settle()
    now = datetime.now(UTC)
    for hours in (0, 1, 24):  # housekeeping rounds, now and much later: none tries again
        await desk.housekeeping(now + timedelta(hours=hours))
    assert len(telegram.attempts) == 1
    assert desk.rows("SELECT delivered_seq, last_seq, delivery_due_at FROM conversations") == [
        (2, 2, None)
    ]
    # Telegram also tells us the user blocked the bot: recorded, nothing sent.
    assert (await post(desk, chat.blocked_by_user())).status == 200
    await until(lambda: desk.rows("SELECT 1 FROM events WHERE kind = 'unsubscribed'"))
