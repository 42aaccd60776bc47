"""The WeChat Official Account channel at the protocol level: requests signed and
shaped as WeChat sends them (tests/channels/fake_wechat.py), against the real app,
its store and a scripted Rasa; replies later than the passive window go to a local
fake of WeChat's customer-service API."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from aiohttp import web

from channels import wechat
from store.models import Agent, AgentRole
from tests.channels.fake_wechat import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeWeChatAPI,
    WeChatPush,
    event_xml,
    message_xml,
    text_xml,
)
from tests.passwords import password_hash

OPENID = "oV3kq5Hx2yS9dLmN0pQrStUvWxY1"
PATH = "/channels/wechat"
BUTTONS = [
    {"title": "住院医疗", "payload": '/inform{"claim_kind": "inpatient"}'},
    {"title": "门诊", "payload": '/inform{"claim_kind": "outpatient"}'},
]


@pytest.fixture
async def wechat_api():
    api = await FakeWeChatAPI().start()
    yield api
    await api.stop()


@pytest.fixture
def start(wechat_api, channel_app):
    """The app with the WeChat channel on (plain mode unless a key is given); the
    fake API outlives the app, which may still be sending when the test ends."""

    async def start(**overrides):
        settings = {
            "wechat_token": TOKEN,
            "wechat_app_id": APP_ID,
            "wechat_app_secret": APP_SECRET,
            "wechat_api_base_url": wechat_api.base,
            "wechat_passive_reply_seconds": 2.0,
            **overrides,
        }
        return await channel_app(**settings)

    return start


async def post(app, push: WeChatPush, xml: str, openid: str = OPENID, **sign):
    signed = push.message(xml, openid, **sign)
    response = await app.client.post(
        PATH, params=signed.params, data=signed.body.encode(), headers={"Content-Type": "text/xml"}
    )
    return response.status, await response.text()


async def reply_of(app, push: WeChatPush, xml: str, openid: str = OPENID) -> str | None:
    """The passive reply's text, or None for WeChat's "success" (no reply)."""
    status, body = await post(app, push, xml, openid)
    assert status == 200, body
    if body == "success":
        return None
    reply = push.open_reply(body)
    assert reply["MsgType"] == "text"
    assert reply["ToUserName"] == openid
    assert reply["FromUserName"].startswith("gh_")
    return reply["Content"]


async def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def messages(app) -> list[tuple]:
    return app.rows("SELECT seq, sender, text, client_message_id FROM messages ORDER BY id")


# ---- server URL verification -------------------------------------------------------


async def test_url_verification_echoes_echostr(start):
    app = await start()
    push = WeChatPush()
    response = await app.client.get(PATH, params=push.verification("4815162342abcdef"))
    assert response.status == 200
    assert await response.text() == "4815162342abcdef"
    assert response.content_type == "text/plain"


async def test_url_verification_with_a_wrong_signature_is_refused(start):
    app = await start()
    params = WeChatPush(token="not-our-token").verification("4815162342")
    response = await app.client.get(PATH, params=params)
    assert response.status == 403
    assert "4815162342" not in await response.text()
    stale = WeChatPush().verification("4815162342", timestamp=int(time.time()) - 3600)
    assert (await app.client.get(PATH, params=stale)).status == 403


async def test_channel_is_off_without_a_token(channel_app):
    app = await channel_app()
    response = await app.client.get(PATH, params=WeChatPush().verification("x"))
    assert response.status == 404


# ---- messages and passive replies ----------------------------------------------------


async def test_text_gets_the_bots_answer_as_the_passive_reply(start, fake_rasa, wechat_api):
    app = await start()
    fake_rasa.replies["我的理赔到哪一步了?"] = [{"text": "请提供您的理赔案件号,我帮您查询进度。"}]
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "我的理赔到哪一步了?", 6200001))
    assert answer == "请提供您的理赔案件号,我帮您查询进度。"
    assert fake_rasa.received[-1][1] == "我的理赔到哪一步了?"
    assert messages(app) == [
        (1, "customer", "我的理赔到哪一步了?", "6200001"),
        (2, "bot", "请提供您的理赔案件号,我帮您查询进度。", None),
    ]
    # Answered passively: once the reply is written nothing is owed (the request
    # moves the cursor after writing it), and nothing went by the API.
    await eventually(lambda: app.rows("SELECT delivered_seq FROM conversations") == [(2,)])
    assert wechat_api.send_requests == []
    assert app.rows("SELECT delivered_seq, channel, external_user_id FROM conversations") == [
        (2, "wechat", OPENID)
    ]


async def test_several_bot_messages_make_one_reply(start, fake_rasa, wechat_api):
    app = await start()
    fake_rasa.replies["你好"] = [{"text": "您好!"}, {"text": "请问有什么可以帮您?"}]
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "你好", 6200011))
    assert answer == "您好!\n\n请问有什么可以帮您?"
    assert wechat_api.send_requests == []


async def test_buttons_become_numbered_options_and_a_number_picks_one(start, fake_rasa):
    app = await start()
    push = WeChatPush()
    fake_rasa.replies["我要报销"] = [{"text": "请选择理赔类型", "buttons": BUTTONS}]
    answer = await reply_of(app, push, text_xml(OPENID, "我要报销", 6200021))
    assert answer == "请选择理赔类型\n回复 1:住院医疗\n回复 2:门诊"
    fake_rasa.replies[BUTTONS[1]["payload"]] = [{"text": "好的,门诊理赔需要发票和病历。"}]
    answer = await reply_of(app, push, text_xml(OPENID, "2", 6200022))
    assert fake_rasa.received[-1][1] == BUTTONS[1]["payload"]
    assert answer == "好的,门诊理赔需要发票和病历。"


async def test_a_slow_bot_answers_by_the_customer_service_api(start, fake_rasa, wechat_api):
    app = await start(wechat_passive_reply_seconds=0.3)
    fake_rasa.hold()
    fake_rasa.replies["等待期是多久?"] = [{"text": "一般医疗险的等待期是30天。"}]
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "等待期是多久?", 6200031))
    assert answer is None  # "success": WeChat shows nothing and does not retry
    assert fake_rasa.answered == 0  # answered within WeChat's window, not after the bot
    assert wechat_api.send_requests == []
    fake_rasa.release()
    await eventually(lambda: wechat_api.sent)
    assert wechat_api.sent == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "一般医疗险的等待期是30天。"}}
    ]
    assert [q["appid"] for q in wechat_api.token_requests] == [APP_ID]
    assert wechat_api.token_requests[0]["grant_type"] == "client_credential"
    assert wechat_api.send_requests[0]["access_token"] in wechat_api.valid_tokens


async def test_an_answer_too_long_for_one_reply_sends_the_rest_after_it(
    start, fake_rasa, wechat_api
):
    app = await start()
    first, second = "甲" * 500, "乙" * 500  # 1500 bytes each: one reply holds one
    fake_rasa.replies["详细说明"] = [{"text": first}, {"text": second}]
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "详细说明", 6200041))
    assert answer == first
    await eventually(lambda: wechat_api.sent)
    assert wechat_api.texts_to(OPENID) == [second]


async def test_a_message_longer_than_a_reply_goes_in_parts_resuming_after_a_failure(
    start, fake_rasa, wechat_api
):
    app = await start()
    long = "丙" * 700  # 2100 bytes: more than one reply, two customer-service texts
    fake_rasa.replies["条款全文"] = [{"text": long}]
    wechat_api.fail_next(0, -1)  # the first part goes, the second fails once
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "条款全文", 6200045))
    assert answer is None
    # Pushed by the request itself once it has answered: wait for the failure.
    await eventually(lambda: app.rows("SELECT delivery_error FROM conversations")[0][0])
    assert wechat_api.texts_to(OPENID) == ["丙" * 600]
    assert len(wechat_api.send_requests) == 2
    due = await app.delivery_due()
    await app.housekeeping(due - timedelta(microseconds=1))
    assert len(wechat_api.send_requests) == 2  # not due yet
    await app.housekeeping(due)  # resumes with the second part
    for hours in (1, 2, 3):  # later rounds: nothing is owed any more
        await app.housekeeping(due + timedelta(hours=hours))
    assert wechat_api.texts_to(OPENID) == ["丙" * 600, "丙" * 100]
    assert len(wechat_api.send_requests) == 3


async def test_reply_text_cannot_break_out_of_the_xml(start, fake_rasa):
    app = await start()
    text = "a]]></Content><MsgType><![CDATA[news]]></MsgType><Content><![CDATA[b"
    assert await reply_of(app, WeChatPush(), text_xml(OPENID, text, 6200046)) == "echo: " + text
    fake_rasa.replies["控制字符"] = [{"text": "第一行\x01\x1b第二行"}]
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "控制字符", 6200047))
    assert answer == "第一行第二行"


async def test_an_agents_reply_after_handoff_goes_by_the_api(start, fake_rasa, wechat_api):
    app = await start()
    service = app.service
    async with service.sessions.begin() as session:
        agent = Agent(
            username="wx_agent",
            display_name="王芳",
            role=AgentRole.AGENT,
            team="general",
            password_hash=password_hash("x"),
        )
        session.add(agent)
    await service.set_presence(agent.id, "online")
    fake_rasa.replies["转人工"] = [
        {"text": "好的,正在为您转接人工客服。"},
        {"custom": {"handoff": {"reason": "request_human", "summary": "客户要求人工"}}},
    ]
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "转人工", 6200051))
    assert answer.startswith("好的,正在为您转接人工客服。")
    conversation = await service.find("wechat", OPENID)
    assert conversation.state == "queued"
    await service.assign(conversation.id, agent)
    await service.agent_message(conversation.id, agent, "您好,我是王芳,请问有什么可以帮您?")
    await eventually(lambda: "您好,我是王芳,请问有什么可以帮您?" in wechat_api.texts_to(OPENID))
    # The customer's answer goes to the agent, not the bot, and is not answered passively.
    asked = len(fake_rasa.received)
    answer = await reply_of(app, WeChatPush(), text_xml(OPENID, "我想查一下住院理赔", 6200052))
    assert answer is None
    assert len(fake_rasa.received) == asked
    assert messages(app)[-1][1:3] == ("customer", "我想查一下住院理赔")


async def production_listener(app) -> tuple[int, web.Server, web.ServerRunner]:
    """Another listener on the running app that, like `web.run_app` in production,
    lets a request's handler run on when the caller hangs up (the test server
    cancels the handler instead)."""
    server = app.app._make_handler(handler_cancellation=False)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return port, server, runner


async def test_a_passive_reply_wechat_hung_up_on_is_still_owed(
    start, fake_rasa, wechat_api, monkeypatch, caplog
):
    """WeChat gives up on a request (its 5 s are over, the network broke) while the
    bot is answering: the reply cannot be written, so its answer is still owed. It
    goes by the customer-service API, through the cursor: retried when WeChat's API
    is busy, and delivered once."""
    monkeypatch.setattr(wechat, "REPLY_DEADLINE_SECONDS", 60)  # never too late here
    app = await start(wechat_passive_reply_seconds=4.9)
    port, server, runner = await production_listener(app)
    try:
        fake_rasa.hold()
        signed = WeChatPush().message(text_xml(OPENID, "理赔多久到账?", 6200071), OPENID)
        body = signed.body.encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST {PATH}?{urlencode(signed.params)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        await eventually(lambda: fake_rasa.received)  # the bot is on it
        [connection] = server.connections
        writer.close()  # WeChat hangs up
        await writer.wait_closed()
        await eventually(lambda: connection.transport is None)  # and we notice
        wechat_api.fail_next(-1)  # WeChat's API is busy the first time
        with caplog.at_level(logging.WARNING, logger="channels.wechat"):
            fake_rasa.release()
            await eventually(lambda: app.rows("SELECT delivery_error FROM conversations")[0][0])
        assert "WeChat hung up before our reply" in caplog.text
        assert len(wechat_api.send_requests) == 1 and wechat_api.sent == []
        due = await app.delivery_due()
        await app.housekeeping(due)
        for hours in (1, 2):  # later rounds: nothing is owed any more
            await app.housekeeping(due + timedelta(hours=hours))
        assert wechat_api.texts_to(OPENID) == ["echo: 理赔多久到账?"]
        assert len(wechat_api.send_requests) == 2
        assert app.rows("SELECT delivered_seq, delivery_lease FROM conversations") == [(2, None)]
    finally:
        await runner.cleanup()


async def test_wechats_retry_of_a_message_is_stored_once_and_answered_once(
    start, fake_rasa, wechat_api
):
    app = await start()
    push = WeChatPush()
    xml = text_xml(OPENID, "保单怎么续保?", 6200061)
    assert await reply_of(app, push, xml) == "echo: 保单怎么续保?"
    # WeChat's retries carry the same MsgId, with signatures of their own.
    assert await reply_of(app, push, xml) is None
    assert await reply_of(app, push, xml) is None
    assert [m[1:] for m in messages(app)] == [
        ("customer", "保单怎么续保?", "6200061"),
        ("bot", "echo: 保单怎么续保?", None),
    ]
    assert [text for _, text in fake_rasa.received] == ["保单怎么续保?"]
    assert wechat_api.send_requests == []


async def test_image_is_stored_as_an_attachment(start, fake_rasa):
    app = await start()
    xml = message_xml(
        "image",
        OPENID,
        6200071,
        PicUrl="http://mmbiz.qpic.cn/mmbiz_jpg/abc123/0",
        MediaId="M3d1aIdXyZ",
    )
    answer = await reply_of(app, WeChatPush(), xml)
    assert "已收到您发送的文件" in answer
    assert fake_rasa.received == []
    (payload,) = app.rows("SELECT payload FROM messages WHERE sender = 'customer'")[0]
    assert "http://mmbiz.qpic.cn/mmbiz_jpg/abc123/0" in payload
    assert "M3d1aIdXyZ" in payload


async def test_subscribe_is_welcomed_and_unsubscribe_recorded(start, wechat_api):
    app = await start()
    push = WeChatPush()
    created = int(time.time())
    answer = await reply_of(app, push, event_xml(OPENID, "subscribe", created))
    assert answer.startswith("您好,欢迎来到健康险在线服务")
    assert messages(app)[0][1] == "system"
    assert await reply_of(app, push, event_xml(OPENID, "unsubscribe")) is None
    assert app.rows("SELECT kind FROM events WHERE kind = 'unsubscribed'") == [("unsubscribed",)]
    assert wechat_api.send_requests == []


async def test_unsupported_voice_gets_a_polite_refusal_and_nothing_is_stored(start, fake_rasa):
    app = await start()
    xml = message_xml("voice", OPENID, 6200081, MediaId="V01ce", Format="amr")
    answer = await reply_of(app, WeChatPush(), xml)
    assert "只能处理文字和图片" in answer
    assert "only handle text and pictures" in answer
    assert messages(app) == []
    assert fake_rasa.received == []


async def test_safe_mode_round_trip(start, fake_rasa, wechat_api):
    app = await start(wechat_encoding_aes_key=AES_KEY)
    push = WeChatPush(aes_key=AES_KEY)
    fake_rasa.replies["犹豫期是多久?"] = [{"text": "犹豫期为15天,期间退保全额退还保费。"}]
    status, body = await post(app, push, text_xml(OPENID, "犹豫期是多久?", 6200091))
    assert status == 200
    assert "犹豫期" not in body and "<Encrypt>" in body  # encrypted on the wire
    assert push.open_reply(body)["Content"] == "犹豫期为15天,期间退保全额退还保费。"
    assert messages(app)[0][2] == "犹豫期是多久?"
    # In safe mode a plain message (signed, but its body not) is refused.
    status, _ = await post(app, WeChatPush(), text_xml(OPENID, "明文", 6200092))
    assert status == 403
    # A tampered encrypted body fails msg_signature.
    signed = push.message(text_xml(OPENID, "篡改", 6200093), OPENID)
    signed.params["msg_signature"] = "0" * 40
    response = await app.client.post(PATH, params=signed.params, data=signed.body.encode())
    assert response.status == 403
    assert len(messages(app)) == 2


async def test_safe_mode_verification(start):
    app = await start(wechat_encoding_aes_key=AES_KEY)
    response = await app.client.get(PATH, params=WeChatPush().verification("1234567890"))
    assert response.status == 200
    assert await response.text() == "1234567890"
    # When the echostr comes encrypted and signed by msg_signature, we echo it decrypted.
    push = WeChatPush(aes_key=AES_KEY)
    response = await app.client.get(PATH, params=push.encrypted_verification("9876543210"))
    assert response.status == 200
    assert await response.text() == "9876543210"
    params = push.encrypted_verification("9876543210")
    params["msg_signature"] = "f" * 40
    assert (await app.client.get(PATH, params=params)).status == 403


# ---- bad input -------------------------------------------------------------------------

XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName><![CDATA[gh_3f6c1a2b9d0e]]></ToUserName>"
    f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<xml><Content>&lol2;</Content></xml>"
)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong signature", 403),
        ("unsigned", 403),
        ("stale timestamp", 403),
        ("future timestamp", 403),
        ("replayed nonce", 403),
        ("malformed XML", 400),
        ("not WeChat's XML", 400),
        ("external entity", 400),
        ("entity expansion", 400),
        ("oversize", 413),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_stored(
    start, fake_rasa, wechat_api, case, status
):
    app = await start()
    push = WeChatPush()
    xml = text_xml(OPENID, "你好", 6200101)
    signed = push.message(xml, OPENID)
    body = signed.body
    if case == "wrong signature":
        signed = WeChatPush(token="guessed").message(xml, OPENID)
    elif case == "unsigned":
        signed.params = {"openid": OPENID}
    elif case == "stale timestamp":
        signed = push.message(xml, OPENID, timestamp=int(time.time()) - 301)
    elif case == "future timestamp":
        signed = push.message(xml, OPENID, timestamp=int(time.time()) + 301)
    elif case == "replayed nonce":
        # The original request went through; the same signed pair again, with
        # another body, must not.
        assert (await post(app, push, xml, **_pair(signed)))[0] == 200
        body = text_xml(OPENID, "转账给我", 6200102)
    elif case == "malformed XML":
        body = "<xml><ToUserName><![CDATA[gh_3f6c1a2b9d0e]]></ToUserName><MsgType>text"
    elif case == "not WeChat's XML":
        body = "<note><to>x</to></note>"
    elif case == "external entity":
        body = XXE
    elif case == "entity expansion":
        body = LAUGHS
    elif case == "oversize":
        body = text_xml(OPENID, "长" * 30000, 6200103)
    before = messages(app)
    response = await app.client.post(PATH, params=signed.params, data=body.encode())
    assert response.status == status
    assert "success" not in await response.text()
    assert messages(app) == before
    if case != "replayed nonce":
        assert messages(app) == []
        assert app.rows("SELECT count(*) FROM conversations") == [(0,)]
        assert fake_rasa.received == []


def _pair(signed) -> dict:
    return {"timestamp": int(signed.params["timestamp"]), "nonce": signed.params["nonce"]}


async def test_a_flood_is_told_once_then_quietly_refused(start, fake_rasa):
    app = await start(channel_burst=2, channel_messages_per_minute=1)
    push = WeChatPush()
    answers = [
        await reply_of(app, push, text_xml(OPENID, f"第{n}条", 6200200 + n)) for n in range(5)
    ]
    assert answers[:2] == ["echo: 第0条", "echo: 第1条"]
    assert "太快" in answers[2]
    assert answers[3:] == [None, None]
    assert len([m for m in messages(app) if m[1] == "customer"]) == 2


# ---- the customer-service API -----------------------------------------------------


async def test_a_failed_send_is_retried_by_housekeeping_and_delivered_once(
    start, fake_rasa, wechat_api
):
    app = await start(wechat_passive_reply_seconds=0.2)
    fake_rasa.hold()
    wechat_api.fail_next(-1)  # "system busy"
    assert await reply_of(app, WeChatPush(), text_xml(OPENID, "理赔材料有哪些?", 6200301)) is None
    fake_rasa.release()
    await app.settle()  # the bot answered late; pushing its answer failed once
    assert len(wechat_api.send_requests) == 1 and wechat_api.sent == []
    due = await app.delivery_due()
    await app.housekeeping(due - timedelta(microseconds=1))
    assert len(wechat_api.send_requests) == 1  # not due yet
    await app.housekeeping(due)
    for hours in (1, 2, 3):  # later rounds: nothing is owed any more
        await app.housekeeping(due + timedelta(hours=hours))
    assert wechat_api.texts_to(OPENID) == ["echo: 理赔材料有哪些?"]
    assert len(wechat_api.send_requests) == 2
    assert app.rows("SELECT delivered_seq, delivery_attempts FROM conversations") == [(2, 0)]


async def test_an_expired_token_is_renewed_and_the_message_sent(start, fake_rasa, wechat_api):
    app = await start(wechat_passive_reply_seconds=0.2)
    push = WeChatPush()
    fake_rasa.hold()
    assert await reply_of(app, push, text_xml(OPENID, "一", 6200401)) is None
    fake_rasa.release()
    await eventually(lambda: len(wechat_api.sent) == 1)
    wechat_api.expire_tokens()
    fake_rasa.hold()
    assert await reply_of(app, push, text_xml(OPENID, "二", 6200402)) is None
    fake_rasa.release()
    await eventually(lambda: len(wechat_api.sent) == 2)
    assert wechat_api.texts_to(OPENID) == ["echo: 一", "echo: 二"]
    assert len(wechat_api.token_requests) == 2
    tokens = [r["access_token"] for r in wechat_api.send_requests]
    assert tokens[0] == tokens[1] != tokens[2]


async def test_a_customer_out_of_the_48_hour_window_is_given_up_on(start, fake_rasa, wechat_api):
    app = await start(wechat_passive_reply_seconds=0.2)
    fake_rasa.hold()
    wechat_api.fail_next(45015)
    assert await reply_of(app, WeChatPush(), text_xml(OPENID, "在吗", 6200501)) is None
    fake_rasa.release()
    await eventually(lambda: app.rows("SELECT kind FROM events WHERE kind = 'delivery_failed'"))
    assert len(wechat_api.send_requests) == 1
    assert wechat_api.sent == []
    assert app.rows("SELECT delivered_seq FROM conversations") == [(2,)]
