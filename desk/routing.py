"""Routing: queue positions, expected waits, and who is online.

Presence lives in the store, so every console process sees the same: an agent is
online while any process holding their console heart-beats them (every
housekeeping round), and gone once none has for `presence_ttl`. A process whose
last socket of an agent closes marks them offline; a process that still holds
one puts them back at its next heartbeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from desk.clock import aware, now
from desk.journal import Journal, Outbox, State
from desk.texts import wait_text
from store.models import (
    Agent,
    AgentRole,
    Conversation,
    Event,
    SenderKind,
)

# The "stop waiting" button of every queue position message.
LEAVE_QUEUE_PAYLOAD = "/leave_queue"
# Leaving the queue for the bot's callback form: the intent itself, passed to the bot.
CALLBACK_INSTEAD_PAYLOAD = "/request_callback"
RECENT_WAITS = 20
PRESENCE = "presence"


class Routing(Journal):
    def _online(self, query):
        """Agents who are signed in and answering (not away), heard from lately, and
        who take conversations (admins and trainers signed in do not count)."""
        return query.where(
            Agent.is_active.is_(True),
            Agent.role.in_((AgentRole.AGENT, AgentRole.SUPERVISOR)),
            Agent.presence == "online",
            Agent.presence_at > now() - self.presence_ttl,
        )

    async def _agents_online(self, session: AsyncSession, team: str | None = None) -> int:
        query = self._online(select(func.count()).select_from(Agent))
        if team is not None:
            query = query.where(Agent.team == team, Agent.role == AgentRole.AGENT)
        return await session.scalar(query) or 0

    async def _position(self, session: AsyncSession, conversation: Conversation) -> int:
        """1 + the conversations of the same team answered before this one:
        higher priority first, then the longest waiting."""
        same = Conversation.priority == conversation.priority
        ahead = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.state == State.QUEUED,
                Conversation.team == conversation.team,
                Conversation.id != conversation.id,
                or_(
                    Conversation.priority > conversation.priority,
                    and_(same, Conversation.queued_at < conversation.queued_at),
                    and_(
                        same,
                        Conversation.queued_at == conversation.queued_at,
                        Conversation.id < conversation.id,
                    ),
                ),
            )
        )
        return (ahead or 0) + 1

    async def _tell_position(
        self,
        session: AsyncSession,
        conversation: Conversation,
        outbox: Outbox,
        key: str,
        position: int | None = None,
    ) -> None:
        """Tell the customer where they are in the queue and how long it may take."""
        if position is None:
            position = await self._position(session, conversation)
            conversation.queue_position = position
        else:
            set_committed_value(conversation, "queue_position", position)
        wait = await self._expected_wait(session, position, conversation.team)
        lang = conversation.language
        text = self._system_text(key, lang).format(
            ahead=position - 1, position=position, wait=wait_text(wait, lang)
        )
        outbox.messages.append(
            await self._append(
                session,
                conversation,
                SenderKind.SYSTEM,
                text,
                {
                    "queue": {"position": position, "expected_wait_seconds": round(wait)},
                    # The customer may stop waiting at any point, or book a callback
                    # instead (abandons, for the service level, counted apart).
                    "buttons": [
                        {
                            "title": self._system_text("leave_queue_button", lang),
                            "payload": LEAVE_QUEUE_PAYLOAD,
                        },
                        {
                            "title": self._system_text("callback_instead_button", lang),
                            "payload": CALLBACK_INSTEAD_PAYLOAD,
                        },
                    ],
                },
            )
        )

    async def _publish(self, outbox: Outbox) -> None:
        await super()._publish(outbox)
        for team in sorted(t for t in outbox.queues if t):
            await self._retell_positions(team)

    async def _retell_positions(self, team: str) -> None:
        """After a change to a team's queue has committed, customers of that queue
        whose place changed hear their new one. Each position is claimed by a
        conditional write, so two processes never tell a customer the same twice;
        rows are visited in answering order, so they never wait on each other."""
        outbox = Outbox()
        async with self.sessions.begin() as session:
            waiting = (
                await session.scalars(
                    select(Conversation)
                    .where(Conversation.state == State.QUEUED, Conversation.team == team)
                    .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
                    .limit(200)
                )
            ).all()
            for position, conversation in enumerate(waiting, start=1):
                if conversation.queue_position == position:
                    continue
                claimed = await session.execute(
                    update(Conversation)
                    .where(
                        Conversation.id == conversation.id,
                        Conversation.state == State.QUEUED,
                        or_(
                            Conversation.queue_position.is_(None),
                            Conversation.queue_position != position,
                        ),
                    )
                    .values(queue_position=position)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                follower = Outbox(conversation=conversation)
                await self._tell_position(session, conversation, follower, "queue_update", position)
                outbox.followers.append(follower)
        await super()._publish(outbox)

    async def _expected_wait(self, session: AsyncSession, position: int, team: str) -> float:
        """Position times the average wait of recently answered handoffs, shared
        among the team's agents who are answering."""
        rows = (
            await session.execute(
                select(Conversation.queued_at, Conversation.assigned_at)
                .where(Conversation.assigned_at.is_not(None), Conversation.queued_at.is_not(None))
                .order_by(Conversation.assigned_at.desc())
                .limit(RECENT_WAITS)
            )
        ).all()
        waits = [(aware(a) - aware(q)).total_seconds() for q, a in rows if a >= q]
        average = sum(waits) / len(waits) if waits else self.default_wait_seconds
        answering = max(1, await self._agents_online(session, team))
        return max(average, 1.0) * position / answering

    async def _store_presence(self, agent_id: int, presence: str) -> None:
        at = now()
        async with self.sessions.begin() as session:
            previous = await session.scalar(select(Agent.presence).where(Agent.id == agent_id))
            await session.execute(
                update(Agent).where(Agent.id == agent_id).values(presence=presence, presence_at=at)
            )
            if previous is not None and previous != presence:
                _presence_changed(session, agent_id, presence, previous, at)

    async def mark_all_offline(self) -> None:
        at = now()
        async with self.sessions.begin() as session:
            found = await session.execute(
                select(Agent.id, Agent.presence).where(Agent.presence != "offline")
            )
            for agent_id, previous in found.all():
                _presence_changed(session, agent_id, "offline", previous, at)
            await session.execute(
                update(Agent)
                .where(Agent.presence != "offline")
                .values(presence="offline", presence_at=at)
            )

    async def heartbeat(self, agent_ids: list[int]) -> None:
        """Agents whose console is connected to this process are still there: online
        again if another process, whose socket of theirs closed, marked them offline."""
        if not agent_ids:
            return
        at = now()
        async with self.sessions.begin() as session:
            # Conditional, so that of two processes heart-beating at once one records it.
            back = await session.scalars(
                update(Agent)
                .where(Agent.id.in_(agent_ids), Agent.presence == "offline")
                .values(presence="online", presence_at=at)
                .returning(Agent.id)
            )
            for agent_id in back.all():
                _presence_changed(session, agent_id, "online", "offline", at)
            await session.execute(
                update(Agent).where(Agent.id.in_(agent_ids)).values(presence_at=at)
            )

    async def lapse_presence(self, at: datetime | None = None) -> int:
        """Agents no process has heard from for `presence_ttl` are offline from the
        moment they lapsed (their timeline says so, for the time-online figures); a
        console of theirs that comes back puts them online at its next heartbeat.
        Returns how many lapsed."""
        at = at or now()
        lapsed: list[int] = []
        async with self.sessions.begin() as session:
            stale = await session.execute(
                select(Agent.id, Agent.presence, Agent.presence_at).where(
                    Agent.presence != "offline", Agent.presence_at < at - self.presence_ttl
                )
            )
            for agent_id, previous, heard in stale.all():
                changed = await session.execute(
                    update(Agent)
                    .where(
                        Agent.id == agent_id,
                        Agent.presence == previous,
                        Agent.presence_at == heard,
                    )
                    .values(presence="offline")
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount == 1:  # type: ignore[attr-defined]
                    lapse = aware(heard) + self.presence_ttl
                    _presence_changed(session, agent_id, "offline", previous, lapse, lapsed=True)
                    lapsed.append(agent_id)
        for agent_id in lapsed:
            await self.hub.presence_changed(agent_id, "offline")
        return len(lapsed)


def _presence_changed(
    session: AsyncSession, agent_id: int, presence: str, previous: str, at: datetime, **more: Any
) -> None:
    """The agent status timeline: one event per change (occupancy and time online
    are read from it)."""
    session.add(
        Event(
            at=at,
            kind=PRESENCE,
            agent_id=agent_id,
            data={"presence": presence, "previous": previous, **more},
        )
    )


async def workloads(session: AsyncSession, agent_id: int | None = None) -> dict[int, int]:
    """How many conversations each agent (or one agent) has assigned right now."""
    query = (
        select(Conversation.assigned_agent_id, func.count())
        .where(Conversation.state == State.ASSIGNED)
        .group_by(Conversation.assigned_agent_id)
    )
    if agent_id is not None:
        query = query.where(Conversation.assigned_agent_id == agent_id)
    rows = await session.execute(query)
    return {agent: count for agent, count in rows if agent is not None}
