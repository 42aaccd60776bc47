"""Customers' acknowledgements (the highest sequence number a client has), written
sparingly: a widget acknowledges every message it receives, and each would be a
write. One is written only when it moves forward, and at most once per interval per
conversation; the newest of the rest waits in this process until the next
housekeeping round, the customer's disconnect or shutdown. Losing one with a process
costs little: a reconnecting client sends its last sequence number anyway, and at
worst is sent again what it had."""

from __future__ import annotations

import math
import time

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import Conversation


class Acknowledgements:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], every_seconds: float = 5.0):
        self.sessions = sessions
        self.every = every_seconds
        # conversation -> (the highest written, when a write was last tried)
        self._written: dict[int, tuple[int, float]] = {}
        # conversation -> the newest not written yet
        self._waiting: dict[int, int] = {}

    def newest(self, conversation_id: int, stored: int) -> int:
        """The highest acknowledged, counting one still waiting here."""
        return max(stored, self._waiting.get(conversation_id, 0))

    async def acknowledge(self, conversation_id: int, seq: int, now: float | None = None) -> None:
        """The customer has everything up to `seq`."""
        now = time.monotonic() if now is None else now
        written, at = self._written.get(conversation_id, (0, -math.inf))
        if seq <= max(written, self._waiting.get(conversation_id, 0)):
            return
        if now - at < self.every:
            self._waiting[conversation_id] = seq
            return
        self._waiting.pop(conversation_id, None)
        await self._write(conversation_id, seq, now)

    async def flush(self, conversation_id: int | None = None, now: float | None = None) -> None:
        """Write what waits, of one conversation or of all; forget the conversations
        whose last write is older than the interval (they write at once next time)."""
        now = time.monotonic() if now is None else now
        ids = list(self._waiting) if conversation_id is None else [conversation_id]
        for waiting in ids:
            seq = self._waiting.pop(waiting, None)
            if seq is not None:
                await self._write(waiting, seq, now)
        if conversation_id is None:
            for quiet in [c for c, (_, at) in self._written.items() if now - at >= self.every]:
                del self._written[quiet]

    async def _write(self, conversation_id: int, seq: int, now: float) -> None:
        async with self.sessions.begin() as session:
            moved = await session.scalar(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.customer_ack_seq < seq,
                    Conversation.last_seq >= seq,
                )
                .values(customer_ack_seq=seq)
                .returning(Conversation.id)
            )
        # A number past the conversation's last is not taken; the interval still counts.
        written, _ = self._written.get(conversation_id, (0, now))
        self._written[conversation_id] = (seq if moved else written, now)
