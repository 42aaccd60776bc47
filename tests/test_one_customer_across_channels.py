"""One customer across channels, for real: a customer verifies in the web chat,
then writes to the insurer's WeChat Official Account (signed as WeChat signs,
its API a local fake) and verifies there; the console shows one customer with
both conversations."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid

import aiohttp
import pytest

from tests.channels.fake_wechat import FakeWeChatAPI, WeChatPush, text_xml
from tests.test_end_to_end import conversation_id, store_rows, verify
from web.stack import AgentApi, Customer, Stack

pytestmark = pytest.mark.stack
MESSAGE_IDS = itertools.count(7_300_000_000_000_000_000)


class WeChatUser:
    """A WeChat user writing to the account: what they read comes in the passive
    reply to their message, or later through the customer-service message API."""

    def __init__(self, stack: Stack, api: FakeWeChatAPI, http: aiohttp.ClientSession):
        self.stack, self.api, self.http = stack, api, http
        self.openid = "o" + uuid.uuid4().hex[:27]
        self.push = WeChatPush()
        self.read: list[str] = []

    async def say(self, text: str, expect: str, timeout: float = 30) -> list[str]:
        signed = self.push.message(text_xml(self.openid, text, next(MESSAGE_IDS)), self.openid)
        async with self.http.post(
            f"{self.stack.base_url}/channels/wechat", params=signed.params, data=signed.body
        ) as response:
            assert response.status == 200, await response.text()
            body = await response.text()
        if body not in ("", "success"):
            self.read.append(self.push.open_reply(body)["Content"])
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            new = self.read + self.api.texts_to(self.openid)
            if any(expect in t for t in new):
                return new
            assert asyncio.get_running_loop().time() < deadline, new
            await asyncio.sleep(0.2)


async def test_a_customer_verified_on_the_web_and_on_wechat_is_one_customer(stack: Stack):
    api = await FakeWeChatAPI().start(port=stack.wechat_api_port)
    try:
        web = Customer(stack.base_url)
        session_id = await web.connect()
        await verify(stack, web, "查一下我的保单")
        await web.disconnect()
        web_conversation = conversation_id(stack, session_id)

        async with aiohttp.ClientSession() as http:
            user = WeChatUser(stack, api, http)
            await user.say("查一下我的保单", "保单号或身份证号")
            [(policy_number,)] = store_rows(
                stack, "SELECT number FROM policies WHERE holder_id=1 ORDER BY id LIMIT 1"
            )
            await user.say(policy_number, "6位验证码")
            [(mobile,)] = store_rows(stack, "SELECT mobile FROM customers WHERE id=1")
            [(sms,)] = store_rows(
                stack,
                "SELECT text FROM sms_outbox WHERE mobile=? ORDER BY id DESC LIMIT 1",
                mobile,
            )
            code = re.search(r"\d{6}", sms).group()
            # verified on WeChat too, the customer gets what they asked for
            read = await user.say(f"验证码 {code}", "保单 P")
            assert any("身份验证成功" in t for t in read)

            [(wechat_conversation, wechat_customer, wechat_contact)] = store_rows(
                stack,
                "SELECT id, customer_id, contact_id FROM conversations "
                "WHERE channel='wechat' AND external_user_id=?",
                user.openid,
            )
            [(web_customer, web_contact)] = store_rows(
                stack,
                "SELECT customer_id, contact_id FROM conversations WHERE id=?",
                web_conversation,
            )
            assert wechat_customer == web_customer == 1
            assert wechat_contact == web_contact

            supervisor = AgentApi(http, stack.base_url)
            await supervisor.login("supervisor1", stack.password)
            status, customer = await supervisor.request("GET", "/api/v1/customers/1")
            assert status == 200
            seen = {(c["id"], c["channel"]) for c in customer["conversations"]}
            assert {(web_conversation, "web"), (wechat_conversation, "wechat")} <= seen
            assert {"web", "wechat"} <= {c["channel"] for c in customer["channels"]}
    finally:
        await api.stop()
