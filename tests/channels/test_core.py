"""The channel-blind core every adapter relies on: refusals, numbered choices,
one customer across channels with remembered verification, and push delivery by
cursor with retries (against the real app, its store and a scripted Rasa)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from desk.delivery import DeliveryFailed, PushChannel, render_text, split_text
from desk.flood import RateLimiter, SharedRateLimiter
from desk.intake import Attachment, Inbound, Limits
from store.identities import link_verified
from store.models import ChannelIdentity, Conversation

BUTTONS = [
    {"title": "住院医疗", "payload": '/inform{"claim_kind": "inpatient"}'},
    {"title": "门诊", "payload": '/inform{"claim_kind": "outpatient"}'},
]


class Recorder(PushChannel):
    """A provider that takes messages, or fails as told."""

    limits = Limits(max_text_chars=50, buttons=False)

    def __init__(self, service, name="fake"):
        super().__init__(service)
        self.name = name
        self.sent: list[tuple[str, list[str]]] = []
        self.failures: list[DeliveryFailed] = []

    async def send(self, conversation, message):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((conversation.external_user_id, render_text(message, self.limits, "zh")))


async def settle(channel: Recorder, until, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not until():
        assert asyncio.get_running_loop().time() < deadline, channel.sent
        await asyncio.sleep(0.05)


def test_buttons_become_numbered_options_and_long_text_is_split():
    message = {"seq": 1, "text": "请选择理赔类型", "payload": {"buttons": BUTTONS}}
    assert render_text(message, Limits(600, buttons=False), "zh") == [
        "请选择理赔类型\n回复 1:住院医疗\n回复 2:门诊"
    ]
    assert render_text(message, Limits(600, buttons=True), "en") == ["请选择理赔类型"]
    assert render_text({**message, "text": "Pick"}, Limits(600, False), "en")[0].endswith(
        "Reply 2: 门诊"
    )
    assert split_text("a" * 12 + "\nbb", 5) == ["aaaaa", "aaaaa", "aa\nbb"]
    assert split_text("aaa\nbbbb", 5) == ["aaa", "bbbb"]
    assert all(len(part) <= 7 for part in split_text("一二三\n四五六七\n八", 7))


def test_rate_limiter_allows_a_burst_then_the_rate():
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.allow("a", now=0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", now=0)  # per identity
    assert limiter.allow("a", now=1.0)  # one a second
    assert not limiter.allow("a", now=1.1)


async def test_processes_share_one_limit_through_redis():
    """Two console processes (two limiters) against the real Redis server."""
    prefix = f"hd:test:{uuid.uuid4().hex}:"
    first, second = (
        SharedRateLimiter("redis://127.0.0.1:6379/0", per_minute=1, burst=3, prefix=prefix)
        for _ in range(2)
    )
    try:
        allowed = [await limiter.check("wechat:o1") for limiter in (first, second, first, second)]
        assert allowed == [True, True, True, False]
        assert await second.check("wechat:o2")
    finally:
        await first.close()
        await second.close()
    # Redis unreachable: each process limits on its own rather than refusing everyone
    offline = SharedRateLimiter("redis://127.0.0.1:1/0", per_minute=1, burst=1)
    assert [await offline.check("web:s1") for _ in range(2)] == [True, False]
    await offline.close()


async def test_refusals_store_nothing(channel_app):
    desk = await channel_app(max_message_chars=10, channel_burst=3, channel_messages_per_minute=1)
    service = desk.service
    assert (await service.receive("fake", Inbound("u1", text="  "))).refusal.code == "empty"
    long = await service.receive("fake", Inbound("u1", text="保" * 11))
    assert long.refusal.code == "too_long" and "太长" in long.refusal.text("zh")
    voice = await service.receive("fake", Inbound("u1", event="location"))
    assert voice.refusal.code == "unsupported"
    assert desk.rows("SELECT count(*) FROM messages") == [(0,)]
    # three refusals spent the burst: the identity is now slowed down, others are not
    flood = await service.receive("fake", Inbound("u1", text="你好"))
    assert flood.refusal.code == "rate_limited"
    assert (await service.receive("fake", Inbound("u2", text="你好"))).refusal is None


async def test_a_number_answers_the_buttons_on_text_only_channels(channel_app, fake_rasa):
    desk = await channel_app()
    channel = Recorder(desk.service)
    desk.service.add_channel(channel)
    fake_rasa.replies["理赔材料"] = [{"text": "哪一类?", "buttons": BUTTONS}]
    await desk.service.receive("fake", Inbound("u1", text="理赔材料"), wait_for_bot=5)
    await settle(channel, lambda: len(channel.sent) == 1)
    assert channel.sent[0][1] == ["哪一类?\n回复 1:住院医疗\n回复 2:门诊"]
    await desk.service.receive("fake", Inbound("u1", text="2"), wait_for_bot=5)
    assert fake_rasa.received[-1][1] == BUTTONS[1]["payload"]
    # a number with nothing offered is just text
    await desk.service.receive("fake", Inbound("u1", text="7"), wait_for_bot=5)
    assert fake_rasa.received[-1][1] == "7"


async def test_subscribe_welcomes_and_a_file_alone_is_acknowledged(channel_app, fake_rasa):
    desk = await channel_app()
    channel = Recorder(desk.service)
    desk.service.add_channel(channel)
    follow = Inbound("u1", event="subscribe", message_id="u1:1764000000:subscribe")
    welcomed = await desk.service.receive("fake", follow)
    assert "欢迎" in welcomed.message["text"]
    # the provider retrying the event is welcomed once
    again = await desk.service.receive("fake", follow)
    assert again.duplicate and again.message["seq"] == welcomed.message["seq"]
    picture = Attachment(kind="image", url="http://provider/p.jpg", mime="image/jpeg")
    received = await desk.service.receive("fake", Inbound("u1", attachment=picture))
    assert received.message["payload"]["attachment"]["url"] == "http://provider/p.jpg"
    await settle(channel, lambda: len(channel.sent) == 2)
    assert "已收到您发送的文件" in channel.sent[1][1][0]
    assert fake_rasa.received == []  # the bot cannot read pictures
    await desk.service.receive("fake", Inbound("u1", event="unsubscribe"))
    assert ("unsubscribed",) in desk.rows("SELECT kind FROM events")


async def test_one_customer_across_channels_and_remembered_verification(channel_app):
    desk = await channel_app(seed=True, verified_identity_days=30)
    service = desk.service
    web, _ = await service.open("web", "session-aaaaaaaaaaaaaaaa")
    wechat, _ = await service.open("wechat", "openid-1", {"name": "小王"})
    assert web.contact_id != wechat.contact_id and wechat.customer_id is None
    async with service.sessions.begin() as session:
        for conversation in (web, wechat):
            loaded = await session.get(Conversation, conversation.id)
            await link_verified(session, loaded, 1, method="sms_code")
    [(web_contact, web_customer)] = desk.rows(
        "SELECT contact_id, customer_id FROM conversations WHERE id=?", web.id
    )
    [(wechat_contact, wechat_customer)] = desk.rows(
        "SELECT contact_id, customer_id FROM conversations WHERE id=?", wechat.id
    )
    assert web_contact == wechat_contact and web_customer == wechat_customer == 1
    assert desk.rows("SELECT name FROM contacts WHERE customer_id=1") == [("小王",)]

    # a new conversation on the verified identity starts verified ...
    async with service.sessions.begin() as session:
        await session.execute(update(Conversation).values(state="resolved"))
        await session.execute(
            update(Conversation).where(Conversation.id == wechat.id).values(channel="old")
        )
    again, new = await service.open("wechat", "openid-1")
    assert new and again.customer_id == 1 and again.contact_id == wechat_contact
    # ... until the verification lapses
    async with service.sessions.begin() as session:
        await session.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.external_id == "openid-1")
            .values(verified_at=datetime.now(UTC) - timedelta(days=31))
        )
        await session.execute(
            update(Conversation).where(Conversation.id == again.id).values(channel="older")
        )
    lapsed, new = await service.open("wechat", "openid-1")
    assert new and lapsed.customer_id is None


@pytest.mark.parametrize("permanent", [False, True], ids=["retried", "given_up"])
async def test_push_delivery_retries_in_order_or_gives_up(channel_app, fake_rasa, permanent):
    desk = await channel_app()
    channel = Recorder(desk.service)
    desk.service.add_channel(channel)
    channel.failures = [DeliveryFailed("provider down", permanent=permanent, retry_after=30)]
    fake_rasa.replies["你好"] = [{"text": "第一"}, {"text": "第二"}]
    await desk.service.receive("fake", Inbound("u1", text="你好"), wait_for_bot=True)
    await channel.drain()
    if permanent:
        # given up at once: the next message goes, nothing is left to retry
        assert channel.sent == [("u1", ["第二"])]
        [(data,)] = desk.rows("SELECT data FROM events WHERE kind='delivery_failed'")
        assert '"permanent": true' in data
        assert await channel.retry_due(datetime.now(UTC) + timedelta(hours=1)) == 0
    else:
        # nothing went; the retry is due when the provider asked (30 s), not sooner
        assert channel.sent == []
        due = await desk.delivery_due()
        assert await channel.retry_due(due - timedelta(microseconds=1)) == 0
        assert channel.sent == []
        assert await channel.retry_due(due) == 1
        # both arrive, once each, in order
        assert channel.sent == [("u1", ["第一"]), ("u1", ["第二"])]
        for hours in (1, 2, 3):
            assert await channel.retry_due(due + timedelta(hours=hours)) == 0
    assert len(channel.sent) == 2 - permanent
    [(delivered, last, due)] = desk.rows(
        "SELECT delivered_seq, last_seq, delivery_due_at FROM conversations"
    )
    assert delivered == last == 3 and due is None


async def test_a_held_conversation_is_answered_by_the_holder(channel_app, fake_rasa):
    desk = await channel_app()
    channel = Recorder(desk.service)
    desk.service.add_channel(channel)
    fake_rasa.replies["你好"] = [{"text": "一"}, {"text": "二"}]
    conversation, _ = await desk.service.open("fake", "u1")
    async with channel.holding(conversation.id):
        await desk.service.receive("fake", Inbound("u1", text="你好"), wait_for_bot=5)
        async with channel.answering(conversation.id, accept=lambda owed: 1) as taken:
            assert [m["text"] for m in taken] == ["一"]
        assert channel.sent == []
    # what the holder did not answer is pushed when it lets go
    assert channel.sent == [("u1", ["二"])]
    assert desk.rows("SELECT delivered_seq, last_seq FROM conversations") == [(3, 3)]


@pytest.mark.parametrize("failure", [ConnectionResetError, asyncio.CancelledError])
async def test_an_answer_the_holder_could_not_give_is_pushed_once(channel_app, fake_rasa, failure):
    """The holder's response did not go (the connection broke while it was written,
    or the request was cancelled): what it was to answer is still owed."""
    desk = await channel_app()
    channel = Recorder(desk.service)
    desk.service.add_channel(channel)
    fake_rasa.replies["你好"] = [{"text": "一"}, {"text": "二"}]
    conversation, _ = await desk.service.open("fake", "u1")
    with pytest.raises(failure):
        async with channel.holding(conversation.id):
            await desk.service.receive("fake", Inbound("u1", text="你好"), wait_for_bot=5)
            async with channel.answering(conversation.id, accept=lambda owed: 2) as taken:
                assert [m["text"] for m in taken] == ["一", "二"]
                raise failure()
    assert channel.sent == [("u1", ["一"]), ("u1", ["二"])]
    assert await channel.retry_due(datetime.now(UTC) + timedelta(hours=1)) == 0
    assert len(channel.sent) == 2
    [(delivered, last, due, lease)] = desk.rows(
        "SELECT delivered_seq, last_seq, delivery_due_at, delivery_lease FROM conversations"
    )
    assert delivered == last == 3 and due is None and lease is None
