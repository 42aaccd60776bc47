"""What agents add to a conversation besides replies: private notes, labels,
typing indicators, and canned replies with the customer's and agent's names filled in."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, cast, select, update

from desk.access import may_act, may_view
from desk.clock import now
from desk.errors import DeskError
from desk.journal import Journal, State
from desk.lifecycle import MAX_NOTE_CHARS
from desk.views import note_view
from store.models import (
    Agent,
    AgentRole,
    CannedResponse,
    Conversation,
    Customer,
    Message,
    Note,
)

MAX_LABELS = 10


class Notes(Journal):
    async def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)
                )
            ).all()
            names = await self.agent_names(session)
        return [note_view(n, names.get(n.agent_id)) for n in rows]

    async def add_note(
        self, conversation_id: int, agent: Agent, text: str, client_note_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """A private note: stored, shown to agents, never delivered to the customer."""
        text = (text or "").strip()
        if not text or len(text) > MAX_NOTE_CHARS:
            raise DeskError("malformed", f"A note has 1 to {MAX_NOTE_CHARS} characters.", 400)
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            if not may_view(agent, conversation) or agent.role == AgentRole.TRAINER:
                raise DeskError("forbidden", "This conversation is not yours.", 403)
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
                created_at=now(),
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
                raise DeskError("malformed", "Labels have 1 to 32 characters.", 400)
            if label.strip() not in cleaned:
                cleaned.append(label.strip())
        if len(cleaned) > MAX_LABELS:
            raise DeskError("malformed", f"At most {MAX_LABELS} labels.", 400)
        async with self.sessions.begin() as session:
            conversation = await self._load(session, conversation_id)
            if not may_act(agent, conversation):
                raise DeskError("forbidden", "This conversation is not yours.", 403)
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
                raise DeskError("not_found", "No such canned response.", 404)
            customer = (
                await session.get(Customer, conversation.customer_id)
                if conversation.customer_id
                else None
            )
        return fill_variables(canned.text, lang, customer, agent)

    async def carries(self, conversation_id: int, link: str) -> bool:
        """Whether a message of the conversation carries `link` (a file the customer
        sent, kept at their channel): seeing a conversation opens its files, no others."""
        async with self.sessions() as session:
            found = await session.scalar(
                select(Message.id)
                .where(
                    Message.conversation_id == conversation_id,
                    cast(Message.payload, String).contains(link, autoescape=True),
                )
                .limit(1)
            )
        return found is not None

    async def conversation_for(self, conversation_id: int, agent: Agent) -> Conversation:
        conversation = await self.get(conversation_id)
        if conversation is None:
            raise DeskError("not_found", "No such conversation.", 404)
        if not may_view(agent, conversation):
            raise DeskError("forbidden", "This conversation is not yours.", 403)
        return conversation


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
