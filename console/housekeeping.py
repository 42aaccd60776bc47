"""The console's periodic work: keep connected agents marked present, return the
conversations of agents who did not come back, hand queued conversations to
agents with room, push reminders of callbacks that are due, and retry deliveries
to channels whose provider did not take a message.

Every step is safe to run in several console processes at once: each change is
conditional on the state it found."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from channels.base import PushChannel
from console import casework
from console.agents import AgentConsole
from console.conversations import ConversationService

log = logging.getLogger(__name__)


async def run_once(service: ConversationService, hub: AgentConsole, grace_seconds: float) -> None:
    await service.heartbeat(hub.connected_agents())
    await service.requeue_absent(grace_seconds)
    await service.dispatch()
    now = datetime.now(UTC)
    async with service.sessions.begin() as session:
        due = await casework.due_callbacks(session, now)
        views = [await casework.callback_view(session, callback) for callback in due]
    for view in views:
        await hub.reminder(view)
    for channel in service.channels.values():
        if isinstance(channel, PushChannel):
            await channel.retry_due()


async def keep_house(
    service: ConversationService, hub: AgentConsole, interval: float, grace_seconds: float
) -> None:
    while True:
        try:
            await run_once(service, hub, grace_seconds)
        except Exception:  # noqa: BLE001 - one failed round must not stop the next
            log.exception("housekeeping failed")
        await asyncio.sleep(interval)
