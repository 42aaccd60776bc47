"""The whole path, for real: a socket.io customer, the console, Rasa, the
action server and the store, each in its own process (DESIGN §2)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import uuid

import aiohttp
import pytest
import socketio

from store.identifiers import make_policy_number
from web.stack import AgentApi, Customer, Stack

pytestmark = pytest.mark.stack


async def until_stored(stack: Stack, sql: str, *args, timeout: float = 30) -> list:
    """Wait (bounded) until the store has rows for `sql`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (rows := store_rows(stack, sql, *args)):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(sql)
        await asyncio.sleep(0.1)
    return rows


def store_rows(stack: Stack, sql: str, *args):
    path = stack.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def conversation_id(stack: Stack, session_id: str) -> int:
    [(found,)] = store_rows(
        stack, "SELECT id FROM conversations WHERE channel='web' AND external_user_id=?", session_id
    )
    return found


# utter_greet (bot/domain/chitchat.yml), in Chinese
GREETING_ZH = (
    "您好!我是健康险智能客服,可以帮您查询理赔进度、保单信息,"
    "也可以为您转接人工客服。请问有什么可以帮您?"
)


def is_queue_message(message) -> bool:
    return (
        message.get("sender") == "system"
        and message.get("text", "").count("队列") + message.get("text", "").count("queue") > 0
    )


async def test_healthz_reports_rasa_and_actions(stack: Stack):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.base_url}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"ok": True, "rasa": True, "actions": True}


@pytest.mark.parametrize(
    ("greeting", "expected"),
    [("你好", "您好"), ("hello there", "Hello")],
    ids=["zh", "en"],
)
async def test_greeting_is_answered_in_the_customers_language(stack: Stack, greeting, expected):
    customer = Customer(stack.base_url)
    await customer.connect()
    try:
        ack = await customer.say(greeting)
        assert ack["ok"] and ack["seq"] == 1
        reply = await customer.next()
        assert reply["sender"] == "bot"
        assert expected in reply["text"]
    finally:
        await customer.disconnect()


async def test_server_decides_session_ids(stack: Stack):
    customer = Customer(stack.base_url)
    forged = "not-an-id-we-issued-" + uuid.uuid4().hex
    issued = await customer.connect(session_id=forged)
    await customer.disconnect()
    assert issued != forged and len(issued) >= 16
    # an id the server issued is kept on reconnect
    again = Customer(stack.base_url)
    assert await again.connect(session_id=issued) == issued
    await again.disconnect()


async def test_handoff_agent_chat_replay_and_resolve(stack: Stack):
    # Someone is on duty whatever ran before (so the handoff queues), and agent1, the
    # general team's only agent, is away: nothing is given to them until they accept.
    stack.sign_in("supervisor1")
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    async with aiohttp.ClientSession() as http:
        agent = AgentApi(http, stack.base_url)
        await agent.login("agent1", stack.password)
        status, _ = await agent.request("PUT", "/api/v1/me/presence", json={"presence": "away"})
        assert status == 200

        # request_human: the bot's directive queues the conversation, with a queue message
        await customer.say("我要转人工")
        received = await customer.until(is_queue_message)
        assert "人工" in received[0]["text"]
        assert re.search(r"前面还有 \d+ 位", received[-1]["text"])
        conversation = conversation_id(stack, session_id)
        # queued for the general team, where it waits for agent1
        status, body = await agent.request("GET", "/api/v1/conversations")
        assert status == 200
        states = {c["id"]: (c["state"], c["team"]) for c in body["conversations"]}
        assert states[conversation] == ("queued", "general")

        # the agent's console sees live messages over the agents' namespace
        console = socketio.AsyncClient(reconnection=False)
        live = []
        changes: asyncio.Queue = asyncio.Queue()
        console.on("message", lambda m: live.append(m), namespace="/agents")
        console.on("conversation", changes.put, namespace="/agents")
        await console.connect(
            stack.base_url,
            namespaces=["/agents"],
            auth={"token": agent.token},
            transports=["websocket"],
        )
        watched = await console.call(
            "watch", {"conversation_id": conversation, "after": 0}, namespace="/agents"
        )
        assert watched["ok"]
        assert [m["sender"] for m in watched["messages"]][:2] == ["customer", "bot"]
        # agents see what the bot understood (read from Rasa's tracker)
        assert watched["messages"][0]["payload"]["intent"] == "request_human"
        assert 0 < watched["messages"][0]["payload"]["confidence"] <= 1

        # agent1 accepts it (the console, opened while away, keeps them away)
        status, assigned = await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/assign"
        )
        assert status == 200 and assigned["state"] == "assigned"
        # a change of hands closes the conversation's room: the console watches again
        # when the change reaches it, as the console page does
        while (await asyncio.wait_for(changes.get(), 10))["state"] != "assigned":
            pass
        again = await console.call(
            "watch", {"conversation_id": conversation, "after": 0}, namespace="/agents"
        )
        assert again["ok"]
        # (news of the queue may come first, should the queue change meanwhile)
        heard = await customer.until(
            lambda m: m.get("sender") == "system" and "王芳" in m.get("text", "")
        )
        assert heard[-1]["seq"] == assigned["last_seq"]

        status, sent = await agent.request(
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            json={"text": "您好,我是王芳,请问需要什么帮助?"},
        )
        assert status == 201
        reply = await customer.next()
        assert reply["sender"] == "agent" and reply["text"].startswith("您好,我是王芳")
        assert reply["seq"] == sent["seq"]

        # the customer's answer reaches the agent (API and live socket), not the bot
        ack = await customer.say("我的理赔一直没到账")
        status, body = await agent.request(
            "GET", f"/api/v1/conversations/{conversation}/messages?after={sent['seq']}"
        )
        assert [(m["sender"], m["text"]) for m in body["messages"]] == [
            ("customer", "我的理赔一直没到账")
        ]
        assert ack["seq"] == body["messages"][0]["seq"]
        assert "我的理赔一直没到账" in [m["text"] for m in live]
        # the bot stays out of it: the next thing the customer hears is the agent
        status, marker = await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/messages", json={"text": "请稍等。"}
        )
        assert status == 201 and marker["seq"] == ack["seq"] + 1
        assert (await customer.next())["text"] == "请稍等。"

        # the customer drops; what the agent says meanwhile is replayed, exactly
        last_seen = customer.last_seq
        await customer.disconnect()
        missed = []
        for text in ("材料已收到。", "预计明天到账。"):
            status, sent = await agent.request(
                "POST", f"/api/v1/conversations/{conversation}/messages", json={"text": text}
            )
            missed.append(sent["seq"])
        back = Customer(stack.base_url)
        assert await back.connect(session_id=session_id, last_seq=last_seen) == session_id
        replayed = back.received()
        assert [m["seq"] for m in replayed] == missed
        assert [m["text"] for m in replayed] == ["材料已收到。", "预计明天到账。"]

        status, resolved = await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/resolve", json={"reason": "answered"}
        )
        assert status == 200 and resolved["state"] == "resolved"
        asked = await back.until(lambda m: m.get("quick_replies"))
        assert asked[0]["sender"] == "system"
        four_stars = asked[-1]["quick_replies"][1]
        assert four_stars["payload"] == '/rate{"score": 4}'
        await back.say(four_stars["payload"])
        assert (await back.next())["text"] == "感谢您的评价!"
        [(rating,)] = store_rows(
            stack, "SELECT data FROM events WHERE kind='csat' AND conversation_id=?", conversation
        )
        assert '"score": 4' in rating

        kinds = [
            k
            for (k,) in store_rows(
                stack, "SELECT kind FROM events WHERE conversation_id=? ORDER BY id", conversation
            )
        ]
        for kind in ("created", "handoff", "assigned", "first_agent_reply", "resolved", "csat"):
            assert kind in kinds

        # a message on a resolved conversation starts it again with the bot
        await back.say("你好")
        assert (await back.next())["sender"] == "bot"
        [(state,)] = store_rows(stack, "SELECT state FROM conversations WHERE id=?", conversation)
        assert state == "bot"
        await back.disconnect()
        await console.disconnect()


async def test_english_handoff_queue_message(stack: Stack):
    stack.sign_in("supervisor1")  # someone on duty whatever ran before, so handoffs queue
    customer = Customer(stack.base_url)
    await customer.connect()
    await customer.say("can I talk to a real person please")
    received = await customer.until(is_queue_message)
    assert "agent" in received[0]["text"].lower()
    assert "queue" in received[-1]["text"]
    await customer.disconnect()


async def test_resent_message_is_stored_once(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    first = await customer.say("你好", client_message_id="m-1")
    await customer.next()
    again = await customer.say("你好", client_message_id="m-1")
    assert again["seq"] == first["seq"] and again["duplicate"] is True
    # the resend started no turn: the next answer is to the next message, and right after it
    following = await customer.say("谢谢", client_message_id="m-2")
    assert following["seq"] == first["seq"] + 2  # 你好, its greeting, 谢谢
    assert (await customer.next())["seq"] == following["seq"] + 1
    stored = store_rows(
        stack,
        "SELECT client_message_id FROM messages WHERE conversation_id=? AND sender='customer'",
        conversation_id(stack, session_id),
    )
    assert stored == [("m-1",), ("m-2",)]
    await customer.disconnect()


PROMPTS = {
    "zh": ("保单号或身份证号", "6位验证码", "身份验证成功"),
    "en": ("policy number or your ID card number", "6-digit code", "you're verified"),
}


async def verify(stack: Stack, customer: Customer, question: str, lang: str = "zh") -> list[dict]:
    """Ask something that needs verification, and verify as demo customer 1
    with the code from the SMS outbox; returns what came after the code."""
    identify, enter_code, verified = PROMPTS[lang]
    [(mobile,)] = store_rows(stack, "SELECT mobile FROM customers WHERE id=1")
    [(policy_number,)] = store_rows(
        stack, "SELECT number FROM policies WHERE holder_id=1 ORDER BY id LIMIT 1"
    )
    await customer.say(question)
    asked = await customer.until(lambda m: identify in m.get("text", ""))
    assert not any(re.search(r"C\d{13}", m.get("text", "")) for m in asked)
    await customer.say(policy_number)
    await customer.until(lambda m: enter_code in m.get("text", ""))
    [(sms,)] = store_rows(
        stack, "SELECT text FROM sms_outbox WHERE mobile=? ORDER BY id DESC LIMIT 1", mobile
    )
    code = re.search(r"\d{6}", sms).group()
    await customer.say(code if lang == "en" else f"验证码 {code}")
    return await customer.until(lambda m: verified in m.get("text", ""))


async def answer(customer: Customer, text: str, expect: str, timeout: float = 30) -> list[dict]:
    """Say something, and wait for a reply containing `expect`."""
    await customer.say(text)
    return await customer.until(lambda m: expect in m.get("text", ""), timeout=timeout)


def button(messages: list[dict], title_part: str) -> str:
    """The payload of an offered button whose title contains `title_part`."""
    return next(
        b["payload"]
        for m in reversed(messages)
        for b in m.get("quick_replies") or []
        if title_part in b["title"]
    )


async def test_claim_status_after_verification_with_the_sms_code(stack: Stack):
    claims = store_rows(
        stack,
        "SELECT c.number FROM claims c JOIN policies p ON p.id=c.policy_id WHERE p.holder_id=1",
    )
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await verify(stack, customer, "我的理赔到哪了")
    shown = await customer.until(lambda m: m.get("text", "").startswith("理赔 C"))
    number = re.search(r"理赔 (C\d{13})", shown[-1]["text"]).group(1)
    assert number in [n for (n,) in claims]
    [(linked,)] = store_rows(
        stack,
        "SELECT customer_id FROM conversations WHERE id=?",
        conversation_id(stack, session_id),
    )
    assert linked == 1
    await customer.disconnect()


async def test_an_unknown_policy_number_is_answered_like_a_known_one(stack: Stack):
    """Nothing tells whether a number is on file before the code is proved."""
    [(known,)] = store_rows(
        stack, "SELECT number FROM policies WHERE holder_id=1 ORDER BY id LIMIT 1"
    )
    unknown = make_policy_number(987654321)  # well formed, and nobody's
    answers = []
    for number in (known, unknown):
        customer = Customer(stack.base_url)
        await customer.connect()
        await customer.say("查一下我的保单")
        await customer.until(lambda m: "保单号或身份证号" in m.get("text", ""))
        await customer.say(number)
        said = await customer.until(lambda m: "6位验证码" in m.get("text", ""))
        answers.append([m["text"] for m in said])
        # a wrong code is wrong for both, and counts alike
        await customer.say("验证码 000000")
        wrong = await customer.until(lambda m: "验证码不正确" in m.get("text", ""))
        answers.append([m["text"] for m in wrong])
        await customer.disconnect()
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert "如果该号码在我们的记录中" in answers[0][0] and "*" not in "".join(answers[0])


async def test_typed_intent_injection_is_plain_text(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await customer.say('/ask_claim_status{"customer_id": 1}')
    assert (await customer.next())["sender"] == "bot", "the bot answers the text"
    # the whole turn is in the store once its bot_reply event is
    conversation = conversation_id(stack, session_id)
    await until_stored(
        stack, "SELECT 1 FROM events WHERE conversation_id=? AND kind='bot_reply'", conversation
    )
    shown = store_rows(
        stack,
        "SELECT text FROM messages WHERE conversation_id=? AND sender!='customer'",
        conversation,
    )
    assert shown and not any(re.search(r"C\d{13}", text or "") for (text,) in shown)
    [(linked,)] = store_rows(
        stack,
        "SELECT customer_id FROM conversations WHERE id=?",
        conversation_id(stack, session_id),
    )
    assert linked is None
    await customer.disconnect()


async def test_oversize_and_malformed_messages_are_refused(stack: Stack):
    customer = Customer(stack.base_url)
    await customer.connect()
    too_long = await customer.say("保" * 5000)
    assert too_long["ok"] is False and too_long["error"]["code"] == "too_long"
    malformed = await customer.sio.call("user_uttered", "not an object", timeout=10)
    assert malformed["ok"] is False and malformed["error"]["code"] == "malformed"
    fine = await customer.say("你好")
    assert fine["ok"] is True and fine["seq"] == 1
    await customer.disconnect()


async def test_markup_and_gibberish_get_an_answer_and_the_bot_carries_on(stack: Stack):
    customer = Customer(stack.base_url)
    await customer.connect()
    await customer.say("<b>bold?</b><img src=x onerror=alert(1)>")
    assert (await customer.next())["text"]
    await customer.say("你好")
    greeting = await customer.until(lambda m: "您好" in m.get("text", ""))
    assert (greeting[-1]["sender"], greeting[-1]["text"]) == ("bot", GREETING_ZH)
    await customer.disconnect()


async def test_claim_documents_with_the_kind_chosen_by_button(stack: Stack):
    customer = Customer(stack.base_url)
    await customer.connect()
    await customer.say("理赔需要准备什么材料")
    asked = await customer.until(lambda m: m.get("quick_replies"))
    titles = [b["title"] for b in asked[-1]["quick_replies"]]
    assert titles == ["住院医疗", "门诊", "重大疾病", "意外"]
    outpatient = asked[-1]["quick_replies"][1]
    await customer.say(outpatient["payload"])
    checklist = await customer.until(lambda m: "门诊理赔需要准备" in m.get("text", ""))
    assert "门诊病历" in checklist[-1]["text"]
    await customer.disconnect()


async def test_a_complaint_is_recorded_with_a_follow_up_then_reaches_the_team(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    asked = await answer(customer, "你们理赔太慢了，我要投诉", "投诉的是哪方面")
    await answer(customer, button(asked, "理赔"), "描述一下")
    await answer(customer, "住院的理赔交了材料一个月了还没有结果", "怎样处理")
    offer = await answer(customer, "希望尽快赔付并给个说法", "需要现在为您转接")
    recorded = next(m["text"] for m in offer if "投诉已登记" in m.get("text", ""))
    number = re.search(r"T\d{13}", recorded).group()
    cid = conversation_id(stack, session_id)
    [(category, description, due)] = store_rows(
        stack, "SELECT category, description, due_at FROM complaints WHERE number=?", number
    )
    assert category == "claims" and "一个月" in description and due
    [(team, kind)] = store_rows(
        stack,
        "SELECT f.team, f.kind FROM follow_ups f JOIN complaints c ON c.id=f.complaint_id "
        "WHERE c.number=? AND f.conversation_id=?",
        number,
        cid,
    )
    assert (team, kind) == ("complaints", "complaint")
    # the customer takes the offer of a person (someone is on duty, so it queues)
    stack.sign_in("supervisor1")
    await customer.say(button(offer, "转人工"))
    await customer.until(is_queue_message)
    [(state, team)] = store_rows(stack, "SELECT state, team FROM conversations WHERE id=?", cid)
    assert (state, team) == ("queued", "complaints")
    await customer.disconnect()


async def test_a_claim_filed_in_chat_is_in_the_store_in_english(stack: Stack):
    [(policy, holder_name)] = store_rows(
        stack,
        "SELECT p.number, c.name FROM policies p JOIN customers c ON c.id=p.holder_id "
        "WHERE p.holder_id=1 AND p.kind='long_term_medical'",
    )
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await verify(stack, customer, "I want to file a claim", lang="en")
    asked = await customer.until(lambda m: "Which policy" in m.get("text", ""))
    asked = await answer(customer, button(asked, policy), "Who is the claim for")
    asked = await answer(customer, button(asked, holder_name), "What kind of claim")
    await answer(customer, button(asked, "hospitalisation"), "When did it happen")
    # a date in the future is refused and asked again
    await answer(customer, "next year, Dec 31 2099", "can't be in the future")
    await answer(customer, "3 days ago", "Which hospital")
    await answer(customer, "Peking Union Medical College Hospital", "How much")
    asked = await answer(customer, "12,800.50 yuan", "bank card on file")
    assert "**** **** **** 6217" in asked[-1]["text"]
    filed = await answer(customer, button(asked, "Yes"), "Your claim is filed")
    number = re.search(r"C\d{13}", filed[-1]["text"]).group()
    checklist = await customer.until(lambda m: "discharge summary" in m.get("text", ""))
    lines = checklist[-1]["text"].split("\n")
    assert lines[0] == "For hospitalisation claims, please prepare:"
    assert "3. the discharge summary" in lines and "5. the itemised bill" in lines
    [(stage, amount, hospital, holder)] = store_rows(
        stack,
        "SELECT c.stage, c.amount_claimed, c.hospital, p.holder_id FROM claims c "
        "JOIN policies p ON p.id=c.policy_id WHERE c.number=?",
        number,
    )
    assert (stage, float(amount), holder) == ("submitted", 12800.5, 1)
    assert hospital == "Peking Union Medical College Hospital"
    # filed once for the turn that confirmed it: Rasa hands the action the gateway's
    # number of the customer's message, sent as the message's metadata
    [(turn_key, uid, confirmed)] = store_rows(
        stack,
        "SELECT c.turn_key, v.uid, (SELECT max(seq) FROM messages m WHERE "
        "m.conversation_id=v.id AND m.sender='customer') FROM claims c, conversations v "
        "WHERE c.number=? AND v.id=?",
        number,
        conversation_id(stack, session_id),
    )
    assert turn_key == f"{uid}:{confirmed}"
    # and the bot can now tell its status
    await answer(customer, f"what's the status of claim {number}?", f"Claim {number}")
    [(kind,)] = store_rows(
        stack,
        "SELECT kind FROM events WHERE conversation_id=? AND kind='claim_filed'",
        conversation_id(stack, session_id),
    )
    assert kind == "claim_filed"
    await customer.disconnect()


async def test_advance_payment_is_checked_recorded_and_followed_up(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await verify(stack, customer, "我爸明天住院,你们能直接跟医院结算垫付吗")
    asked = await customer.until(lambda m: "垫付的医疗险保单" in m.get("text", ""))
    # only in-force medical policies qualify: not 张伟's accident policy
    assert [b["payload"] for b in asked[-1]["quick_replies"]] == ["P0000000000026"]
    await answer(customer, "P0000000000026", "入院日期")
    await answer(customer, "明天", "哪家医院")
    await answer(customer, "北京协和医院", "预计住院费用")
    done = await answer(customer, "大概5万", "垫付申请已登记")
    number = re.search(r"A\d{13}", done[-1]["text"]).group()
    [(hospital, amount, request_id)] = store_rows(
        stack, "SELECT hospital, estimated_amount, id FROM advance_payments WHERE number=?", number
    )
    assert (hospital, float(amount)) == ("北京协和医院", 50000.0)
    [(team, kind, linked)] = store_rows(
        stack,
        "SELECT team, kind, conversation_id FROM follow_ups WHERE advance_payment_id=?",
        request_id,
    )
    assert (team, kind, linked) == ("claims", "advance_payment", conversation_id(stack, session_id))
    await customer.disconnect()


async def test_the_language_follows_the_customer_mid_conversation(stack: Stack):
    customer = Customer(stack.base_url)
    await customer.connect()
    await answer(customer, "你好", "您好")
    await answer(customer, "hi, what products do you have?", "Our main products")
    await answer(customer, "重疾险的等待期多久", "等待期")
    await customer.disconnect()


async def test_a_callback_is_booked_for_a_chosen_window_on_the_number_on_file(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await verify(stack, customer, "请给我回个电话")
    asked = await customer.until(lambda m: "什么时间方便接听" in m.get("text", ""))
    window = asked[-1]["quick_replies"][1]["payload"]
    asked = await answer(customer, window, "预留的手机")
    booked = await answer(customer, button(asked, "本机"), "电话回访")
    assert "138****8000" in booked[-1]["text"]
    [(phone, customer_id)] = store_rows(
        stack,
        "SELECT phone, customer_id FROM callbacks WHERE conversation_id=?",
        conversation_id(stack, session_id),
    )
    assert (phone, customer_id) == ("13800138000", 1)
    await customer.disconnect()


async def test_goodbye_resolves_with_the_bot_and_asks_for_a_rating(stack: Stack):
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    await customer.say("好的谢谢，再见")
    received = await customer.until(lambda m: m.get("quick_replies"))
    assert received[-1]["sender"] == "system" and len(received[-1]["quick_replies"]) == 5
    [(state,)] = store_rows(
        stack, "SELECT state FROM conversations WHERE id=?", conversation_id(stack, session_id)
    )
    assert state == "resolved"
    await customer.disconnect()


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("等待期是多久", "等待期是保单首次生效后"),
        ("how long is the waiting period", "The waiting period is"),
        ("私立医院能报销吗", "二级及以上公立医院"),
        ("can i pay with alipay", "Alipay"),
    ],
)
async def test_faq_answers_in_the_customers_language(stack: Stack, question, answer):
    customer = Customer(stack.base_url)
    await customer.connect()
    await customer.say(question)
    assert answer in (await customer.next())["text"]
    await customer.disconnect()


async def test_a_console_restart_loses_no_conversation_or_message(stack: Stack):
    """The console process is replaced mid-conversation: the agent's token still
    works, the conversation is still theirs, and the customer, reconnecting with
    the last sequence number they saw, gets exactly what they missed."""
    # Someone on duty (so the handoff queues), and agent1 away: whatever the tests
    # before left them holding, the conversation waits until they take it.
    stack.sign_in("supervisor1")
    customer = Customer(stack.base_url)
    session_id = await customer.connect()
    async with aiohttp.ClientSession() as http:
        agent = AgentApi(http, stack.base_url)
        await agent.login("agent1", stack.password)
        status, _ = await agent.request("PUT", "/api/v1/me/presence", json={"presence": "away"})
        assert status == 200
        await customer.say("我要转人工")
        await customer.until(is_queue_message)
        conversation = conversation_id(stack, session_id)
        status, assigned = await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/assign"
        )
        assert status == 200 and assigned["state"] == "assigned"
        status, before = await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/messages", json={"text": "重启之前"}
        )
        assert status == 201
        await customer.until(lambda m: m.get("text") == "重启之前")
        last_seen = customer.last_seq
        assert last_seen == before["seq"]

        await asyncio.to_thread(stack.restart, "web")
        stack.sign_in("supervisor1")  # a single console starts with everyone offline

        status, after = await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/messages", json={"text": "重启之后"}
        )
        assert status == 201, after
        assert after["seq"] == before["seq"] + 1
        status, view = await agent.request("GET", f"/api/v1/conversations/{conversation}")
        assert status == 200 and view["state"] == "assigned"
        back = Customer(stack.base_url)
        assert await back.connect(session_id=session_id, last_seq=last_seen) == session_id
        replayed = back.received()
        assert [(m["seq"], m["text"]) for m in replayed] == [(after["seq"], "重启之后")]
        # and the conversation goes on: the customer's answer reaches the agent
        ack = await back.say("收到,谢谢")
        status, body = await agent.request(
            "GET", f"/api/v1/conversations/{conversation}/messages?after={after['seq']}"
        )
        assert [(m["seq"], m["text"]) for m in body["messages"]] == [(ack["seq"], "收到,谢谢")]
        await agent.request(
            "POST", f"/api/v1/conversations/{conversation}/resolve", json={"reason": "answered"}
        )
        await back.disconnect()
    with contextlib.suppress(Exception):
        await customer.disconnect()


async def test_a_rasa_restart_loses_no_dialogue_state(stack: Stack):
    """The Rasa server, whose trackers live in SQLite, is replaced mid-conversation.
    Safe in any order: `restart` returns once the stack is healthy again (Rasa
    answers only with its model loaded), and it runs in a thread, so that this
    event loop keeps the customer's socket alive meanwhile."""
    customer = Customer(stack.base_url)
    await customer.connect()
    await verify(stack, customer, "查一下我的保单")
    await customer.until(lambda m: m.get("text", "").startswith("保单 P"))
    await asyncio.to_thread(stack.restart, "rasa")
    await customer.say("我的理赔到哪了")
    received = await customer.until(lambda m: m.get("text", "").startswith("理赔 C"), timeout=60)
    # still verified: no second round of identification
    assert not any("保单号或身份证号" in m.get("text", "") for m in received)
    await customer.disconnect()
