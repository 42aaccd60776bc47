"""The lifecycle: the only code that changes a conversation's state
(bot → queued → assigned → resolved, reopened; transfers and requeues are its
part in `desk.transfers`), and dispatch, which gives queued conversations to agents.

Every transition is a conditional UPDATE (`WHERE id = … AND state = …`, and the
agent it found): its row count decides, so two console processes can never both
take the same step. Events are written and pushes sent only when it succeeded.
Telling the rest of a queue their new places happens after the change committed,
in a transaction of its own."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from desk.access import may_act, supervises
from desk.analytics.episodes import (
    ABANDONED,
    BACK_TO_BOT,
    HANDOFF,
    at_handoff,
    episode_end,
    open_episode,
)
from desk.clock import aware, now
from desk.errors import DeskError
from desk.journal import Outbox, State
from desk.routing import Routing, workloads
from desk.views import conversation_view
from store.identities import verification_lapsed
from store.models import (
    Agent,
    AgentRole,
    Conversation,
    SenderKind,
)
from store.presence import CustomerPresence
from store.wrap_ups import WrapUp

log = logging.getLogger(__name__)

# The "keep waiting" button of a callback offer: queue after all.
QUEUE_PAYLOAD = "/queue"
# Why an agent closed a conversation, for the reports.
RESOLUTION_REASONS = (
    "answered",
    "claim_explained",
    "callback_scheduled",
    "complaint_logged",
    "transferred_offline",
    "no_response",
    "duplicate",
    "other",
)
# Handoffs that jump the queue: an upset customer, or one the bot failed.
URGENT_REASONS = {"complaint", "action_failed", "bot_unavailable", "fallback"}
URGENT_TEAMS = {"complaints"}
MAX_NOTE_CHARS = 2000


def rating_payload(score: int) -> str:
    return f'/rate{{"score": {score}}}'


RATING = {rating_payload(score): score for score in range(1, 6)}


class Lifecycle(Routing):
    # ---- the one way a conversation's state changes --------------------------------

    @staticmethod
    async def _transition(
        session: AsyncSession,
        conversation: Conversation,
        expected: State | tuple[State, ...],
        agent_id: int | None | EllipsisType = ...,
        **values: Any,
    ) -> bool:
        """Write `values` to the conversation's row only if it is still in the
        `expected` state (and, when given, still with `agent_id`): the row count
        decides, across processes. True when it took; the loaded object then holds
        the new values without another write."""
        states = expected if isinstance(expected, tuple) else (expected,)
        query = update(Conversation).where(
            Conversation.id == conversation.id, Conversation.state.in_(states)
        )
        if agent_id is None:
            query = query.where(Conversation.assigned_agent_id.is_(None))
        elif not isinstance(agent_id, EllipsisType):
            query = query.where(Conversation.assigned_agent_id == agent_id)
        result = await session.execute(
            query.values(**values).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        for key, value in values.items():
            set_committed_value(conversation, key, value)
        return True

    @staticmethod
    def _changed_meanwhile() -> DeskError:
        return DeskError("conflict", "The conversation changed meanwhile; look again.", 409)

    # ---- bot → queued ---------------------------------------------------------------

    @staticmethod
    def _remember_handoff(conversation: Conversation, handoff: dict[str, Any]) -> None:
        conversation.team = str(handoff.get("team") or "general")[:32]
        conversation.handoff_reason = str(handoff.get("reason") or "bot")[:64]
        conversation.handoff_summary = str(handoff.get("summary") or "")[:2000]
        urgent = conversation.handoff_reason in URGENT_REASONS or conversation.team in URGENT_TEAMS
        conversation.priority = max(conversation.priority or 0, 1 if urgent else 0)

    async def _queue(
        self,
        session: AsyncSession,
        conversation: Conversation,
        handoff: dict[str, Any],
        outbox: Outbox,
    ) -> bool:
        """The bot's conversation joins its team's queue; the customer hears their place."""
        if not await self._transition(
            session, conversation, State.BOT, state=State.QUEUED, queued_at=now()
        ):
            return False
        self._remember_handoff(conversation, handoff)
        self._record(session, HANDOFF, conversation, data={**handoff, **at_handoff(conversation)})
        await self._tell_position(session, conversation, outbox, "queued")
        outbox.state_changed = True
        # A conversation that jumps the queue moves the others back.
        outbox.queues.add(conversation.team)
        return True

    async def _leave_queue(
        self,
        session: AsyncSession,
        conversation: Conversation,
        outbox: Outbox,
        how: str = "left",
        at: datetime | None = None,
    ) -> bool:
        """The customer left the queue before an agent answered (`how`: the button, or
        silent: gone since `at`): resolved as abandoned, with how long they waited (for
        the service level). False if an agent took the conversation meanwhile."""
        episode = await open_episode(session, conversation.id)
        left_at = now()
        if not await self._transition(
            session,
            conversation,
            State.QUEUED,
            None,
            state=State.RESOLVED,
            resolved_at=left_at,
            resolution_reason=ABANDONED,
            queue_position=None,
        ):
            return False
        data: dict[str, Any] = {"how": how}
        if episode is not None:
            data.update(episode_end(episode, at or left_at))
        self._record(session, ABANDONED, conversation, data=data)
        await self._say(session, conversation, outbox, "left_queue_silent" if at else "left_queue")
        outbox.state_changed = True
        # The others waiting there move up.
        outbox.queues.add(conversation.team)
        return True

    async def customers_seen(self, conversation_ids: set[int], at: datetime | None = None) -> None:
        """The customers of these conversations are connected (a process heart-beats
        them every round)."""
        if not conversation_ids:
            return
        moment = at or now()
        async with self.sessions.begin() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            for conversation_id in sorted(conversation_ids):
                statement = dialect.insert(CustomerPresence).values(
                    conversation_id=conversation_id, seen_at=moment
                )
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["conversation_id"], set_={"seen_at": moment}
                    )
                )

    async def abandon_silent(self, grace: timedelta, at: datetime | None = None) -> int:
        """Queued customers whose connection nobody has seen for `grace` left the queue:
        resolved as abandoned (`how` silent), having waited until they were last seen.
        The number abandoned."""
        moment = at or now()
        async with self.sessions() as session:
            gone = list(
                (
                    await session.execute(
                        select(Conversation.id, CustomerPresence.seen_at)
                        .join(CustomerPresence, CustomerPresence.conversation_id == Conversation.id)
                        .where(
                            Conversation.state == State.QUEUED,
                            CustomerPresence.seen_at < moment - grace,
                        )
                    )
                ).all()
            )
        left = 0
        for conversation_id, seen_at in gone:
            outbox = Outbox()
            async with self.sessions.begin() as session:
                conversation = await session.get(Conversation, conversation_id)
                if conversation is None:
                    continue
                outbox.conversation = conversation
                left += await self._leave_queue(
                    session, conversation, outbox, how="silent", at=aware(seen_at)
                )
            await self._publish(outbox)
        return left

    async def _callback_instead(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> bool:
        """The customer stopped waiting to book a callback: back to the bot, which asks
        when and where to call; the queue episode ends as an abandon for a callback
        (counted apart), and a new bot session begins. False if an agent took the
        conversation meanwhile."""
        episode = await open_episode(session, conversation.id)
        left_at = now()
        if not await self._transition(
            session, conversation, State.QUEUED, None, state=State.BOT, queue_position=None
        ):
            return False
        data: dict[str, Any] = {"how": "callback"}
        if episode is not None:
            data.update(episode_end(episode, left_at))
        self._record(session, ABANDONED, conversation, data=data)
        self._record(session, BACK_TO_BOT, conversation)
        outbox.state_changed = True
        outbox.queues.add(conversation.team)
        return True

    async def _hand_over(
        self,
        session: AsyncSession,
        conversation: Conversation,
        handoff: dict[str, Any],
        outbox: Outbox,
    ) -> bool:
        """Queue for a person when one can answer; otherwise offer a callback (and,
        in service hours, waiting anyway). True when the conversation was queued."""
        after_hours = not self.in_service_hours(now())
        if not after_hours and await self._agents_online(session):
            return await self._queue(session, conversation, handoff, outbox)
        # Kept for the "keep waiting" button.
        self._remember_handoff(conversation, handoff)
        self._record(
            session, "handoff_deferred", conversation, data={**handoff, "after_hours": after_hours}
        )
        lang = conversation.language
        callback = self._system_text("callback_button", lang)
        buttons = [{"title": callback, "payload": callback}]
        if not after_hours:
            buttons.append(
                {"title": self._system_text("wait_button", lang), "payload": QUEUE_PAYLOAD}
            )
        text = self._system_text("after_hours" if after_hours else "no_agents", lang)
        outbox.messages.append(
            await self._append(
                session,
                conversation,
                SenderKind.SYSTEM,
                text.format(hours=self.service_hours_text),
                {"buttons": buttons},
            )
        )
        return False

    # ---- resolved → bot, bot → resolved -------------------------------------------

    async def _reopen_if_resolved(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> None:
        """A customer writing to a resolved conversation starts it again with the bot,
        verified still only if their identity's verification has not lapsed."""
        if conversation.state != State.RESOLVED:
            return
        if await self._transition(
            session, conversation, State.RESOLVED, state=State.BOT, assigned_agent_id=None
        ):
            outbox.state_changed = True
            self._record(session, "reopened", conversation)
            await verification_lapsed(session, conversation, self.verified_identity_days)

    async def _resolve_by_bot(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> None:
        """The bot saw the customer off: resolved without a person, and a rating asked."""
        if await self._transition(
            session, conversation, State.BOT, state=State.RESOLVED, resolved_at=now()
        ):
            self._record(session, "resolved", conversation, data={"by": "bot"})
            await self._ask_for_rating(session, conversation, outbox)
            outbox.state_changed = True

    async def _rating(
        self, session: AsyncSession, conversation: Conversation, score: int, outbox: Outbox
    ) -> None:
        """A satisfaction rating from the buttons we offered: an event, and thanks."""
        self._record(
            session,
            "csat",
            conversation,
            agent_id=conversation.assigned_agent_id,
            data={"score": score},
        )
        await self._say(session, conversation, outbox, "rating_thanks")

    async def _ask_for_rating(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> None:
        buttons = [
            {"title": "★" * score, "payload": rating_payload(score)} for score in range(5, 0, -1)
        ]
        await self._say(session, conversation, outbox, "rating_request", {"buttons": buttons})

    # ---- queued → assigned ----------------------------------------------------------

    async def set_presence(self, agent_id: int, presence: str) -> None:
        """online, away or offline: whether handoffs are offered to the agent now."""
        await self._store_presence(agent_id, presence)
        if presence == "online":
            await self.dispatch()

    async def dispatch(self) -> int:
        """Give queued conversations, in answering order, to the least-busy online
        agent of their team who is below capacity. Returns how many were given."""
        if not self.auto_assign:
            return 0
        async with self.sessions() as session:
            answering = (
                await session.scalars(
                    self._online(select(Agent)).where(Agent.role == AgentRole.AGENT)
                )
            ).all()
            load = await workloads(session)
            room: dict[str, int] = {}
            for a in answering:
                room[a.team] = room.get(a.team, 0) + max(0, (a.capacity or 0) - load.get(a.id, 0))
            # Each team's head of the queue, as far as its agents have room: a long
            # queue of one team never hides another's (teams share no agents, so the
            # order between teams does not matter).
            waiting: list[Conversation] = []
            for team, places in sorted(room.items()):
                if places:
                    waiting += (
                        await session.scalars(
                            select(Conversation)
                            .where(Conversation.state == State.QUEUED, Conversation.team == team)
                            .order_by(
                                Conversation.priority.desc(),
                                Conversation.queued_at,
                                Conversation.id,
                            )
                            .limit(places)
                        )
                    ).all()
            if not waiting:
                return 0
        given = 0
        moved: set[str] = set()
        for conversation in waiting:
            free = [
                a
                for a in answering
                if a.team == conversation.team and load.get(a.id, 0) < (a.capacity or 0)
            ]
            if not free:
                continue
            agent = min(free, key=lambda a: (load.get(a.id, 0), a.id))
            try:
                # The rest of the queue hears its new places once, after the round.
                await self.assign(conversation.id, agent, auto=True, retell=False)
            except DeskError as refused:
                if refused.code == "at_capacity":
                    load[agent.id] = agent.capacity or 0  # another process filled them up
                continue  # otherwise taken meanwhile, by hand or by another process
            except DBAPIError as failed:
                # Two processes contending for the same rows: the database chose one.
                log.info("dispatch of conversation %s deferred: %s", conversation.id, failed)
                continue
            load[agent.id] = load.get(agent.id, 0) + 1
            given += 1
            moved.add(conversation.team)
        for team in sorted(moved):
            await self._retell_positions(team)
        return given

    async def assign(
        self, conversation_id: int, agent: Agent, auto: bool = False, retell: bool = True
    ) -> dict[str, Any]:
        """The agent takes a queued conversation of their team (supervisors take any,
        also from a colleague). `auto` is the dispatcher giving it to them, which
        never puts an agent over their capacity; `retell=False` leaves telling the
        rest of the queue their new places to the caller."""
        outbox = Outbox(state_changed=True)
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            # Rights first: what state it is in is not told to who may not take it.
            supervising = supervises(agent)
            if not supervising and (
                agent.role != AgentRole.AGENT or conversation.team != agent.team
            ):
                raise DeskError("forbidden", "This conversation is queued for another team.", 403)
            if conversation.state == State.ASSIGNED and conversation.assigned_agent_id == agent.id:
                return await self.view(conversation)
            if conversation.state == State.ASSIGNED and not supervising:
                raise DeskError("already_assigned", "Another agent has taken it.")
            if conversation.state not in (State.QUEUED, State.ASSIGNED):
                raise DeskError(
                    "not_queued", f"The conversation is {conversation.state.value}, not queued."
                )
            if auto:
                await self._check_capacity(session, agent)
            at = now()
            previous = conversation.assigned_agent_id
            taken = await self._transition(
                session,
                conversation,
                conversation.state,
                previous,
                state=State.ASSIGNED,
                assigned_agent_id=agent.id,
                assigned_at=at,
                queue_position=None,
            )
            if not taken:
                raise DeskError("already_assigned", "Another agent has taken it.")
            outbox.previous_agent_id = previous
            queued_at = conversation.queued_at
            waited = (at - aware(queued_at)).total_seconds() if queued_at else None
            self._record(
                session,
                "assigned",
                conversation,
                agent_id=agent.id,
                data={"wait_seconds": waited, "auto": auto},
            )
            await self._say_joined(session, conversation, agent, outbox)
            outbox.conversation = conversation
            if retell:
                outbox.queues.add(conversation.team)
        await self._publish(outbox)
        return await self.view(conversation)

    @staticmethod
    async def _check_capacity(session: AsyncSession, agent: Agent) -> None:
        """Hold the agent's row for this transaction (a write, so SQLite takes its
        lock too), then count: two processes cannot both fill the last place."""
        await session.execute(
            update(Agent).where(Agent.id == agent.id).values(capacity=Agent.capacity)
        )
        load = (await workloads(session, agent.id)).get(agent.id, 0)
        if load >= (agent.capacity or 0):
            raise DeskError("at_capacity", f"{agent.display_name} has no room.", 409)

    async def _say_joined(
        self, session: AsyncSession, conversation: Conversation, agent: Agent, outbox: Outbox
    ) -> None:
        text = self._system_text("assigned", conversation.language).format(agent=agent.display_name)
        outbox.messages.append(
            await self._append(
                session, conversation, SenderKind.SYSTEM, text, {"agent_name": agent.display_name}
            )
        )

    # ---- → resolved -----------------------------------------------------------------

    async def resolve(
        self, conversation_id: int, agent: Agent, reason: str | None = None
    ) -> dict[str, Any]:
        """Close the conversation with a reason code and ask the customer for a rating.
        Resolving a resolved conversation changes nothing."""
        if reason not in RESOLUTION_REASONS:
            raise DeskError(
                "bad_reason", "reason must be one of " + ", ".join(RESOLUTION_REASONS) + ".", 400
            )
        outbox = Outbox(state_changed=True)
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            if not may_act(agent, conversation):
                raise DeskError("forbidden", "This conversation is not yours.", 403)
            if conversation.state == State.RESOLVED:
                return conversation_view(conversation, await self.agent_names(session))
            resolved = await self._transition(
                session,
                conversation,
                conversation.state,
                conversation.assigned_agent_id,
                state=State.RESOLVED,
                resolved_at=now(),
                resolution_reason=reason,
                queue_position=None,
            )
            if resolved:
                event = self._record(
                    session,
                    "resolved",
                    conversation,
                    agent_id=agent.id,
                    data={"reason": reason, "by": "agent"},
                )
                # The agent's wrap-up of this resolve begins (see `desk.wrap_ups`).
                await session.flush()
                session.add(
                    WrapUp(
                        resolve_event_id=event.id,
                        conversation_id=conversation.id,
                        agent_id=agent.id,
                        started_at=event.at,
                    )
                )
                await self._say(session, conversation, outbox, "resolved")
                await self._ask_for_rating(session, conversation, outbox)
                outbox.conversation = conversation
                outbox.queues.add(conversation.team)
        if not resolved:
            # Someone else resolved or took it meanwhile.
            current = await self.get(conversation_id)
            if current is not None and current.state == State.RESOLVED:
                return await self.view(current)
            raise self._changed_meanwhile()
        await self._publish(outbox)
        await self.dispatch()  # the agent has room for another
        return await self.view(conversation)
