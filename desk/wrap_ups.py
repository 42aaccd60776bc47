"""Wrap-up: after an agent resolves a conversation they finish its paperwork (notes,
a form, a callback to book) before the contact is done with. The wrap-up of a resolve
begins with it (`Lifecycle.resolve`) and ends when the agent says so, or when
housekeeping finds it older than the limit (WRAP_UP_MAX_SECONDS) and finishes it for
them. Either way one `wrap_up_done` event (`seconds` from the resolve, `auto`) is
written, exactly once: finishing is a conditional UPDATE whose row count decides.

Wrap-up does not take a place of the agent's capacity: chat agents work several
conversations at once, and a resolved one is no longer theirs to answer. A bot's
resolve has no wrap-up; a conversation the customer reopens meanwhile keeps the
wrap-up with the resolve before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.access import supervises
from desk.clock import aware, now
from desk.errors import DeskError
from desk.lifecycle import Lifecycle
from store.models import Agent, AgentRole, Conversation
from store.wrap_ups import WrapUp

WRAP_UP_DONE = "wrap_up_done"


class WrapUps(Lifecycle):
    async def _finish_wrap_up(
        self,
        session: AsyncSession,
        conversation: Conversation,
        wrap_up: WrapUp,
        at: datetime,
        auto: bool,
    ) -> dict[str, Any] | None:
        """Finish one wrap-up at `at`, with its event; None when another call or
        process finished it first."""
        seconds = (at - aware(wrap_up.started_at)).total_seconds()
        result = await session.execute(
            update(WrapUp)
            .where(
                WrapUp.resolve_event_id == wrap_up.resolve_event_id,
                WrapUp.finished_at.is_(None),
            )
            .values(finished_at=at)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        done = {"seconds": seconds, "auto": auto, "resolve_id": wrap_up.resolve_event_id}
        self._record(session, WRAP_UP_DONE, conversation, agent_id=wrap_up.agent_id, data=done)
        return {"conversation_id": conversation.id, "agent_id": wrap_up.agent_id, **done}

    async def finish_wrap_up(self, conversation_id: int, agent: Agent) -> dict[str, Any]:
        """The agent finished wrapping up the conversation they resolved (a supervisor
        or admin: anyone's). Every unfinished wrap-up of theirs on it ends; the answer
        names the latest. 409 `no_wrap_up` when there is none."""
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            unfinished = select(WrapUp).where(
                WrapUp.conversation_id == conversation.id, WrapUp.finished_at.is_(None)
            )
            if not supervises(agent):
                # Rights first: whether a wrap-up is open is told only to who may finish it.
                resolved_by = set(
                    await session.scalars(
                        select(WrapUp.agent_id).where(WrapUp.conversation_id == conversation.id)
                    )
                )
                mine = conversation.assigned_agent_id == agent.id or agent.id in resolved_by
                if agent.role != AgentRole.AGENT or not mine:
                    raise DeskError("forbidden", "This conversation is not yours.", 403)
                unfinished = unfinished.where(WrapUp.agent_id == agent.id)
            at = now()
            finished = []
            for wrap_up in await session.scalars(unfinished.order_by(WrapUp.resolve_event_id)):
                done = await self._finish_wrap_up(session, conversation, wrap_up, at, False)
                if done is not None:
                    finished.append(done)
        if not finished:
            raise DeskError("no_wrap_up", "There is no unfinished wrap-up of yours here.", 409)
        return finished[-1]

    async def finish_overdue_wrap_ups(self, at: datetime | None = None) -> int:
        """Wrap-ups left open past the limit end at it (`auto`), timed the limit after
        their resolve. The number finished here."""
        moment = at or now()
        limit = self.wrap_up_max
        async with self.sessions() as session:
            overdue = list(
                await session.scalars(
                    select(WrapUp)
                    .where(WrapUp.finished_at.is_(None), WrapUp.started_at <= moment - limit)
                    .order_by(WrapUp.resolve_event_id)
                )
            )
        finished = 0
        for wrap_up in overdue:
            async with self.sessions.begin() as session:
                conversation = await self._load(session, wrap_up.conversation_id)
                at_limit = aware(wrap_up.started_at) + limit
                done = await self._finish_wrap_up(session, conversation, wrap_up, at_limit, True)
                finished += done is not None
        return finished
