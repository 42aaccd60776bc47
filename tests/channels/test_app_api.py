"""The insurer's app channel against the real app and a local fake of the app's
webhook receiver: requests signed as the app's backend signs them, replies
checked for our signature."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels.app_api import sign
from tests.channels.fake_providers import AppSigner, FakeAppWebhook, signature

README = Path(__file__).parents[2] / "README.md"
HOOK_SECRET = "hook-secret-0123456789"
SIGNER = AppSigner("app1", "s3cret-app1")
MESSAGES = "/channels/app/v1/messages"


@pytest.fixture
async def webhook():
    fake = await FakeAppWebhook(HOOK_SECRET).start()
    yield fake
    await fake.close()


@pytest.fixture
async def desk(channel_app, webhook):
    return await channel_app(
        app_api_keys=f"{SIGNER.key_id}:{SIGNER.secret},app2:s3cret-app2",
        app_webhook_url=webhook.url,
        app_webhook_secret=HOOK_SECRET,
    )


async def send(desk, body, key: str | None = "k-1", signer: AppSigner = SIGNER, **signing):
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = signer.headers(raw, target=MESSAGES, idempotency_key=key, **signing)
    return await desk.client.post(MESSAGES, data=raw, headers=headers)


async def catch_up(desk, user_id: str, query: str = "", signer: AppSigner = SIGNER, **signing):
    target = f"/channels/app/v1/conversations/{user_id}/messages{query}"
    headers = signer.headers(method="GET", target=signing.pop("signed_target", target), **signing)
    return await desk.client.get(target, headers=headers)


def stored(desk) -> list[tuple]:
    return desk.rows("SELECT seq, sender, text FROM messages ORDER BY id")


async def until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


async def test_a_signed_message_is_answered_through_the_signed_webhook(desk, webhook, fake_rasa):
    response = await send(
        desk,
        {"user_id": "u-1001", "text": "我的理赔到哪一步了", "profile": {"name": "张伟"}},
    )
    assert response.status == 201
    answer = await response.json()
    assert answer["seq"] == 1 and answer["duplicate"] is False
    assert answer["message"]["text"] == "我的理赔到哪一步了"
    (conversation_uid,) = desk.rows("SELECT uid FROM conversations")[0]
    assert answer["conversation_id"] == conversation_uid

    (delivery,) = await webhook.wait_delivered()
    assert delivery.signature_valid
    assert delivery.body["event"] == "message"
    assert delivery.body["conversation_id"] == conversation_uid
    assert delivery.body["user_id"] == "u-1001"
    message = delivery.body["message"]
    assert message["text"] == "echo: 我的理赔到哪一步了"
    assert message["sender"] == "bot" and message["seq"] == 2
    assert delivery.headers["Idempotency-Key"] == message["uid"]
    # The signature covers the key: the same body under another key does not verify.
    timestamp = delivery.headers["X-Timestamp"]
    forged = signature(HOOK_SECRET, "POST", "/hooks/desk", timestamp, "other", delivery.raw)
    assert delivery.headers["X-Signature"] != forged
    assert fake_rasa.received[0][1] == "我的理赔到哪一步了"
    (profile,) = desk.rows("SELECT profile FROM channel_identities")[0]
    assert json.loads(profile)["name"] == "张伟"


async def test_buttons_go_out_as_quick_replies_and_come_back_as_payloads(desk, webhook, fake_rasa):
    buttons = [{"title": "门诊", "payload": '/inform{"claim_kind": "outpatient"}'}]
    fake_rasa.replies["理赔"] = [{"text": "请选择", "buttons": buttons}]
    await send(desk, {"user_id": "u-7", "text": "理赔"}, key="a")
    (delivery,) = await webhook.wait_delivered()
    assert delivery.body["message"]["quick_replies"] == buttons
    response = await send(desk, {"user_id": "u-7", "payload": buttons[0]["payload"]}, key="b")
    assert response.status == 201
    await until(lambda: len(fake_rasa.received) == 2)
    assert fake_rasa.received[1][1] == buttons[0]["payload"]


async def test_unsigned_unknown_and_stale_requests_are_refused_and_nothing_stored(desk, webhook):
    body = {"user_id": "u-2", "text": "hello"}
    forged = AppSigner("app1", "not-the-secret")
    unknown = AppSigner("app9", "s3cret-app1")
    for response in (
        await send(desk, body, signer=forged),
        await send(desk, body, signer=unknown),
        await send(desk, body, timestamp=int(time.time()) - 301),
        await send(desk, body, timestamp=int(time.time()) + 301),
        await desk.client.post(MESSAGES, json=body, headers={"Idempotency-Key": "k"}),
    ):
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorised"
    # A signature over one body does not cover another.
    headers = SIGNER.headers(json.dumps(body).encode(), target=MESSAGES, idempotency_key="k")
    tampered = await desk.client.post(
        MESSAGES, data=json.dumps({**body, "user_id": "u-3"}), headers=headers
    )
    assert tampered.status == 401
    # Within the window, the other key works.
    assert (await send(desk, body, signer=AppSigner("app2", "s3cret-app2"))).status == 201
    assert [(seq, sender) for seq, sender, _ in stored(desk)][:1] == [(1, "customer")]
    assert desk.rows("SELECT count(*) FROM conversations") == [(1,)]


async def test_a_captured_request_replayed_with_anything_changed_is_refused(desk, webhook):
    raw = json.dumps({"user_id": "u-11", "text": "第一次"}, ensure_ascii=False).encode()
    headers = SIGNER.headers(raw, target=MESSAGES, idempotency_key="k-captured")
    assert (await desk.client.post(MESSAGES, data=raw, headers=headers)).status == 201
    # The very same request again is the same message, not a second one.
    again = await desk.client.post(MESSAGES, data=raw, headers=headers)
    assert (again.status, (await again.json())["duplicate"]) == (200, True)
    target = "/channels/app/v1/conversations/u-11/messages"
    read = SIGNER.headers(method="GET", target=target)
    assert (await desk.client.get(target, headers=read)).status == 200
    replays = {
        # within the window, under a new key: it would be stored as a new message
        "another key": await desk.client.post(
            MESSAGES, data=raw, headers={**headers, "Idempotency-Key": "k-replayed"}
        ),
        "another path": await desk.client.post(f"{MESSAGES}?again=1", data=raw, headers=headers),
        "another user's path": await desk.client.get(
            "/channels/app/v1/conversations/u-12/messages", headers=read
        ),
        "another method": await desk.client.head(target, headers=read),
        # the read's signature presented for a POST of what it was once computed over
        "a read as a body": await desk.client.post(
            MESSAGES, data=f"GET {target}".encode(), headers={**read, "Idempotency-Key": "k"}
        ),
    }
    assert {why: r.status for why, r in replays.items()} == {why: 401 for why in replays}
    assert [text for _, sender, text in stored(desk) if sender == "customer"] == ["第一次"]


async def test_the_readmes_signing_example_is_accepted(desk, webhook):
    section = README.read_text().split("### The insurer's app (REST API)")[1].split("\n## ")[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    assert '"<secret>"' in code and '"https://<host>"' in code
    code = code.replace('"<secret>"', repr(SIGNER.secret)).replace(
        '"https://<host>"', repr(desk.base)
    )
    namespace: dict = {}
    await asyncio.to_thread(exec, code, namespace)
    answer, page = namespace["answer"], namespace["page"]
    assert (answer["seq"], answer["duplicate"]) == (1, False)
    assert page["conversation_id"] == answer["conversation_id"]
    assert page["messages"][0]["text"] == "我的理赔到哪一步了"
    # and the worked example under it is what the desk computes
    body = b'{"user_id": "u-1001", "text": "hi"}'
    key = "9b1de7a2-5c4f-4e0b-8a61-3f2d7c9e0b14"
    expected = sign("s3cret", "POST", MESSAGES, "1764825600", key, body)
    assert f"`{expected}`" in section


async def test_an_idempotent_repeat_is_stored_once(desk, webhook, fake_rasa):
    body = {"user_id": "u-3", "text": "保单号是多少"}
    first = await send(desk, body, key="req-42")
    repeat = await send(desk, body, key="req-42")
    assert (first.status, repeat.status) == (201, 200)
    one, two = await first.json(), await repeat.json()
    assert two["duplicate"] is True
    assert (two["seq"], two["message"]["uid"]) == (one["seq"], one["message"]["uid"])
    # The message id in the body serves as the key when there is no header.
    by_id = {"user_id": "u-3", "text": "还有一个问题", "message_id": "m-1"}
    assert (await send(desk, by_id, key=None)).status == 201
    assert (await send(desk, by_id, key=None)).status == 200
    await desk.settle()  # the bot's turns and the deliveries of its answers are over
    customer = [text for _, sender, text in stored(desk) if sender == "customer"]
    assert customer == ["保单号是多少", "还有一个问题"]
    assert [text for _, text in fake_rasa.received] == customer
    assert [d.body["message"]["text"] for d in webhook.requests] == [
        "echo: 保单号是多少",
        "echo: 还有一个问题",
    ]


async def test_the_same_key_with_another_body_is_refused(desk, webhook):
    assert (await send(desk, {"user_id": "u-4", "text": "a"}, key="dup")).status == 201
    conflict = await send(desk, {"user_id": "u-4", "text": "b"}, key="dup")
    assert conflict.status == 422
    assert (await conflict.json())["error"]["code"] == "idempotency_conflict"
    customer = [text for _, sender, text in stored(desk) if sender == "customer"]
    assert customer == ["a"]


async def test_a_webhook_down_twice_gets_the_reply_once_after_retries(desk, webhook):
    webhook.fail_first = 2
    await send(desk, {"user_id": "u-5", "text": "在吗"})
    await desk.settle()
    assert [d.status for d in webhook.requests] == [503]
    first_retry = await desk.delivery_due()
    await desk.housekeeping(first_retry - timedelta(microseconds=1))
    assert len(webhook.requests) == 1  # not due yet
    await desk.housekeeping(first_retry)
    assert [d.status for d in webhook.requests] == [503, 503]
    # backing off: the second retry waits 4 s where the first waited 2
    second_retry = await desk.delivery_due()
    assert second_retry == first_retry + timedelta(seconds=4)
    await desk.housekeeping(second_retry - timedelta(microseconds=1))
    assert len(webhook.requests) == 2
    await desk.housekeeping(second_retry)
    for hours in (1, 2, 3):  # later rounds: nothing is owed any more
        await desk.housekeeping(second_retry + timedelta(hours=hours))
    assert [d.status for d in webhook.requests] == [503, 503, 200]
    assert len({d.headers["Idempotency-Key"] for d in webhook.requests}) == 1
    assert webhook.delivered()[0].body["message"]["text"] == "echo: 在吗"
    assert desk.rows("SELECT delivered_seq, last_seq, delivery_attempts FROM conversations") == [
        (2, 2, 0)
    ]


async def test_a_webhook_that_rejects_a_message_is_not_asked_again(desk, webhook):
    webhook.fail_first, webhook.fail_status = 1, 400
    await send(desk, {"user_id": "u-6", "text": "one"}, key="1")
    await desk.settle()
    [(data,)] = desk.rows("SELECT data FROM events WHERE kind = 'delivery_failed'")
    assert json.loads(data)["permanent"] is True
    await send(desk, {"user_id": "u-6", "text": "two"}, key="2")
    await desk.settle()
    now = datetime.now(UTC)
    for hours in (0, 1, 24):  # housekeeping rounds, now and much later: "one" stays given up
        await desk.housekeeping(now + timedelta(hours=hours))
    assert [(d.status, d.body["message"]["text"]) for d in webhook.requests] == [
        (400, "echo: one"),
        (200, "echo: two"),
    ]


async def test_too_many_requests_from_the_app_waits_as_told(desk, webhook):
    webhook.fail_first, webhook.fail_status, webhook.retry_after = 1, 429, 1
    before = datetime.now(UTC)
    await send(desk, {"user_id": "u-8", "text": "hi"})
    await desk.settle()
    after = datetime.now(UTC)
    assert [d.status for d in webhook.requests] == [429]
    # Retry-After: 1 makes the retry due a second after the failure (not the 2 s backoff)
    due = await desk.delivery_due()
    assert before + timedelta(seconds=1) <= due <= after + timedelta(seconds=1)
    await desk.housekeeping(due - timedelta(microseconds=1))
    assert len(webhook.requests) == 1
    await desk.housekeeping(due)
    assert [d.status for d in webhook.requests] == [429, 200]


async def test_the_app_catches_up_by_cursor(desk, webhook):
    # The second is sent once the first is answered: the app sees a dialogue in turns
    # (a message is stored at once, without waiting on the bot, so it could come first).
    await send(desk, {"user_id": "u 9", "text": "第一"}, key="1")
    await webhook.wait_delivered(1)
    await send(desk, {"user_id": "u 9", "text": "第二"}, key="2")
    await webhook.wait_delivered(2)
    everything = await catch_up(desk, "u%209")
    assert everything.status == 200
    page = await everything.json()
    assert [(m["seq"], m["sender"], m["text"]) for m in page["messages"]] == [
        (1, "customer", "第一"),
        (2, "bot", "echo: 第一"),
        (3, "customer", "第二"),
        (4, "bot", "echo: 第二"),
    ]
    assert page["last_seq"] == 4 and page["has_more"] is False
    later = await (await catch_up(desk, "u%209", "?after=2&limit=1")).json()
    assert [m["seq"] for m in later["messages"]] == [3] and later["has_more"] is True
    assert later["conversation_id"] == page["conversation_id"]
    # Signed for another path, or not at all: refused.
    other = await catch_up(desk, "u%209", "?after=0", signed_target="/channels/app/v1/x")
    assert other.status == 401
    unsigned = await desk.client.get("/channels/app/v1/conversations/u%209/messages")
    assert unsigned.status == 401
    assert (await catch_up(desk, "u%209", "?after=-1")).status == 400
    nobody = await (await catch_up(desk, "nobody")).json()
    assert nobody == {"conversation_id": None, "messages": [], "last_seq": 0, "has_more": False}


async def test_a_flood_is_refused_with_retry_after(channel_app, webhook):
    desk = await channel_app(
        app_api_keys=f"{SIGNER.key_id}:{SIGNER.secret}",
        app_webhook_url=webhook.url,
        app_webhook_secret=HOOK_SECRET,
        channel_burst=3,
        channel_messages_per_minute=6,
    )
    statuses = []
    for number in range(5):
        response = await send(desk, {"user_id": "u-10", "text": f"m{number}"}, key=str(number))
        statuses.append(response.status)
    assert statuses == [201, 201, 201, 429, 429]
    assert response.headers["Retry-After"] == "10"
    assert (await response.json())["error"]["code"] == "rate_limited"
    customer = [text for _, sender, text in stored(desk) if sender == "customer"]
    assert customer == ["m0", "m1", "m2"]


async def test_malformed_oversized_and_refused_bodies(desk, webhook):
    async def signed_raw(raw: bytes, key="k"):
        return await desk.client.post(
            MESSAGES, data=raw, headers=SIGNER.headers(raw, target=MESSAGES, idempotency_key=key)
        )

    async def code(response):
        return response.status, (await response.json())["error"]["code"]

    assert await code(await signed_raw(b"{oops")) == (400, "malformed")
    assert await code(await signed_raw(b"[1]")) == (400, "malformed")
    assert await code(await send(desk, {"text": "no user"})) == (400, "malformed")
    assert await code(await send(desk, {"user_id": "u", "text": 5})) == (400, "malformed")
    assert await code(await send(desk, {"user_id": "u", "text": "a", "payload": "b"})) == (
        400,
        "malformed",
    )
    bad_language = {"user_id": "u", "text": "a", "profile": {"language": "fr"}}
    assert await code(await send(desk, bad_language)) == (400, "malformed")
    assert await code(await send(desk, {"user_id": "u", "text": "a"}, key=None)) == (
        400,
        "idempotency_key_required",
    )
    big = json.dumps({"user_id": "u", "text": "x" * (65 * 1024)}).encode()
    assert (await signed_raw(big)).status == 413
    assert await code(await send(desk, {"user_id": "u", "text": "  "})) == (422, "empty")
    assert await code(await send(desk, {"user_id": "u", "text": "长" * 2001})) == (422, "too_long")
    with_file = {"user_id": "u", "text": "看图", "attachment": {"url": "https://x/y.jpg"}}
    assert await code(await send(desk, with_file)) == (422, "unsupported")
    assert stored(desk) == []


async def test_the_channel_is_off_without_keys(channel_app):
    desk = await channel_app()
    assert (await send(desk, {"user_id": "u", "text": "hi"})).status == 404
    assert "app" not in desk.service.channels
