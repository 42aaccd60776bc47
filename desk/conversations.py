"""The conversation service: the one owner of conversation state (DESIGN §2).

It is assembled from the rooms of the core: the journal (persist, then
deliver), routing, the lifecycle, the bot's turn, and notes. Channels and the
console call it; it never calls them except through `Channel` and `AgentHub`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import and_, or_, select

from bot.components.language import detect_language
from desk import people
from desk.access import may_view, supervises, visible_to
from desk.analytics.episodes import FIRST_REPLY, episode_end, open_episode
from desk.bot_turn import BotTurns
from desk.clock import now
from desk.errors import DeskError
from desk.intake import Inbound, Received, Refusal
from desk.journal import Outbox, State, _current, _remembered
from desk.lifecycle import QUEUE_PAYLOAD, RATING
from desk.notes import Notes
from desk.pseudonyms import pseudonym
from desk.routing import CALLBACK_INSTEAD_PAYLOAD, LEAVE_QUEUE_PAYLOAD, workloads
from desk.transfers import Transfers
from desk.views import conversation_view, message_view
from desk.wrap_ups import WrapUps
from store.db import insert_if_absent
from store.identities import identity_for, remembered_customer
from store.models import (
    Agent,
    AgentRole,
    Conversation,
    SenderKind,
    Team,
)

log = logging.getLogger(__name__)


class ConversationService(Notes, Transfers, WrapUps, BotTurns):
    async def open(
        self,
        channel: str,
        external_user_id: str,
        profile: dict[str, Any] | None = None,
        client_address: str | None = None,
    ) -> tuple[Conversation, bool]:
        """The channel identity's current conversation, created if it has none. A new
        conversation from an identity verified recently starts verified.

        Safe when two first messages arrive at once (in one process or several): one
        conversation per identity is a unique index, and the message that loses the
        insert joins the conversation the other one opened."""
        async with self.sessions.begin() as session:
            identity = await identity_for(session, channel, external_user_id, profile)
            conversation = await session.scalar(_current(channel, external_user_id))
            if conversation is not None:
                if conversation.contact_id is None:
                    conversation.contact_id = identity.contact_id
                if client_address and conversation.client_address != client_address:
                    conversation.client_address = client_address
                return conversation, False
            language = (profile or {}).get("language")
            values = {
                "channel": channel,
                "external_user_id": external_user_id,
                "contact_id": identity.contact_id,
                "customer_id": remembered_customer(identity, self.verified_identity_days),
                "client_address": client_address or None,
                **({"language": language} if language in ("zh", "en") else {}),
            }
            created = await insert_if_absent(
                session, Conversation, values, ["channel", "external_user_id"]
            )
            conversation = await session.scalar(_current(channel, external_user_id))
            if conversation is None:
                raise DeskError("conflict", "The conversation could not be opened.")
            if created is None:
                # Another message of the same identity opened it a moment ago.
                return conversation, False
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
            log.warning(
                "refused a %s message from %s: rate limited",
                channel,
                pseudonym(inbound.external_id),
            )
            return Received(
                await self.find(channel, inbound.external_id),
                refusal=Refusal("rate_limited", "Too many messages; slow down."),
            )
        refusal = self._refusal(inbound)
        if refusal is not None:
            log.warning(
                "refused a %s message from %s: %s",
                channel,
                pseudonym(inbound.external_id),
                refusal.code,
            )
            return Received(await self.find(channel, inbound.external_id), refusal=refusal)
        conversation, _ = await self.open(
            channel, inbound.external_id, inbound.profile, inbound.client_address
        )
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
            waits = text == QUEUE_PAYLOAD and text in offered and conversation.state == State.BOT
            leaves = (
                text == LEAVE_QUEUE_PAYLOAD
                and text in offered
                and conversation.state == State.QUEUED
            )
            # A callback instead of waiting: back to the bot, which the payload (the
            # callback intent) then starts the form with.
            if (
                text == CALLBACK_INSTEAD_PAYLOAD
                and text in offered
                and conversation.state == State.QUEUED
            ):
                await self._callback_instead(session, conversation, outbox)
            if not (rated or waits or leaves):
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
            elif leaves:
                await self._leave_queue(session, conversation, outbox)
            elif rated:
                await self._rating(session, conversation, RATING[text], outbox)
            elif not text.strip():
                # A file alone: the bot cannot read it; the customer hears it arrived,
                # and an agent handling the conversation sees it.
                if conversation.state == State.BOT:
                    await self._say(session, conversation, outbox, "file_received")
            elif conversation.state == State.BOT:
                forward = True
                bot_text = self._text_for_bot(text, offered)
                # Owed in the same transaction: a process that dies now loses nothing.
                self._owe_turn(session, conversation.id, seq, bot_text)
        # Delivered only once committed.
        await self._publish(outbox)
        view = message_view(message)
        if waits:
            await self.dispatch()
        if forward:
            task = self._start_turn(conversation_id, bot_text, seq)
            if wait_for_bot is True:
                await task
            elif wait_for_bot:
                # Shielded: the bot's turn goes on after the wait ends.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), wait_for_bot)
        return view, True

    async def agent_message(
        self, conversation_id: int, agent: Agent, text: str, client_message_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        outbox = Outbox()
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            if not may_view(agent, conversation):
                raise DeskError("forbidden", "This conversation is not yours.", 403)
            if client_message_id:
                existing = await self._by_client_id(session, conversation_id, client_message_id)
                if existing is not None:
                    return message_view(existing), False
            if conversation.state != State.ASSIGNED or conversation.assigned_agent_id != agent.id:
                raise DeskError("not_assigned", "Accept the conversation before replying.", 409)
            # The first reply of this queue episode ends the customer's wait.
            episode = await open_episode(session, conversation_id)
            message = await self._append(
                session,
                conversation,
                SenderKind.AGENT,
                text,
                {"agent_name": agent.display_name},
                client_message_id=client_message_id,
                agent_id=agent.id,
            )
            if episode is not None:
                self._record(
                    session,
                    FIRST_REPLY,
                    conversation,
                    agent_id=agent.id,
                    data=episode_end(episode, now()),
                )
            outbox.conversation = conversation
            outbox.messages.append(message)
        await self._publish(outbox)
        return message_view(message), True

    async def agents(self, viewer: Agent) -> list[dict[str, Any]]:
        """Every active agent (for transfers); supervisors also see presence and load."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(Agent).where(Agent.is_active.is_(True)).order_by(Agent.id)
                )
            ).all()
            load = await workloads(session)
        details = supervises(viewer)
        return [people.agent_view(a, load.get(a.id, 0), details) for a in rows]

    async def plain_agents(self, team: str, also: int | None = None) -> list[Agent]:
        """The agents (not supervisors) of a team, and the agent `also`, whatever their
        role: whom a change may take a conversation from."""
        wanted = and_(Agent.team == team, Agent.role == AgentRole.AGENT)
        if also is not None:
            wanted = or_(wanted, Agent.id == also)
        async with self.sessions() as session:
            return list((await session.scalars(select(Agent).where(wanted))).all())

    async def teams(self) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(Team).order_by(Team.id))).all()
        return [{"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en} for t in rows]

    async def conversations(
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
        if agent is not None:
            query = query.where(visible_to(agent))
        async with self.sessions() as session:
            rows = (await session.scalars(query)).all()
            names = await self.agent_names(session)
        return [conversation_view(c, names) for c in rows]
