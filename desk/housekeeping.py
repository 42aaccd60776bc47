"""The periodic work of every console process: keep connected agents marked present (and
mark offline those nobody has heard from), keep connected web chat customers marked
seen (and take queued ones gone past the grace out of the queue), return the
conversations of agents who did not come back, finish agents' wrap-ups left open past
the limit, answer the customer messages the bot owes an answer to that nobody is
answering (their process died), hand queued conversations to agents with room, write
customers' acknowledgements that waited, push reminders of callbacks that are due,
retry deliveries to channels whose provider did not take a message, and bring the
analytics' rollups up to date.

Every step is safe to run in several console processes at once: each change is
conditional on the state it found."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from desk import casework
from desk.analytics.rollups import refresh
from desk.conversations import ConversationService
from desk.delivery import PushChannel
from desk.intake import LiveChannel

log = logging.getLogger(__name__)


async def run_once(
    service: ConversationService, grace_seconds: float, now: datetime | None = None
) -> None:
    """One round. `keep_house` runs it every few seconds; tests call it directly, with
    the time the round runs at (`now`, for owed bot turns, reminders and delivery
    retries; the clock's by default) instead of waiting for rounds to come."""
    hub = service.hub
    # Changes made through another process reach the consoles connected to this one.
    await hub.recheck()
    await service.heartbeat(hub.connected_agents())
    await service.lapse_presence(now)
    await service.requeue_absent(grace_seconds, now)
    # Customers connected here are still there; queued ones gone too long left.
    await service.customers_seen(
        {
            conversation_id
            for channel in service.channels.values()
            if isinstance(channel, LiveChannel)
            for conversation_id in channel.connected_conversations()
        },
        now,
    )
    await service.abandon_silent(service.queue_silence_grace, now)
    # Agents' wrap-ups left open past the limit end at it.
    await service.finish_overdue_wrap_ups(now)
    # Answered in the background: a slow bot holds up no other step.
    await service.answer_owed(now)
    await service.dispatch()
    # Customers' acknowledgements that waited for this round.
    await service.acks.flush()
    at = now or datetime.now(UTC)
    async with service.sessions.begin() as session:
        due = await casework.due_callbacks(session, at)
        views = [await casework.callback_view(session, callback) for callback in due]
    for view in views:
        await hub.reminder(view)
    for channel in service.channels.values():
        if isinstance(channel, PushChannel):
            await channel.retry_due(now)
    # The analytics' rollups, so that a supervisor's figures find little left to do.
    await refresh(service.sessions)


async def keep_house(service: ConversationService, interval: float, grace_seconds: float) -> None:
    while True:
        try:
            await run_once(service, grace_seconds)
        except Exception:  # noqa: BLE001 - one failed round must not stop the next
            log.exception("housekeeping failed")
        await asyncio.sleep(interval)
