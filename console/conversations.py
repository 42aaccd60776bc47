"""The conversation service: the one owner of conversation state (DESIGN §2).

Every message is written with its per-conversation sequence number before it
is delivered; a client message id makes a resend harmless; the bot's handoff
directive queues the conversation; every state change writes an event row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.components.language import detect_language
from channels.base import Channel, Inbound, Received, Refusal, buttons_of
from channels.limits import RateLimiter, SharedRateLimiter
from console.rasa import BotUnavailable, RasaClient
from store.identities import identity_for, remembered_customer, verification_lapsed
from store.models import (
    Agent,
    AgentRole,
    CannedResponse,
    Conversation,
    ConversationState,
    Customer,
    Event,
    Message,
    Note,
    SenderKind,
    Team,
)

log = logging.getLogger(__name__)

State = ConversationState
RECENT_WAITS = 20
# An agent marked online longer ago than this without a word is taken to be gone.
PRESENCE_TTL = timedelta(hours=12)
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
MAX_LABELS = 10
MAX_NOTE_CHARS = 2000


class ConversationError(Exception):
    """A request the conversation's state or the agent's rights do not allow."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code = code
        self.status = status


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


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        # Stable across the system: the idempotency key for deliveries to providers.
        "uid": f"msg_{message.id}",
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender.value,
        "agent_id": message.agent_id,
        "text": message.text,
        "payload": message.payload or {},
        "client_message_id": message.client_message_id,
        "created_at": iso(message.created_at),
    }


def conversation_view(
    conversation: Conversation, names: dict[int, str] | None = None
) -> dict[str, Any]:
    """What agents see of a conversation; `names` maps agent ids to display names."""
    queued_at = conversation.queued_at
    waiting = (
        max(0, round((_now() - aware(queued_at)).total_seconds()))
        if conversation.state == State.QUEUED and queued_at
        else None
    )
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "state": conversation.state.value,
        "language": conversation.language,
        "team": conversation.team,
        "customer_id": conversation.customer_id,
        "verified": conversation.customer_id is not None,
        "assigned_agent_id": conversation.assigned_agent_id,
        "assigned_agent_name": (names or {}).get(conversation.assigned_agent_id),
        "handoff_reason": conversation.handoff_reason,
        "handoff_summary": conversation.handoff_summary,
        "priority": conversation.priority or 0,
        "labels": list(conversation.labels or []),
        "resolution_reason": conversation.resolution_reason,
        "last_seq": conversation.last_seq,
        "created_at": iso(conversation.created_at),
        "queued_at": iso(queued_at),
        "assigned_at": iso(conversation.assigned_at),
        "resolved_at": iso(conversation.resolved_at),
        "waiting_seconds": waiting,
    }


def note_view(note: Note, agent_name: str | None = None) -> dict[str, Any]:
    return {
        "id": note.id,
        "conversation_id": note.conversation_id,
        "agent_id": note.agent_id,
        "agent_name": agent_name,
        "text": note.text,
        "client_note_id": note.client_note_id,
        "created_at": iso(note.created_at),
    }


def iso(at: datetime | None) -> str | None:
    return aware(at).isoformat() if at is not None else None


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
    "queue_update": (
        "您现在排在第 {position} 位,预计等待约 {wait}。",
        "You're now number {position} in the queue, expected wait about {wait}.",
    ),
    "transferring": (
        "正在为您转接{team}的同事,请稍候。",
        "I'm passing you to a colleague in {team}. Please hold on.",
    ),
    "requeued": (
        "为您服务的客服连接中断,正在为您转接其他客服。",
        "Your agent has lost their connection, so I'm passing you to another agent.",
    ),
    "welcome": (
        "您好,欢迎来到健康险在线服务!您可以直接问我保单、理赔进度、理赔材料,或者说“转人工”。",
        "Hello, and welcome to our online service! Ask me about your policy, a claim's "
        'progress or the documents a claim needs, or say "agent" to reach a person.',
    ),
    "file_received": (
        "已收到您发送的文件,处理您的理赔或问题时我们会查看。",
        "Thank you, we've received your file and will look at it with your claim or question.",
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
    """Messages and state changes written in one transaction, delivered after commit.

    `followers` hold what the same transaction wrote to other conversations (the
    queue positions it changed)."""

    conversation: Conversation | None = None
    messages: list[Message] = field(default_factory=list)
    state_changed: bool = False
    previous_agent_id: int | None = None
    # The conversation changed hands: live updates to its current watchers stop.
    withdrawn: bool = False
    followers: list[Outbox] = field(default_factory=list)


class ConversationService:
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
        # Serialises the turns of one conversation in this process; sequence
        # numbers themselves come from an atomic UPDATE, safe across processes.
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._bot_turns: set[asyncio.Task] = set()

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    # ---- customers ---------------------------------------------------------------

    async def open(
        self, channel: str, external_user_id: str, profile: dict[str, Any] | None = None
    ) -> tuple[Conversation, bool]:
        """The channel identity's current conversation, created if it has none. A new
        conversation from an identity verified recently starts verified."""
        async with self.sessions.begin() as session:
            identity = await identity_for(session, channel, external_user_id, profile)
            conversation = await session.scalar(_current(channel, external_user_id))
            if conversation is not None:
                if conversation.contact_id is None:
                    conversation.contact_id = identity.contact_id
                return conversation, False
            conversation = Conversation(
                channel=channel,
                external_user_id=external_user_id,
                contact_id=identity.contact_id,
                customer_id=remembered_customer(identity, self.verified_identity_days),
            )
            if (profile or {}).get("language") in ("zh", "en"):
                conversation.language = profile["language"]
            session.add(conversation)
            await session.flush()
            self._record(session, "created", conversation, data={"channel": channel})
            if conversation.customer_id is not None:
                self._record(
                    session,
                    "customer_verified",
                    conversation,
                    data={"method": "remembered", "channel": channel},
                )
        return conversation, True

    async def receive(self, channel: str, inbound: Inbound, wait_for_bot: float = 0) -> Received:
        """Every channel's way in: refuse what must be refused (nothing is stored
        then), otherwise store the message and let the bot or the agent have it.
        With `wait_for_bot`, return once the bot has answered or after that many
        seconds, whichever is first (WeChat wants its answer within 5 s)."""
        who = f"{channel}:{inbound.external_id}"
        if inbound.event == "unsubscribe":
            conversation = await self.find(channel, inbound.external_id)
            if conversation is not None:
                async with self.sessions.begin() as session:
                    self._record(session, "unsubscribed", conversation, data={"channel": channel})
            return Received(conversation)
        if not await self.rate_limiter.check(who):
            log.warning("refused a message from %s: rate limited", who)
            return Received(
                await self.find(channel, inbound.external_id),
                refusal=Refusal("rate_limited", "Too many messages; slow down."),
            )
        refusal = self._refusal(inbound)
        if refusal is not None:
            log.warning("refused a message from %s: %s", who, refusal.code)
            return Received(await self.find(channel, inbound.external_id), refusal=refusal)
        conversation, _ = await self.open(channel, inbound.external_id, inbound.profile)
        if inbound.event == "subscribe":
            message, new = await self.system_message(conversation.id, "welcome", inbound.message_id)
            return Received(conversation, message, duplicate=not new)
        adapter = self.channels.get(channel)
        message, new = await self.customer_message(
            conversation.id,
            inbound.text or "",
            inbound.message_id,
            wait_for_bot=wait_for_bot,
            attachment=inbound.attachment.as_payload() if inbound.attachment else None,
            numbered_choices=adapter is not None and not adapter.limits.buttons,
        )
        return Received(await self.get(conversation.id), message, duplicate=not new)

    def _refusal(self, inbound: Inbound) -> Refusal | None:
        if inbound.event is not None:
            if inbound.event == "subscribe":
                return None
            return Refusal("unsupported", f"Events of type {inbound.event!r} are not handled.")
        if inbound.text is not None and not isinstance(inbound.text, str):
            return Refusal("malformed", "The text must be a string.")
        if inbound.attachment is None and not (inbound.text or "").strip():
            return Refusal("empty", "The message is empty.")
        if inbound.text and len(inbound.text) > self.max_message_chars:
            return Refusal(
                "too_long", f"Messages are limited to {self.max_message_chars} characters."
            )
        if inbound.message_id is not None and not 1 <= len(inbound.message_id) <= 64:
            return Refusal("malformed", "Message ids are 1 to 64 characters.")
        return None

    async def system_message(
        self, conversation_id: int, key: str, client_message_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Say one of the gateway's own texts to the customer, in their language.
        `client_message_id` (the provider's id of what prompted it) says it once."""
        async with self._locks[conversation_id]:
            outbox = Outbox()
            async with self.sessions.begin() as session:
                if client_message_id:
                    existing = await self._by_client_id(session, conversation_id, client_message_id)
                    if existing is not None:
                        return message_view(existing), False
                conversation = await self._load(session, conversation_id)
                outbox.conversation = conversation
                message = await self._append(
                    session,
                    conversation,
                    SenderKind.SYSTEM,
                    self._system_text(key, conversation.language),
                    client_message_id=client_message_id,
                )
                outbox.messages.append(message)
            await self._publish(outbox)
        return message_view(message), True

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
        wait_for_bot: bool | float = False,
        attachment: dict[str, Any] | None = None,
        numbered_choices: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Persist a customer's message and deliver it; the bot's turn follows in
        the background (or before returning, with `wait_for_bot`: True for the whole
        turn, a number for at most that many seconds). `numbered_choices`: the
        channel shows buttons as numbered options, so "2" means the second button.

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
                offered_buttons = await self._offered_buttons(session, conversation)
                offered = {b["payload"] for b in offered_buttons}
                if numbered_choices and text.strip().isdigit():
                    number = int(text.strip())
                    if 1 <= number <= len(offered_buttons):
                        text = offered_buttons[number - 1]["payload"]
                # What the customer typed tells their language; a button's payload does not.
                language = None if text in offered or not text else detect_language(text)
                if language and language != conversation.language:
                    conversation.language = language
                # Two buttons the gateway itself answers: a rating, and waiting for
                # a person although none is online.
                rated = text in RATING and text in offered
                waits = (
                    text == QUEUE_PAYLOAD and text in offered and conversation.state == State.BOT
                )
                if not (rated or waits):
                    await self._reopen_if_resolved(session, conversation, outbox)
                extra: dict[str, Any] = {"rating": RATING[text]} if rated else {}
                if attachment:
                    extra["attachment"] = attachment
                message = await self._append(
                    session,
                    conversation,
                    SenderKind.CUSTOMER,
                    text or None,
                    extra,
                    client_message_id=client_message_id,
                )
                outbox.messages.append(message)
                forward = False
                seq = message.seq
                if waits:
                    await self._queue(session, conversation, _remembered(conversation), outbox)
                elif rated:
                    await self._rating(session, conversation, RATING[text], outbox)
                elif not text.strip():
                    # A file alone: the bot cannot read it; the customer hears it arrived,
                    # and an agent handling the conversation sees it.
                    if conversation.state == State.BOT:
                        await self._say(session, conversation, outbox, "file_received")
                else:
                    forward = conversation.state == State.BOT
                    bot_text = self._text_for_bot(text, offered)
        # Delivered only once committed.
        await self._publish(outbox)
        view = message_view(message)
        if waits:
            await self.dispatch()
        if forward:
            task = asyncio.create_task(self._bot_turn(conversation_id, bot_text, seq))
            self._bot_turns.add(task)
            task.add_done_callback(self._bot_turns.discard)
            if wait_for_bot is True:
                await task
            elif wait_for_bot:
                # Shielded: the bot's turn goes on after the wait ends.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), wait_for_bot)
        return view, True

    async def _reopen_if_resolved(
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox
    ) -> None:
        """A customer writing to a resolved conversation starts it again with the bot,
        verified still only if their identity's verification has not lapsed."""
        if conversation.state == State.RESOLVED:
            conversation.state = State.BOT
            conversation.assigned_agent_id = None
            outbox.state_changed = True
            self._record(session, "reopened", conversation)
            await verification_lapsed(session, conversation, self.verified_identity_days)

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
    async def _offered_buttons(
        session: AsyncSession, conversation: Conversation
    ) -> list[dict[str, Any]]:
        """The buttons in the last message the customer was sent, in order."""
        last = await session.scalar(
            select(Message)
            .where(
                Message.conversation_id == conversation.id, Message.sender != SenderKind.CUSTOMER
            )
            .order_by(Message.seq.desc())
            .limit(1)
        )
        return buttons_of(message_view(last)) if last else []

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

    async def _bot_turn(self, conversation_id: int, text: str, seq: int) -> None:
        """The bot answers one customer message (sequence number `seq`); a handoff
        it asks for is then offered to the agents."""
        if await self._bot_answers(conversation_id, text, seq):
            await self.dispatch()

    async def _bot_answers(self, conversation_id: int, text: str, seq: int) -> bool:
        async with self._locks[conversation_id]:
            conversation = await self.get(conversation_id)
            if conversation is None or conversation.state != State.BOT:
                return False
            understood = None
            try:
                replies = await self.bot.send(
                    conversation.uid,
                    text,
                    {"channel": conversation.channel, "language": conversation.language},
                )
                understood = await self.bot.latest_intent(conversation.uid)
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
                if understood:
                    await self._remember_intent(session, conversation_id, seq, understood)
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
                handed_over = handoff is not None and conversation.state == State.BOT
                if handed_over:
                    await self._hand_over(session, conversation, handoff, outbox)
                elif resolved_by_bot and conversation.state == State.BOT:
                    # The bot saw the customer off: resolved without a person.
                    conversation.state = State.RESOLVED
                    conversation.resolved_at = _now()
                    self._record(session, "resolved", conversation, data={"by": "bot"})
                    await self._ask_for_rating(session, conversation, outbox)
                    outbox.state_changed = True
            await self._publish(outbox)
            if understood:
                await self.hub.intent_seen(conversation_id, {"seq": seq, **understood})
            return handed_over

    @staticmethod
    async def _remember_intent(
        session: AsyncSession, conversation_id: int, seq: int, understood: dict[str, Any]
    ) -> None:
        """Keep what the bot understood on the customer's message, for the agents."""
        message = await session.scalar(
            select(Message).where(Message.conversation_id == conversation_id, Message.seq == seq)
        )
        if message is not None:
            message.payload = {**(message.payload or {}), **understood}

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
    def _online(query):
        """Agents who are signed in and answering (not away)."""
        return query.where(
            Agent.is_active.is_(True),
            Agent.presence == "online",
            Agent.presence_at > _now() - PRESENCE_TTL,
        )

    async def _agents_online(self, session: AsyncSession, team: str | None = None) -> int:
        query = self._online(select(func.count()).select_from(Agent))
        if team is not None:
            query = query.where(Agent.team == team, Agent.role == AgentRole.AGENT)
        return await session.scalar(query) or 0

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
    ) -> None:
        conversation.state = State.QUEUED
        conversation.queued_at = _now()
        self._remember_handoff(conversation, handoff)
        self._record(session, "handoff", conversation, data=handoff)
        await self._tell_position(session, conversation, outbox, "queued")
        outbox.state_changed = True
        # A conversation that jumps the queue moves the others back.
        await self._tell_positions(session, conversation.team, outbox, skip=conversation.id)

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
        self, session: AsyncSession, conversation: Conversation, outbox: Outbox, key: str
    ) -> None:
        """Tell the customer where they are in the queue and how long it may take."""
        position = await self._position(session, conversation)
        conversation.queue_position = position
        wait = await self._expected_wait(session, position, conversation.team)
        lang = conversation.language
        text = self._system_text(key, lang).format(
            ahead=position - 1, position=position, wait=_wait_text(wait, lang)
        )
        outbox.messages.append(
            await self._append(
                session,
                conversation,
                SenderKind.SYSTEM,
                text,
                {"queue": {"position": position, "expected_wait_seconds": round(wait)}},
            )
        )

    async def _tell_positions(
        self, session: AsyncSession, team: str, outbox: Outbox, skip: int | None = None
    ) -> None:
        """Customers of a team's queue whose position changed hear their new one."""
        waiting = (
            await session.scalars(
                select(Conversation)
                .where(Conversation.state == State.QUEUED, Conversation.team == team)
                .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
                .limit(200)
            )
        ).all()
        for position, conversation in enumerate(waiting, start=1):
            if conversation.id == skip or conversation.queue_position == position:
                continue
            follower = Outbox(conversation=conversation)
            await self._tell_position(session, conversation, follower, "queue_update")
            outbox.followers.append(follower)

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

    # ---- agents ------------------------------------------------------------------

    async def set_presence(self, agent_id: int, presence: str) -> None:
        """online, away or offline: whether handoffs are offered to the agent now."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(Agent)
                .where(Agent.id == agent_id)
                .values(presence=presence, presence_at=_now())
            )
        if presence == "online":
            await self.dispatch()

    async def mark_all_offline(self) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(Agent)
                .where(Agent.presence != "offline")
                .values(presence="offline", presence_at=_now())
            )

    async def heartbeat(self, agent_ids: list[int]) -> None:
        """Agents whose console is connected here are still there."""
        if not agent_ids:
            return
        async with self.sessions.begin() as session:
            await session.execute(
                update(Agent)
                .where(Agent.id.in_(agent_ids), Agent.presence.in_(("online", "away")))
                .values(presence_at=_now())
            )

    async def agent_names(self, session: AsyncSession) -> dict[int, str]:
        return dict((await session.execute(select(Agent.id, Agent.display_name))).all())

    async def agents(self) -> list[dict[str, Any]]:
        """Every active agent with presence and current load (for transfers and supervisors)."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(Agent).where(Agent.is_active.is_(True)).order_by(Agent.id)
                )
            ).all()
            load = await workloads(session)
        return [agent_view(a, load.get(a.id, 0)) for a in rows]

    async def teams(self) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(Team).order_by(Team.id))).all()
        return [{"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en} for t in rows]

    async def list(
        self, state: str | None = None, agent: Agent | None = None
    ) -> list[dict[str, Any]]:
        """Conversations in answering order: priority, then the longest wait."""
        query = (
            select(Conversation)
            .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
            .limit(500)
        )
        if state:
            query = query.where(Conversation.state == State(state))
        async with self.sessions() as session:
            rows = (await session.scalars(query)).all()
            names = await self.agent_names(session)
        return [conversation_view(c, names) for c in rows if agent is None or may_view(agent, c)]

    async def view(self, conversation: Conversation) -> dict[str, Any]:
        """One conversation for agents, with its agent's name (one row read, not all)."""
        agent_id = conversation.assigned_agent_id
        if agent_id is None:
            return conversation_view(conversation)
        async with self.sessions() as session:
            name = await session.scalar(select(Agent.display_name).where(Agent.id == agent_id))
        return conversation_view(conversation, {agent_id: name})

    async def conversation_for(self, conversation_id: int, agent: Agent) -> Conversation:
        conversation = await self.get(conversation_id)
        if conversation is None:
            raise ConversationError("not_found", "No such conversation.", 404)
        if not may_view(agent, conversation):
            raise ConversationError("forbidden", "This conversation is not yours.", 403)
        return conversation

    async def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)
                )
            ).all()
            names = await self.agent_names(session)
        return [note_view(n, names.get(n.agent_id)) for n in rows]

    async def dispatch(self) -> int:
        """Give queued conversations, in answering order, to the least-busy online
        agent of their team who is below capacity. Returns how many were given."""
        if not self.auto_assign:
            return 0
        async with self.sessions() as session:
            waiting = (
                await session.scalars(
                    select(Conversation)
                    .where(Conversation.state == State.QUEUED)
                    .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
                    .limit(200)
                )
            ).all()
            if not waiting:
                return 0
            answering = (
                await session.scalars(
                    self._online(select(Agent)).where(Agent.role == AgentRole.AGENT)
                )
            ).all()
            load = await workloads(session)
        given = 0
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
                await self.assign(conversation.id, agent, auto=True)
            except ConversationError:
                continue  # taken meanwhile, by hand or by another process
            load[agent.id] = load.get(agent.id, 0) + 1
            given += 1
        return given

    async def assign(
        self, conversation_id: int, agent: Agent, auto: bool = False
    ) -> dict[str, Any]:
        """The agent takes a queued conversation of their team (supervisors take any,
        also from a colleague). `auto` is the dispatcher giving it to them."""
        async with self._locks[conversation_id]:
            outbox = Outbox(state_changed=True)
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if (
                    conversation.state == State.ASSIGNED
                    and conversation.assigned_agent_id == agent.id
                ):
                    return await self.view(conversation)
                supervising = supervises(agent)
                if conversation.state == State.ASSIGNED and not supervising:
                    raise ConversationError("already_assigned", "Another agent has taken it.")
                if conversation.state not in (State.QUEUED, State.ASSIGNED):
                    raise ConversationError(
                        "not_queued", f"The conversation is {conversation.state.value}, not queued."
                    )
                if not supervising and (
                    agent.role != AgentRole.AGENT or conversation.team != agent.team
                ):
                    raise ConversationError(
                        "forbidden", "This conversation is queued for another team.", 403
                    )
                now = _now()
                queued_at = conversation.queued_at
                outbox.previous_agent_id = conversation.assigned_agent_id
                outbox.withdrawn = outbox.previous_agent_id is not None
                conversation.state = State.ASSIGNED
                conversation.assigned_agent_id = agent.id
                conversation.assigned_at = now
                conversation.queue_position = None
                waited = (now - aware(queued_at)).total_seconds() if queued_at else None
                self._record(
                    session,
                    "assigned",
                    conversation,
                    agent_id=agent.id,
                    data={"wait_seconds": waited, "auto": auto},
                )
                await self._say_joined(session, conversation, agent, outbox)
                outbox.conversation = conversation
                await self._tell_positions(session, conversation.team, outbox)
            await self._publish(outbox)
            return await self.view(conversation)

    async def _say_joined(
        self, session: AsyncSession, conversation: Conversation, agent: Agent, outbox: Outbox
    ) -> None:
        text = self._system_text("assigned", conversation.language).format(agent=agent.display_name)
        outbox.messages.append(
            await self._append(
                session, conversation, SenderKind.SYSTEM, text, {"agent_name": agent.display_name}
            )
        )

    async def agent_message(
        self, conversation_id: int, agent: Agent, text: str, client_message_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        async with self._locks[conversation_id]:
            outbox = Outbox()
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if client_message_id:
                    existing = await self._by_client_id(session, conversation_id, client_message_id)
                    if existing is not None:
                        return message_view(existing), False
                if (
                    conversation.state != State.ASSIGNED
                    or conversation.assigned_agent_id != agent.id
                ):
                    raise ConversationError(
                        "not_assigned", "Accept the conversation before replying.", 409
                    )
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
        """Close the conversation with a reason code and ask the customer for a rating."""
        if reason not in RESOLUTION_REASONS:
            raise ConversationError(
                "bad_reason", "reason must be one of " + ", ".join(RESOLUTION_REASONS) + ".", 400
            )
        async with self._locks[conversation_id]:
            outbox = Outbox(state_changed=True)
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if conversation.state == State.RESOLVED:
                    return conversation_view(conversation, await self.agent_names(session))
                if not may_act(agent, conversation):
                    raise ConversationError("forbidden", "This conversation is not yours.", 403)
                conversation.state = State.RESOLVED
                conversation.resolved_at = _now()
                conversation.resolution_reason = reason
                conversation.queue_position = None
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
                await self._tell_positions(session, conversation.team, outbox)
            await self._publish(outbox)
        await self.dispatch()  # the agent has room for another
        return await self.view(conversation)

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
            raise ConversationError("malformed", "A transfer needs a note.", 400)
        if (team is None) == (to_agent_id is None):
            raise ConversationError("malformed", "Transfer to a team or to an agent.", 400)
        async with self._locks[conversation_id]:
            outbox = Outbox(state_changed=True, withdrawn=True)
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if conversation.state not in (State.QUEUED, State.ASSIGNED) or not (
                    may_act(agent, conversation)
                ):
                    raise ConversationError(
                        "forbidden", "Only the agent handling it can transfer it.", 403
                    )
                target = None
                if to_agent_id is not None:
                    target = await session.get(Agent, to_agent_id)
                    if target is None or not target.is_active or target.role == AgentRole.TRAINER:
                        raise ConversationError("bad_agent", "No such agent.", 400)
                    team = target.team
                team_row = await session.scalar(select(Team).where(Team.code == team))
                if team_row is None:
                    raise ConversationError("bad_team", "No such team.", 400)
                outbox.previous_agent_id = conversation.assigned_agent_id
                old_team = conversation.team
                session.add(
                    Note(
                        conversation_id=conversation.id,
                        agent_id=agent.id,
                        text=note,
                        created_at=_now(),
                    )
                )
                self._record(
                    session,
                    "transferred",
                    conversation,
                    agent_id=agent.id,
                    data={"from_team": old_team, "to_team": team, "to_agent_id": to_agent_id},
                )
                conversation.team = team
                outbox.conversation = conversation
                team_name = team_row.name_en if conversation.language == "en" else team_row.name_zh
                outbox.messages.append(
                    await self._append(
                        session,
                        conversation,
                        SenderKind.SYSTEM,
                        self._system_text("transferring", conversation.language).format(
                            team=team_name
                        ),
                    )
                )
                if target is not None:
                    conversation.state = State.ASSIGNED
                    conversation.assigned_agent_id = target.id
                    conversation.assigned_at = _now()
                    conversation.queue_position = None
                    self._record(
                        session,
                        "assigned",
                        conversation,
                        agent_id=target.id,
                        data={"wait_seconds": 0, "transfer": True},
                    )
                    await self._say_joined(session, conversation, target, outbox)
                else:
                    conversation.state = State.QUEUED
                    conversation.assigned_agent_id = None
                    conversation.queued_at = _now()
                    # Someone already waited once: they go ahead of new arrivals.
                    conversation.priority = max(conversation.priority or 0, 1)
                    await self._tell_position(session, conversation, outbox, "queue_update")
                    await self._tell_positions(session, team, outbox, skip=conversation.id)
                if old_team != team:
                    await self._tell_positions(session, old_team, outbox)
            await self._publish(outbox)
        await self.dispatch()
        return await self.view(conversation)

    async def requeue_absent(self, grace_seconds: float) -> int:
        """Conversations of agents who went offline (their console disconnected)
        longer ago than the grace period go back to the queue, ahead of new arrivals."""
        cutoff = _now() - timedelta(seconds=grace_seconds)
        async with self.sessions() as session:
            stranded = (
                await session.scalars(
                    select(Conversation.id)
                    .join(Agent, Agent.id == Conversation.assigned_agent_id)
                    .where(
                        Conversation.state == State.ASSIGNED,
                        Agent.presence == "offline",
                        or_(Agent.presence_at.is_(None), Agent.presence_at < cutoff),
                    )
                )
            ).all()
        for conversation_id in stranded:
            async with self._locks[conversation_id]:
                outbox = Outbox(state_changed=True, withdrawn=True)
                async with self.sessions.begin() as session:
                    conversation = await self._load(session, conversation_id)
                    if conversation.state != State.ASSIGNED:
                        continue
                    outbox.previous_agent_id = conversation.assigned_agent_id
                    self._record(
                        session,
                        "requeued",
                        conversation,
                        agent_id=conversation.assigned_agent_id,
                        data={"reason": "agent_disconnected"},
                    )
                    conversation.state = State.QUEUED
                    conversation.assigned_agent_id = None
                    conversation.queued_at = _now()
                    conversation.priority = max(conversation.priority or 0, 1)
                    outbox.conversation = conversation
                    outbox.messages.append(
                        await self._append(
                            session,
                            conversation,
                            SenderKind.SYSTEM,
                            self._system_text("requeued", conversation.language),
                        )
                    )
                    await self._tell_position(session, conversation, outbox, "queue_update")
                    await self._tell_positions(
                        session, conversation.team, outbox, skip=conversation.id
                    )
                await self._publish(outbox)
        if stranded:
            await self.dispatch()
        return len(stranded)

    async def add_note(
        self, conversation_id: int, agent: Agent, text: str, client_note_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """A private note: stored, shown to agents, never delivered to the customer."""
        text = (text or "").strip()
        if not text or len(text) > MAX_NOTE_CHARS:
            raise ConversationError(
                "malformed", f"A note has 1 to {MAX_NOTE_CHARS} characters.", 400
            )
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            if not may_view(agent, conversation) or agent.role == AgentRole.TRAINER:
                raise ConversationError("forbidden", "This conversation is not yours.", 403)
            if client_note_id:
                existing = await session.scalar(
                    select(Note).where(
                        Note.conversation_id == conversation_id,
                        Note.client_note_id == client_note_id,
                    )
                )
                if existing is not None:
                    return note_view(existing, agent.display_name), False
            note = Note(
                conversation_id=conversation_id,
                agent_id=agent.id,
                text=text,
                client_note_id=client_note_id,
                created_at=_now(),
            )
            session.add(note)
            await session.flush()
            self._record(session, "note_added", conversation, agent_id=agent.id)
        view = note_view(note, agent.display_name)
        await self.hub.note_added(conversation_id, view)
        return view, True

    async def set_labels(
        self, conversation_id: int, agent: Agent, labels: list[Any]
    ) -> dict[str, Any]:
        cleaned: list[str] = []
        for label in labels:
            if not isinstance(label, str) or not 1 <= len(label.strip()) <= 32:
                raise ConversationError("malformed", "Labels have 1 to 32 characters.", 400)
            if label.strip() not in cleaned:
                cleaned.append(label.strip())
        if len(cleaned) > MAX_LABELS:
            raise ConversationError("malformed", f"At most {MAX_LABELS} labels.", 400)
        async with self._locks[conversation_id]:
            async with self.sessions.begin() as session:
                conversation = await self._load(session, conversation_id)
                if not may_act(agent, conversation):
                    raise ConversationError("forbidden", "This conversation is not yours.", 403)
                conversation.labels = cleaned
                self._record(
                    session,
                    "labels_changed",
                    conversation,
                    agent_id=agent.id,
                    data={"labels": cleaned},
                )
            view = await self.view(conversation)
        await self.hub.conversation_changed(view)
        return view

    async def customer_typing(self, conversation_id: int, typing: bool) -> None:
        await self.hub.typing(
            conversation_id,
            {"conversation_id": conversation_id, "who": "customer", "typing": typing},
        )

    async def agent_typing(self, conversation_id: int, agent: Agent, typing: bool) -> None:
        """Shown to the customer (and colleagues) only while the agent has the conversation."""
        conversation = await self.get(conversation_id)
        if conversation is None or conversation.assigned_agent_id != agent.id:
            return
        if conversation.state != State.ASSIGNED:
            return
        data = {
            "conversation_id": conversation_id,
            "who": "agent",
            "agent_name": agent.display_name,
            "typing": typing,
        }
        await self.hub.typing(conversation_id, data)
        channel = self.channels.get(conversation.channel)
        if channel is not None and hasattr(channel, "typing"):
            await channel.typing(conversation, agent.display_name, typing)

    async def agent_acknowledge(self, conversation_id: int, agent: Agent, seq: int) -> None:
        """The assigned agent's console has everything up to `seq`."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.assigned_agent_id == agent.id,
                    Conversation.agent_ack_seq < seq,
                    Conversation.last_seq >= seq,
                )
                .values(agent_ack_seq=seq)
            )

    async def canned_responses(self) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(CannedResponse).order_by(
                        CannedResponse.shortcut, CannedResponse.language
                    )
                )
            ).all()
        return [
            {"id": r.id, "shortcut": r.shortcut, "language": r.language, "text": r.text}
            for r in rows
        ]

    async def fill_canned(self, conversation_id: int, agent: Agent, shortcut: str) -> str:
        """A canned response in the conversation's language, its variables filled in."""
        conversation = await self.conversation_for(conversation_id, agent)
        lang = conversation.language if conversation.language in ("zh", "en") else "zh"
        async with self.sessions() as session:
            canned = await session.scalar(
                select(CannedResponse)
                .where(CannedResponse.shortcut == shortcut)
                .order_by((CannedResponse.language == lang).desc())
                .limit(1)
            )
            if canned is None:
                raise ConversationError("not_found", "No such canned response.", 404)
            customer = (
                await session.get(Customer, conversation.customer_id)
                if conversation.customer_id
                else None
            )
        return fill_variables(canned.text, lang, customer, agent)

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
        if outbox.withdrawn:
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


def aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def workloads(session: AsyncSession, agent_id: int | None = None) -> dict[int, int]:
    """How many conversations each agent (or one agent) has assigned right now."""
    query = (
        select(Conversation.assigned_agent_id, func.count())
        .where(Conversation.state == State.ASSIGNED)
        .group_by(Conversation.assigned_agent_id)
    )
    if agent_id is not None:
        query = query.where(Conversation.assigned_agent_id == agent_id)
    return dict((await session.execute(query)).all())


def supervises(agent: Agent) -> bool:
    return agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN)


def may_view(agent: Agent, conversation: Conversation) -> bool:
    """Supervisors and admins see everything; agents see their team's queue and
    their own conversations; trainers see none."""
    if supervises(agent):
        return True
    if agent.role != AgentRole.AGENT:
        return False
    if conversation.assigned_agent_id == agent.id:
        return True
    return conversation.state == State.QUEUED and conversation.team == agent.team


def may_act(agent: Agent, conversation: Conversation) -> bool:
    if supervises(agent):
        return True
    return agent.role == AgentRole.AGENT and conversation.assigned_agent_id == agent.id


def agent_view(agent: Agent, active_conversations: int = 0) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role.value,
        "team": agent.team,
        "presence": agent.presence,
        "active": agent.is_active,
        "capacity": agent.capacity,
        "active_conversations": active_conversations,
        "ui_language": agent.ui_language,
        "supervisor": supervises(agent),
    }


def _polite_name(customer: Customer | None, language: str) -> str:
    """张先生 in Chinese, the full name in English: how an agent addresses a verified customer."""
    if customer is None or not customer.name:
        return ""
    if language == "en":
        return customer.name
    return customer.name[0] + ("先生" if customer.gender == "M" else "女士")


def fill_variables(text: str, language: str, customer: Customer | None, agent: Agent) -> str:
    values = {
        "customer_name": _polite_name(customer, language),
        "agent_name": agent.display_name.split(" ")[0]
        if language == "zh"
        else agent.display_name.split(" ", 1)[-1],
    }
    filled = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), ""), text)
    # An unknown name leaves "Hello , ..." or "咨询,。" behind: tidy it.
    filled = re.sub(r"[,,]\s*([。.!!])", r"\1", filled)
    return re.sub(r"\s+([,.!?])", r"\1", re.sub(r" {2,}", " ", filled)).strip()
