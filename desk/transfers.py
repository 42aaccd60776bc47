"""Conversations changing hands (assigned → queued for another team, or straight to
another agent) and conversations of agents who went away put back in the queue:
the lifecycle's transitions for transfers and requeues, each one conditional
UPDATE like every other (see `desk.lifecycle`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from desk.access import may_act
from desk.clock import now
from desk.errors import DeskError
from desk.journal import Outbox, State
from desk.lifecycle import MAX_NOTE_CHARS, Lifecycle
from store.models import Agent, AgentRole, Conversation, Note, SenderKind, Team


class Transfers(Lifecycle):
    # ---- assigned → queued or another agent -----------------------------------------

    async def transfer(
        self,
        conversation_id: int,
        agent: Agent,
        note: str,
        team: str | None = None,
        to_agent_id: int | None = None,
    ) -> dict[str, Any]:
        """Hand a conversation to another team's queue or straight to another agent,
        with a note for whoever takes it."""
        note = (note or "").strip()
        if not note or len(note) > MAX_NOTE_CHARS:
            raise DeskError("malformed", "A transfer needs a note.", 400)
        if (team is None) == (to_agent_id is None):
            raise DeskError("malformed", "Transfer to a team or to an agent.", 400)
        outbox = Outbox(state_changed=True)
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            if conversation.state not in (State.QUEUED, State.ASSIGNED) or not (
                may_act(agent, conversation)
            ):
                raise DeskError("forbidden", "Only the agent handling it can transfer it.", 403)
            target = None
            if to_agent_id is not None:
                target = await session.get(Agent, to_agent_id)
                if target is None or not target.is_active or target.role == AgentRole.TRAINER:
                    raise DeskError("bad_agent", "No such agent.", 400)
                team = target.team
            team_row = await session.scalar(select(Team).where(Team.code == team))
            if team_row is None or team is None:
                raise DeskError("bad_team", "No such team.", 400)
            previous = conversation.assigned_agent_id
            old_team = conversation.team
            at = now()
            if target is not None:
                moved = await self._transition(
                    session,
                    conversation,
                    conversation.state,
                    previous,
                    state=State.ASSIGNED,
                    assigned_agent_id=target.id,
                    assigned_at=at,
                    queue_position=None,
                    team=team,
                )
            else:
                moved = await self._transition(
                    session,
                    conversation,
                    conversation.state,
                    previous,
                    state=State.QUEUED,
                    assigned_agent_id=None,
                    queued_at=at,
                    team=team,
                    # Someone already waited once: they go ahead of new arrivals.
                    priority=max(conversation.priority or 0, 1),
                )
            if not moved:
                raise self._changed_meanwhile()
            outbox.previous_agent_id = previous
            session.add(
                Note(conversation_id=conversation.id, agent_id=agent.id, text=note, created_at=at)
            )
            self._record(
                session,
                "transferred",
                conversation,
                agent_id=agent.id,
                data={"from_team": old_team, "to_team": team, "to_agent_id": to_agent_id},
            )
            outbox.conversation = conversation
            team_name = team_row.name_en if conversation.language == "en" else team_row.name_zh
            outbox.messages.append(
                await self._append(
                    session,
                    conversation,
                    SenderKind.SYSTEM,
                    self._system_text("transferring", conversation.language).format(team=team_name),
                )
            )
            if target is not None:
                self._record(
                    session,
                    "assigned",
                    conversation,
                    agent_id=target.id,
                    data={"wait_seconds": 0, "transfer": True},
                )
                await self._say_joined(session, conversation, target, outbox)
            else:
                await self._tell_position(session, conversation, outbox, "queue_update")
            outbox.queues.update({team, old_team})
        await self._publish(outbox)
        await self.dispatch()
        return await self.view(conversation)

    async def requeue_absent(self, grace_seconds: float, at: datetime | None = None) -> int:
        """Conversations of agents gone longer than the grace period (offline, or no
        console of theirs heard from in any process) go back to the queue, ahead of
        new arrivals (`at`: the time the round runs at, the clock's by default).
        Returns how many this process requeued."""
        at = at or now()
        cutoff = at - timedelta(seconds=grace_seconds)
        async with self.sessions() as session:
            stranded = (
                await session.execute(
                    select(Conversation.id, Conversation.assigned_agent_id)
                    .join(Agent, Agent.id == Conversation.assigned_agent_id)
                    .where(
                        Conversation.state == State.ASSIGNED,
                        or_(Agent.presence_at.is_(None), Agent.presence_at < cutoff),
                        or_(
                            Agent.presence == "offline",
                            Agent.presence_at < at - self.presence_ttl,
                        ),
                    )
                )
            ).all()
        requeued = 0
        for conversation_id, agent_id in stranded:
            outbox = Outbox(state_changed=True, previous_agent_id=agent_id)
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if not await self._transition(
                    session,
                    conversation,
                    State.ASSIGNED,
                    agent_id,
                    state=State.QUEUED,
                    assigned_agent_id=None,
                    queued_at=at,
                    priority=max(conversation.priority or 0, 1),
                ):
                    continue  # another process requeued it, or the agent came back
                self._record(
                    session,
                    "requeued",
                    conversation,
                    agent_id=agent_id,
                    data={"reason": "agent_disconnected"},
                )
                outbox.conversation = conversation
                await self._say(session, conversation, outbox, "requeued")
                await self._tell_position(session, conversation, outbox, "queue_update")
                outbox.queues.add(conversation.team)
            await self._publish(outbox)
            requeued += 1
        if requeued:
            await self.dispatch()
        return requeued
