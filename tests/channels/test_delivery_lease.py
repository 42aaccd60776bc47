"""The delivery lease of push channels: a flush renews it while it sends, and a flush
whose lease lapsed and was taken over by another process stops without touching
the new holder's lease. Two "processes" are two channel objects (their own locks,
their own holds) on one store; time is what each is told, never waited for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from desk.delivery import DELIVERY_LEASE, DeliveryFailed, PushChannel
from desk.intake import Inbound, Limits

ANSWERS = ["一", "二", "三", "四"]


class Provider(PushChannel):
    """A provider that takes messages (into the shared `log`, with the process that
    sent them); each message takes `pace` of the channel's clock. `stall_at(text)`:
    that message waits until the test calls `go_on(text)` (a process stopped, or a
    provider that does not answer), and then fails with `late_failure` if set."""

    name = "fake"
    limits = Limits(max_text_chars=50, buttons=False)

    def __init__(self, service, process: str, log: list[tuple[str, str]], at: datetime):
        super().__init__(service)
        self.process = process
        self.log = log
        self.time = at
        self.clock = lambda: self.time
        self.pace = timedelta(0)
        self.stalls: dict[str, asyncio.Event] = {}
        self.stalled = asyncio.Event()
        self.late_failure: DeliveryFailed | None = None

    def stall_at(self, text: str) -> None:
        self.stalls[text] = asyncio.Event()

    def go_on(self, text: str) -> None:
        self.stalls[text].set()

    async def send(self, conversation, message):
        text = message["text"]
        if text in self.stalls:
            self.stalled.set()
            await self.stalls[text].wait()
            if self.late_failure is not None:
                raise self.late_failure
        self.log.append((self.process, text))
        self.time += self.pace


async def stalled(provider: Provider) -> None:
    await asyncio.wait_for(provider.stalled.wait(), 10)


async def answered_while_held(desk, fake_rasa, provider: Provider) -> asyncio.Task:
    """The bot's four answers, owed while `provider` holds the conversation; letting
    go (in the task returned) flushes them."""
    fake_rasa.replies["你好"] = [{"text": text} for text in ANSWERS]
    conversation, _ = await desk.service.open("fake", "u1")

    async def hold_then_let_go():
        async with provider.holding(conversation.id):
            await desk.service.receive("fake", Inbound("u1", text="你好"), wait_for_bot=True)

    return asyncio.create_task(hold_then_let_go())


def delivery_row(desk) -> tuple:
    [row] = desk.rows(
        "SELECT delivered_seq, last_seq, delivery_due_at IS NULL, delivery_lease IS NULL, "
        "delivery_attempts, delivery_error FROM conversations"
    )
    return row


async def test_a_long_backlog_renews_its_lease_as_it_goes(channel_app, fake_rasa):
    desk = await channel_app()
    log: list[tuple[str, str]] = []
    started = datetime.now(UTC)
    first = Provider(desk.service, "first", log, started)
    first.pace = timedelta(seconds=40)  # a slow provider: 40 s a message
    desk.service.add_channel(first)
    first.stall_at("三")
    flushing = await answered_while_held(desk, fake_rasa, first)
    await stalled(first)
    assert log == [("first", "一"), ("first", "二")]
    # 120 s after it started, twice the lease: the first flush renewed it with each
    # message, so a second process finds nothing due.
    second = Provider(desk.service, "second", log, started)
    assert await second.retry_due(started + timedelta(seconds=120)) == 0
    first.go_on("三")
    await flushing
    assert log == [("first", text) for text in ANSWERS]
    assert delivery_row(desk) == (5, 5, True, True, 0, None)


@pytest.mark.parametrize(
    ("stall", "late"),
    [("三", "fails"), ("三", "goes"), ("四", "goes")],
    ids=["in_flight_fails", "in_flight_goes_late", "last_goes_late"],
)
async def test_a_flush_that_lost_its_lease_stops_and_leaves_the_new_holder_alone(
    channel_app, fake_rasa, stall, late
):
    desk = await channel_app()
    log: list[tuple[str, str]] = []
    started = datetime.now(UTC)
    first = Provider(desk.service, "first", log, started)
    desk.service.add_channel(first)
    first.stall_at(stall)
    flushing = await answered_while_held(desk, fake_rasa, first)
    await stalled(first)
    before = ANSWERS[: ANSWERS.index(stall)]
    assert log == [("first", text) for text in before]

    # The first process stops (a paused VM) for longer than its lease: the second
    # takes over where the cursor is, and is itself slow with the last message.
    takeover = started + DELIVERY_LEASE + timedelta(seconds=30)
    second = Provider(desk.service, "second", log, takeover)
    second.stall_at("四")
    taking_over = asyncio.create_task(second.retry_due(takeover))
    await stalled(second)
    rest = ANSWERS[ANSWERS.index(stall) : -1]
    assert log[len(before) :] == [("second", text) for text in rest]

    # The first wakes up: the message it was sending fails (it timed out) or reaches
    # the provider late. Either way it stops: nothing more sent, nothing written.
    first.late_failure = DeliveryFailed("timed out") if late == "fails" else None
    first.go_on(stall)
    await flushing
    woke = [("first", stall)] if late == "goes" else []
    assert log[len(before) + len(rest) :] == woke
    # The second still holds its lease: a third process finds nothing due.
    third = Provider(desk.service, "third", log, takeover)
    assert await third.retry_due(takeover + timedelta(seconds=1)) == 0
    assert await desk.delivery_due() == takeover + DELIVERY_LEASE
    assert desk.rows("SELECT delivery_lease IS NOT NULL, delivery_error FROM conversations") == [
        (1, None)
    ]

    second.go_on("四")
    assert await taking_over == 1
    # Every message went once, in order, but the one in flight when the lease
    # lapsed, which may have gone twice (a provider cannot take a message back).
    assert log == (
        [("first", text) for text in before]
        + [("second", text) for text in rest]
        + woke
        + [("second", "四")]
    )
    assert delivery_row(desk) == (5, 5, True, True, 0, None)
