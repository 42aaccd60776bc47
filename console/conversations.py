"""The conversation service: the one owner of conversation state (DESIGN §2).

Every message is written with its per-conversation sequence number before it
is delivered; a client message id makes a resend harmless; the bot's handoff
directive queues the conversation; every state change writes an event row.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.components.language import detect_language
from channels.base import Channel
from console.rasa import BotUnavailable, RasaClient
from store.models import (
    Agent,
    AgentRole,
    Conversation,
    ConversationState,
    Event,
    Message,
    SenderKind,
)

log = logging.getLogger(__name__)

State = ConversationState
RECENT_WAITS = 20
# An agent marked online longer ago than this without a word is taken to be gone.
PRESENCE_TTL = timedelta(hours=12)
# The "keep waiting" button of a callback offer: queue after all.
QUEUE_PAYLOAD = "/queue"


class ConversationError(Exception):
    """A request the conversation's state or the agent's rights do not allow."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.status = status


class AgentHub(Protocol):
    """Realtime pushes to the agents' console."""

    async def conversation_changed(self, conversation: dict[str, Any]) -> None: ...

    async def message_added(self, conversation_id: int, message: dict[str, Any]) -> None: ...


class NoAgents:
    """The hub before one is attached: pushes go nowhere."""

    async def conversation_changed(self, conversation: dict[str, Any]) -> None:
        pass

    async def message_added(self, conversation_id: int, message: dict[str, Any]) -> None:
        pass


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender.value,
        "agent_id": message.agent_id,
        "text": message.text,
        "payload": message.payload or {},
        "client_message_id": message.client_message_id,
        "created_at": _iso(message.created_at),
    }


def conversation_view(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "state": conversation.state.value,
        "language": conversation.language,
        "team": conversation.team,
        "customer_id": conversation.customer_id,
        "assigned_agent_id": conversation.assigned_agent_id,
        "handoff_reason": conversation.handoff_reason,
        "handoff_summary": conversation.handoff_summary,
        "last_seq": conversation.last_seq,
        "created_at": _iso(conversation.created_at),
        "queued_at": _iso(conversation.queued_at),
        "assigned_at": _iso(conversation.assigned_at),
        "resolved_at": _iso(conversation.resolved_at),
    }


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


# What the gateway itself says to customers, in both languages.
SYSTEM_TEXTS = {
    "queued": (
        "您已进入人工服务队列,前面还有 {ahead} 位客户,预计等待约 {wait}。",
        "You're in the queue for an agent: {ahead} customer(s) ahead of you, "
        "expected wait about {wait}.",
    ),
    "assigned": ("客服 {agent} 已接入,为您服务。", "{agent} has joined and will help you now."),
    "resolved": (
        "本次服务已结束,感谢您的耐心。如有其他问题,随时给我们留言。",
        "This conversation has been closed. Thank you! Write to us any time.",
    ),
    "rating_request": (
        "请为本次服务打分(1-5分,5分最满意)。",
        "How would you rate this conversation? (1–5, 5 is best)",
    ),
    "rating_thanks": ("感谢您的评价!", "Thank you for your feedback!"),
    "no_agents": (
        "抱歉,目前没有人工客服在线。我们可以在您方便的时间给您回电,您也可以继续等待。",
        "Sorry, no agent is available right now. We can call you back at a time that suits you, "
        "or you can keep waiting.",
    ),
    "after_hours": (
        "抱歉,现在不在人工服务时间({hours},北京时间)。我们可以在服务时间内给您回电。",
        "Sorry, our agents are available {hours} (China time). We can call you back then.",
    ),
    "callback_button": ("预约回电", "Call me back"),
    "wait_button": ("继续等待", "Keep waiting"),
    "bot_unavailable": (
        "智能客服暂时无法回复,正在为您转接人工客服。",
        "Our assistant can't answer right now, so I'm putting you through to an agent.",
    ),
}


def rating_payload(score: int) -> str:
    return f'/rate{{"score": {score}}}'


RATING = {rating_payload(score): score for score in range(1, 6)}


def _wait_text(seconds: float, language: str) -> str:
    minutes = round(seconds / 60)
    if language == "en":
        return f"{max(1, round(seconds))} seconds" if minutes < 1 else f"{minutes} minute(s)"
    return f"{max(1, round(seconds))} 秒" if minutes < 1 else f"{minutes} 分钟"


@dataclass
class Outbox:
    """Messages and state changes written in one transaction, delivered after commit."""

    conversation: Conversation | None = None
    messages: list[Message] = field(default_factory=list)
    state_changed: bool = False


class ConversationService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: RasaClient,
        hub: AgentHub | None = None,
        default_wait_seconds: int = 60,
        service_hours: Callable[[datetime], bool] | None = None,
        service_hours_text: str = "",
    ):
        self.sessions = sessions
        self.bot = bot
        # Set once the agents' namespace exists (it needs the service too).
        self.hub: AgentHub = hub or NoAgents()
        self.channels: dict[str, Channel] = {}
        self.default_wait_seconds = default_wait_seconds
        # When people answer; outside these hours a handoff becomes a callback offer.
        self.in_service_hours = service_hours or (lambda now: True)
        self.service_hours_text = service_hours_text
        # Serialises the turns of one conversation in this process; sequence
        # numbers themselves come from an atomic UPDATE, safe across processes.
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._bot_turns: set[asyncio.Task] = set()

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    # ---- customers ---------------------------------------------------------------

    async def open(self, channel: str, external_user_id: str) -> tuple[Conversation, bool]:
        """The channel identity's current conversation, created if it has none."""
        async with self.sessions.begin() as session:
            conversation = await session.scalar(_current(channel, external_user_id))
            if conversation is not None:
                return conversation, False
            conversation = Conversation(channel=channel, external_user_id=external_user_id)
            session.add(conversation)
            await session.flush()
            self._record(session, "created", conversation, data={"channel": channel})
        return conversation, True

    async def find(self, channel: str, external_user_id: str) -> Conversation | None:
        async with self.sessions() as session:
            return await session.scalar(_current(channel, external_user_id))

    async def get(self, conversation_id: int) -> Conversation | None:
        async with self.sessions() as session:
            return await session.get(Conversation, conversation_id)

    async def customer_message(
        self,
        conversation_id: int,
        text: str,
        client_message_id: str | None = None,
        wait_for_bot: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Persist a customer's message and deliver it; the bot's turn follows in
        the background (or before returning, with `wait_for_bot`).

        Returns the stored message and whether it is new (False for a resend)."""
        async with self._locks[conversation_id]:
            outbox = Outbox()
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if client_message_id:
                    existing = await self._by_client_id(session, conversation_id, client_message_id)
                    if existing is not None:
                        return message_view(existing), False
                outbox.conversation = conversation
                offered = await self._offered_payloads(session, conversation)
                # What the customer typed tells their language; a button's payload does not.
                language = None if text in offered else detect_language(text)
                if language and language != conversation.language:
                    conversation.language = language
                # Two buttons the gateway itself answers: a rating, and waiting for
                # a person although none is online.
                rated = text in RATING and text in offered
                waits = (
                    text == QUEUE_PAYLOAD and text in offered and conversation.state == State.BOT
                )
                if not (rated or waits):
                    self._reopen_if_resolved(session, conversation, outbox)
                message = await self._append(
                    session,
                    conversation,
                    SenderKind.CUSTOMER,
                    text,
                    {"rating": RATING[text]} if rated else None,
                    client_message_id=client_message_id,
                )
                outbox.messages.append(message)
                forward = False
                if waits:
                    await self._queue(session, conversation, _remembered(conversation), outbox)
                elif rated:
                    await self._rating(session, conversation, RATING[text], outbox)
                else:
                    forward = conversation.state == State.BOT
                    bot_text = self._text_for_bot(text, offered)
        # Delivered only once committed.
        await self._publish(outbox)
        view = message_view(message)
        if forward:
            task = asyncio.create_task(self._bot_turn(conversation_id, bot_text))
            self._bot_turns.add(task)
            task.add_done_callback(self._bot_turns.discard)
            if wait_for_bot:
                await task
        return view, True

    def _reopen_if_resolved(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> None:
        """A customer writing to a resolved conversation starts it again with the bot."""
        if conversation.state == State.RESOLVED:
            conversation.state = State.BOT
            conversation.assigned_agent_id = None
            outbox.state_changed = True
            self._record(session, "reopened", conversation)

    async def acknowledge(self, conversation_id: int, seq: int) -> None:
        """The customer has everything up to `seq`."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.customer_ack_seq < seq,
                    Conversation.last_seq >= seq,
                )
                .values(customer_ack_seq=seq)
            )

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

    async def wait_for_bot(self) -> None:
        """Let running bot turns finish (shutdown, tests)."""
        if self._bot_turns:
            await asyncio.gather(*list(self._bot_turns), return_exceptions=True)

    # ---- the bot -----------------------------------------------------------------

    @staticmethod
    def _text_for_bot(text: str, offered: set[str]) -> str:
        """Rasa reads `/intent{...}` as a command. Only the payloads of buttons we
        offered in the last message pass as such; typed text is neutralised."""
        if not text.lstrip().startswith("/") or text in offered:
            return text
        return text.lstrip().lstrip("/") or "?"

    @staticmethod
    async def _offered_payloads(session: AsyncSession, conversation: Conversation) -> set[str]:
        """The payloads of the buttons in the last message the customer was sent."""
        last = await session.scalar(
            select(Message)
            .where(
                Message.conversation_id == conversation.id, Message.sender != SenderKind.CUSTOMER
            )
            .order_by(Message.seq.desc())
            .limit(1)
        )
        buttons = ((last.payload or {}).get("buttons") or []) if last else []
        return {b.get("payload") for b in buttons if isinstance(b, dict)}

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
        outbox.messages.append(
            await self._append(
                session,
                conversation,
                SenderKind.SYSTEM,
                self._system_text("rating_thanks", conversation.language),
            )
        )

    async def _ask_for_rating(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> None:
        buttons = [
            {"title": "★" * score, "payload": rating_payload(score)} for score in range(5, 0, -1)
        ]
        outbox.messages.append(
            await self._append(
                session,
                conversation,
                SenderKind.SYSTEM,
                self._system_text("rating_request", conversation.language),
                {"buttons": buttons},
            )
        )

    async def _bot_turn(self, conversation_id: int, text: str) -> None:
        async with self._locks[conversation_id]:
            conversation = await self.get(conversation_id)
            if conversation is None or conversation.state != State.BOT:
                return
            try:
                replies = await self.bot.send(
                    conversation.uid,
                    text,
                    {"channel": conversation.channel, "language": conversation.language},
                )
            except BotUnavailable as exc:
                log.warning("bot unavailable for conversation %s: %s", conversation_id, exc)
                replies = []
            if not replies:
                # Never leave a customer unanswered: a silent or failing bot hands over.
                replies = [
                    {"text": self._system_text("bot_unavailable", conversation.language)},
                    {"custom": {"handoff": {"reason": "bot_unavailable", "summary": text}}},
                ]
            outbox = Outbox()
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                outbox.conversation = conversation
                handoff = None
                resolved_by_bot = False
                for reply in replies:
                    custom = reply.get("custom")
                    if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
                        handoff = custom["handoff"]
                        continue
                    if isinstance(custom, dict) and "rating" in custom:
                        resolved_by_bot = True
                        continue
                    payload = {
                        key: reply[key]
                        for key in ("buttons", "image", "attachment", "custom")
                        if reply.get(key)
                    }
                    outbox.messages.append(
                        await self._append(
                            session, conversation, SenderKind.BOT, reply.get("text"), payload
                        )
                    )
                if outbox.messages:
                    self._record(
                        session, "bot_reply", conversation, data={"messages": len(outbox.messages)}
                    )
                if handoff is not None and conversation.state == State.BOT:
                    await self._hand_over(session, conversation, handoff, outbox)
                elif resolved_by_bot and conversation.state == State.BOT:
                    # The bot saw the customer off: resolved without a person.
                    conversation.state = State.RESOLVED
                    conversation.resolved_at = _now()
                    self._record(session, "resolved", conversation, data={"by": "bot"})
                    await self._ask_for_rating(session, conversation, outbox)
                    outbox.state_changed = True
            await self._publish(outbox)

    async def _hand_over(
        self,
        session: AsyncSession,
        conversation: Conversation,
        handoff: dict[str, Any],
        outbox: Outbox,
    ) -> None:
        """Queue for a person when one can answer; otherwise offer a callback (and,
        in service hours, waiting anyway)."""
        after_hours = not self.in_service_hours(_now())
        if not after_hours and await self._agents_online(session):
            await self._queue(session, conversation, handoff, outbox)
            return
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

    @staticmethod
    async def _agents_online(session: AsyncSession) -> bool:
        count = await session.scalar(
            select(func.count())
            .select_from(Agent)
            .where(
                Agent.is_active.is_(True),
                Agent.presence == "online",
                Agent.presence_at > _now() - PRESENCE_TTL,
            )
        )
        return bool(count)

    @staticmethod
    def _remember_handoff(conversation: Conversation, handoff: dict[str, Any]) -> None:
        conversation.team = str(handoff.get("team") or "general")[:32]
        conversation.handoff_reason = str(handoff.get("reason") or "bot")[:64]
        conversation.handoff_summary = str(handoff.get("summary") or "")[:2000]

    async def _queue(
        self,
        session: AsyncSession,
        conversation: Conversation,
        handoff: dict[str, Any],
        outbox: Outbox,
    ) -> None:
        now = _now()
        conversation.state = State.QUEUED
        conversation.queued_at = now
        self._remember_handoff(conversation, handoff)
        self._record(session, "handoff", conversation, data=handoff)
        ahead = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.state == State.QUEUED, Conversation.id != conversation.id)
        )
        wait = await self._expected_wait(session, ahead + 1)
        text = self._system_text("queued", conversation.language).format(
            ahead=ahead, wait=_wait_text(wait, conversation.language)
        )
        outbox.messages.append(
            await self._append(
                session,
                conversation,
                SenderKind.SYSTEM,
                text,
                {"queue": {"position": ahead + 1, "expected_wait_seconds": round(wait)}},
            )
        )
        outbox.state_changed = True

    async def _expected_wait(self, session: AsyncSession, position: int) -> float:
        """Position times the average wait of recently answered handoffs."""
        rows = (
            await session.execute(
                select(Conversation.queued_at, Conversation.assigned_at)
                .where(Conversation.assigned_at.is_not(None), Conversation.queued_at.is_not(None))
                .order_by(Conversation.assigned_at.desc())
                .limit(RECENT_WAITS)
            )
        ).all()
        waits = [(a - q).total_seconds() for q, a in rows if a >= q]
        average = sum(waits) / len(waits) if waits else self.default_wait_seconds
        return max(average, 1.0) * position

    # ---- agents ------------------------------------------------------------------

    async def set_presence(self, agent_id: int, presence: str) -> None:
        """online, away or offline: whether a handoff can be answered now."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(Agent)
                .where(Agent.id == agent_id)
                .values(presence=presence, presence_at=_now())
            )

    async def list(
        self, state: str | None = None, agent: Agent | None = None
    ) -> list[dict[str, Any]]:
        query = select(Conversation).order_by(Conversation.queued_at, Conversation.id).limit(500)
        if state:
            query = query.where(Conversation.state == State(state))
        async with self.sessions() as session:
            rows = (await session.scalars(query)).all()
        return [conversation_view(c) for c in rows if agent is None or may_view(agent, c)]

    async def conversation_for(self, conversation_id: int, agent: Agent) -> Conversation:
        conversation = await self.get(conversation_id)
        if conversation is None:
            raise ConversationError("not_found", "No such conversation.", 404)
        if not may_view(agent, conversation):
            raise ConversationError("forbidden", "This conversation is not yours.", 403)
        return conversation

    async def assign(self, conversation_id: int, agent: Agent) -> dict[str, Any]:
        """The agent takes a queued conversation (supervisors may also take one
        from a colleague)."""
        async with self._locks[conversation_id]:
            outbox = Outbox(state_changed=True)
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if (
                    conversation.state == State.ASSIGNED
                    and conversation.assigned_agent_id == agent.id
                ):
                    return conversation_view(conversation)
                if conversation.state == State.ASSIGNED and agent.role != AgentRole.SUPERVISOR:
                    raise ConversationError("already_assigned", "Another agent has taken it.")
                if conversation.state not in (State.QUEUED, State.ASSIGNED):
                    raise ConversationError(
                        "not_queued", f"The conversation is {conversation.state.value}, not queued."
                    )
                now = _now()
                queued_at = conversation.queued_at
                conversation.state = State.ASSIGNED
                conversation.assigned_agent_id = agent.id
                conversation.assigned_at = now
                waited = (now - _aware(queued_at)).total_seconds() if queued_at else None
                self._record(
                    session,
                    "assigned",
                    conversation,
                    agent_id=agent.id,
                    data={"wait_seconds": waited},
                )
                text = self._system_text("assigned", conversation.language).format(
                    agent=agent.display_name
                )
                outbox.messages.append(
                    await self._append(
                        session,
                        conversation,
                        SenderKind.SYSTEM,
                        text,
                        {"agent_name": agent.display_name},
                    )
                )
                outbox.conversation = conversation
            await self._publish(outbox)
            return conversation_view(conversation)

    async def agent_message(
        self, conversation_id: int, agent: Agent, text: str, client_message_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        async with self._locks[conversation_id]:
            outbox = Outbox()
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if (
                    conversation.state != State.ASSIGNED
                    or conversation.assigned_agent_id != agent.id
                ):
                    raise ConversationError(
                        "not_assigned", "Accept the conversation before replying.", 409
                    )
                if client_message_id:
                    existing = await self._by_client_id(session, conversation_id, client_message_id)
                    if existing is not None:
                        return message_view(existing), False
                first = not await session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.conversation_id == conversation_id,
                        Message.sender == SenderKind.AGENT,
                    )
                )
                message = await self._append(
                    session,
                    conversation,
                    SenderKind.AGENT,
                    text,
                    {"agent_name": agent.display_name},
                    client_message_id=client_message_id,
                    agent_id=agent.id,
                )
                if first:
                    self._record(session, "first_agent_reply", conversation, agent_id=agent.id)
                outbox.conversation = conversation
                outbox.messages.append(message)
            await self._publish(outbox)
            return message_view(message), True

    async def resolve(
        self, conversation_id: int, agent: Agent, reason: str | None = None
    ) -> dict[str, Any]:
        async with self._locks[conversation_id]:
            outbox = Outbox(state_changed=True)
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if conversation.state == State.RESOLVED:
                    return conversation_view(conversation)
                if not may_act(agent, conversation):
                    raise ConversationError("forbidden", "This conversation is not yours.", 403)
                conversation.state = State.RESOLVED
                conversation.resolved_at = _now()
                self._record(
                    session,
                    "resolved",
                    conversation,
                    agent_id=agent.id,
                    data={"reason": reason, "by": "agent"},
                )
                outbox.messages.append(
                    await self._append(
                        session,
                        conversation,
                        SenderKind.SYSTEM,
                        self._system_text("resolved", conversation.language),
                    )
                )
                await self._ask_for_rating(session, conversation, outbox)
                outbox.conversation = conversation
            await self._publish(outbox)
            return conversation_view(conversation)

    # ---- plumbing ----------------------------------------------------------------

    @staticmethod
    def _record(
        session: AsyncSession,
        kind: str,
        conversation: Conversation,
        agent_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append a reporting event about the conversation (and its customer, if verified)."""
        session.add(
            Event(
                kind=kind,
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                agent_id=agent_id,
                data=data or {},
            )
        )

    @staticmethod
    def _system_text(key: str, language: str) -> str:
        zh, en = SYSTEM_TEXTS[key]
        return en if language == "en" else zh

    @staticmethod
    async def _load(session: AsyncSession, conversation_id: int) -> Conversation:
        conversation = await session.get(Conversation, conversation_id, populate_existing=True)
        if conversation is None:
            raise ConversationError("not_found", "No such conversation.", 404)
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
        conversation.last_seq = seq
        message = Message(
            conversation_id=conversation.id,
            seq=seq,
            sender=sender,
            text=text,
            payload=payload or None,
            client_message_id=client_message_id,
            agent_id=agent_id,
            created_at=_now(),
        )
        session.add(message)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise ConversationError("conflict", "The message could not be stored.") from exc
        return message

    async def _publish(self, outbox: Outbox) -> None:
        """Deliver what a committed transaction wrote."""
        conversation = outbox.conversation
        if conversation is None:
            return
        for message in outbox.messages:
            view = message_view(message)
            await self.hub.message_added(conversation.id, view)
            if message.sender != SenderKind.CUSTOMER:
                channel = self.channels.get(conversation.channel)
                if channel is not None:
                    await channel.deliver(conversation, view)
        if outbox.state_changed:
            await self.hub.conversation_changed(conversation_view(conversation))


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


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def may_view(agent: Agent, conversation: Conversation) -> bool:
    """Supervisors and admins see everything; agents see the queue and their own."""
    if agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN):
        return True
    return conversation.state == State.QUEUED or conversation.assigned_agent_id == agent.id


def may_act(agent: Agent, conversation: Conversation) -> bool:
    if agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN):
        return True
    return conversation.assigned_agent_id == agent.id
