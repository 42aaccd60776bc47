"""The journal: every message stored with its per-conversation sequence number
before it is delivered, resends recognised by client message id, an event row
for every state change, and pushes sent only after the transaction committed
(DESIGN §2, "persist, then deliver")."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.acknowledgements import Acknowledgements
from desk.clock import now
from desk.errors import DeskError
from desk.flood import RateLimiter, SharedRateLimiter
from desk.intake import Channel
from desk.locks import KeyedLocks
from desk.rasa import RasaClient
from desk.texts import SYSTEM_TEXTS
from desk.training.capture import Thresholds
from desk.views import conversation_view, message_view
from store.models import (
    Agent,
    Conversation,
    ConversationState,
    Event,
    Message,
    SenderKind,
)

log = logging.getLogger(__name__)
State = ConversationState


class AgentHub(Protocol):
    """Realtime pushes to the agents' console."""

    async def conversation_changed(
        self, conversation: dict[str, Any], previous_agent_id: int | None = None
    ) -> None: ...

    async def message_added(self, conversation_id: int, message: dict[str, Any]) -> None: ...

    async def note_added(self, conversation_id: int, note: dict[str, Any]) -> None: ...

    async def typing(self, conversation_id: int, data: dict[str, Any]) -> None: ...

    async def intent_seen(self, conversation_id: int, data: dict[str, Any]) -> None: ...

    async def withdraw(self, conversation_id: int) -> None:
        """Stop live updates of a conversation to everyone watching it (it changed hands)."""

    async def reminder(self, callback: dict[str, Any]) -> None:
        """A callback's window opened: remind its agent (or its team)."""

    async def presence_changed(self, agent_id: int, presence: str) -> None:
        """An agent's presence changed other than through their console here (they
        lapsed): the supervisors hear it, and the wallboard is drawn again."""

    def connected_agents(self) -> list[int]:
        """The agents with a console connected to this process."""
        ...

    async def recheck(self, agent_ids: list[int] | None = None) -> None:
        """Close the consoles (in this process) of agents signed out, deactivated, or
        moved to another role or team since they connected (None: every agent with a
        console here); a console that may, connects again with its new rights."""


class NoAgents:
    """The hub before one is attached: pushes go nowhere."""

    async def conversation_changed(
        self, conversation: dict[str, Any], previous_agent_id: int | None = None
    ) -> None:
        pass

    async def message_added(self, conversation_id: int, message: dict[str, Any]) -> None:
        pass

    async def note_added(self, conversation_id: int, note: dict[str, Any]) -> None:
        pass

    async def typing(self, conversation_id: int, data: dict[str, Any]) -> None:
        pass

    async def intent_seen(self, conversation_id: int, data: dict[str, Any]) -> None:
        pass

    async def withdraw(self, conversation_id: int) -> None:
        pass

    async def reminder(self, callback: dict[str, Any]) -> None:
        pass

    async def presence_changed(self, agent_id: int, presence: str) -> None:
        pass

    def connected_agents(self) -> list[int]:
        return []

    async def recheck(self, agent_ids: list[int] | None = None) -> None:
        pass


# How long an agent counts as online after a console of theirs was last heard from
# (each housekeeping round heart-beats the connected ones). Nothing else keeps them
# online: not their sign-in, whose token lasts much longer.
PRESENCE_TTL = timedelta(minutes=1)


@dataclass
class Outbox:
    """Messages and state changes written in one transaction, delivered after commit.

    `followers` hold what the same transaction wrote to other conversations (the
    queue positions it changed)."""

    conversation: Conversation | None = None
    messages: list[Message] = field(default_factory=list)
    state_changed: bool = False
    previous_agent_id: int | None = None
    followers: list[Outbox] = field(default_factory=list)
    # Teams whose queue changed: the others waiting there hear their new places.
    queues: set[str | None] = field(default_factory=set)


class Journal:
    """What every part of the conversation service stands on: the store, the
    pushes to agents and channels, and the plumbing that writes messages and events."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: RasaClient,
        hub: AgentHub | None = None,
        default_wait_seconds: int = 60,
        service_hours: Callable[[datetime], bool] | None = None,
        service_hours_text: str = "",
        auto_assign: bool = True,
        max_message_chars: int = 2000,
        rate_limiter: RateLimiter | SharedRateLimiter | None = None,
        verified_identity_days: float = 30,
        presence_ttl: timedelta = PRESENCE_TTL,
        bot_turn_lease: timedelta = timedelta(seconds=60),
        inbox_thresholds: Thresholds | None = None,
        queue_silence_grace: timedelta = timedelta(minutes=2),
        wrap_up_max: timedelta = timedelta(minutes=2),
    ):
        self.sessions = sessions
        self.max_message_chars = max_message_chars
        # Flood control per channel identity, for every channel alike.
        self.rate_limiter = rate_limiter or RateLimiter(per_minute=30, burst=20)
        # How long a channel identity's verification is remembered.
        self.verified_identity_days = verified_identity_days
        # Queued conversations go to the least-busy online agent of their team.
        self.auto_assign = auto_assign
        self.bot = bot
        # Set once the agents' namespace exists (it needs the service too).
        self.hub: AgentHub = hub or NoAgents()
        self.channels: dict[str, Channel] = {}
        self.default_wait_seconds = default_wait_seconds
        # When people answer; outside these hours a handoff becomes a callback offer.
        self.in_service_hours = service_hours or (lambda now: True)
        self.service_hours_text = service_hours_text
        # Serialises the bot's turns of one conversation in this process (Rasa
        # answers one message of a sender at a time). Storing messages needs no lock:
        # sequence numbers come from an atomic UPDATE, state from conditional ones.
        self._bot_locks = KeyedLocks()
        # Agents are "online" while a console process heart-beats them this recently.
        self.presence_ttl = presence_ttl
        # A queued web chat customer no process has seen for this long left the queue.
        self.queue_silence_grace = queue_silence_grace
        # An agent's wrap-up after a resolve not finished by then is finished for them.
        self.wrap_up_max = wrap_up_max
        self._bot_turns: set[asyncio.Task] = set()
        # A turn the bot owes is this process's to answer until its lease runs out;
        # then any process's housekeeping answers it (this one died, or hangs).
        self.bot_turn_lease = bot_turn_lease
        # When the bot counts as unsure of a message, for the trainers' inbox.
        self.inbox_thresholds = inbox_thresholds or Thresholds()
        self._turn_holder = uuid.uuid4().hex
        self.acks = Acknowledgements(sessions)

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    async def find(self, channel: str, external_user_id: str) -> Conversation | None:
        async with self.sessions() as session:
            return await session.scalar(_current(channel, external_user_id))

    async def get(self, conversation_id: int) -> Conversation | None:
        async with self.sessions() as session:
            return await session.get(Conversation, conversation_id)

    async def view(self, conversation: Conversation) -> dict[str, Any]:
        """One conversation for agents, with its agent's name (one row read, not all)."""
        agent_id = conversation.assigned_agent_id
        if agent_id is None:
            return conversation_view(conversation)
        async with self.sessions() as session:
            name = await session.scalar(select(Agent.display_name).where(Agent.id == agent_id))
        return conversation_view(conversation, {agent_id: name or ""})

    async def agent_names(self, session: AsyncSession) -> dict[int, str]:
        rows = await session.execute(select(Agent.id, Agent.display_name))
        return {agent_id: name for agent_id, name in rows}

    async def acknowledge(self, conversation_id: int, seq: int) -> None:
        """The customer has everything up to `seq` (written sparingly, see `acks`)."""
        await self.acks.acknowledge(conversation_id, seq)

    async def messages_after(
        self, conversation_id: int, after: int = 0, outbound_only: bool = False, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Messages with a sequence number above `after`: what a reconnecting client missed."""
        query = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.seq > after)
            .order_by(Message.seq)
            .limit(limit)
        )
        if outbound_only:
            query = query.where(Message.sender != SenderKind.CUSTOMER)
        async with self.sessions() as session:
            return [message_view(m) for m in (await session.scalars(query)).all()]

    @staticmethod
    def _record(
        session: AsyncSession,
        kind: str,
        conversation: Conversation,
        agent_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        """Append a reporting event about the conversation (and its customer, if verified),
        timed by this process's clock to the microsecond (the metrics measure waits of
        seconds; the database's own `now()` is per second on SQLite, per transaction on
        PostgreSQL)."""
        event = Event(
            at=now(),
            kind=kind,
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            agent_id=agent_id,
            data=data or {},
        )
        session.add(event)
        return event

    async def _say(
        self,
        session: AsyncSession,
        conversation: Conversation,
        outbox: Outbox,
        key: str,
        payload: dict[str, Any] | None = None,
    ) -> Message:
        """Append one of the gateway's own texts, to be delivered once committed."""
        message = await self._append(
            session,
            conversation,
            SenderKind.SYSTEM,
            self._system_text(key, conversation.language),
            payload,
        )
        outbox.messages.append(message)
        return message

    @staticmethod
    def _system_text(key: str, language: str) -> str:
        zh, en = SYSTEM_TEXTS[key]
        return en if language == "en" else zh

    @staticmethod
    async def _load(session: AsyncSession, conversation_id: int) -> Conversation:
        conversation = await session.get(Conversation, conversation_id, populate_existing=True)
        if conversation is None:
            raise DeskError("not_found", "No such conversation.", 404)
        return conversation

    @staticmethod
    async def _by_client_id(
        session: AsyncSession, conversation_id: int, client_message_id: str
    ) -> Message | None:
        return await session.scalar(
            select(Message).where(
                Message.conversation_id == conversation_id,
                Message.client_message_id == client_message_id,
            )
        )

    @staticmethod
    async def _append(
        session: AsyncSession,
        conversation: Conversation,
        sender: SenderKind,
        text: str | None,
        payload: dict[str, Any] | None = None,
        client_message_id: str | None = None,
        agent_id: int | None = None,
    ) -> Message:
        # One atomic increment hands out the sequence number, across processes too.
        seq = await session.scalar(
            update(Conversation)
            .where(Conversation.id == conversation.id)
            .values(last_seq=Conversation.last_seq + 1)
            .returning(Conversation.last_seq)
        )
        if seq is None:
            raise DeskError("not_found", "No such conversation.", 404)
        conversation.last_seq = seq
        message = Message(
            conversation_id=conversation.id,
            seq=seq,
            sender=sender,
            text=text,
            payload=payload or None,
            client_message_id=client_message_id,
            agent_id=agent_id,
            created_at=now(),
        )
        session.add(message)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise DeskError("conflict", "The message could not be stored.") from exc
        return message

    async def _publish(self, outbox: Outbox) -> None:
        """Deliver what a committed transaction wrote."""
        conversation = outbox.conversation
        if conversation is None:
            return
        if outbox.state_changed:
            # Whoever watched it watches again, which checks that they still may.
            await self.hub.withdraw(conversation.id)
        for message in outbox.messages:
            view = message_view(message)
            await self.hub.message_added(conversation.id, view)
            if message.sender != SenderKind.CUSTOMER:
                channel = self.channels.get(conversation.channel)
                if channel is not None:
                    await channel.deliver(conversation, view)
        if outbox.state_changed:
            await self.hub.conversation_changed(
                await self.view(conversation), outbox.previous_agent_id
            )
        for follower in outbox.followers:
            await self._publish(follower)


def _remembered(conversation: Conversation) -> dict[str, Any]:
    """The handoff the bot asked for when nobody could answer, kept on the conversation."""
    return {
        "team": conversation.team,
        "reason": conversation.handoff_reason,
        "summary": conversation.handoff_summary,
    }


def _current(channel: str, external_user_id: str):
    """A channel identity's newest conversation."""
    return (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.external_user_id == external_user_id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
