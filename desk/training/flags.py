"""An agent's "the bot misunderstood this" on a customer message of a conversation
they may see, with the intent it should have been: it goes to the trainers' inbox
with that suggestion (rank 3 at least). A message the bot never parsed (the customer
wrote while an agent had the conversation) is kept for the inbox there and then,
masked like any other."""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.access import may_view
from desk.clock import iso, now
from desk.errors import DeskError
from desk.inputs import Body
from desk.training import examples
from desk.training.capture import FLAGGED, PLAIN, known_for
from desk.training.project import Project
from store.models import Agent, Conversation, Message, SenderKind
from store.workbench import ParsedMessage


class Flag(Body):
    intent: Annotated[str, Field(min_length=1, max_length=128)]
    refusals = {"intent": ("bad_intent_name", "intent names the intent it should have been.")}


def _known_intent(project: Project, name: str) -> None:
    examples.check_intent_name(name)
    if name not in {intent.name for intent in examples.list_intents(project)}:
        raise DeskError("unknown_intent", f"There is no intent {name}.", 400)


async def flag(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    conversation_id: int,
    seq: int,
    body: Flag,
) -> dict:
    """Flags the customer's message `seq` of the conversation; what the agent sees of it."""
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise DeskError("not_found", "No such conversation.", 404)
    if not may_view(agent, conversation):
        raise DeskError("forbidden", "This conversation is not yours.", 403)
    await asyncio.to_thread(_known_intent, project, body.intent)
    async with sessions.begin() as session:
        message = await session.scalar(
            select(Message).where(Message.conversation_id == conversation_id, Message.seq == seq)
        )
        if message is None or message.sender != SenderKind.CUSTOMER or not message.text:
            raise DeskError("not_found", "No such customer message in this conversation.", 404)
        row = await session.scalar(
            select(ParsedMessage).where(ParsedMessage.message_id == message.id)
        )
        if row is None:
            row = await _unparsed(session, conversation, message)
        row.flag_intent = body.intent
        row.flagged_by = agent.id
        row.flagged_at = now()
        row.rank = min(row.rank, FLAGGED)
    return {"seq": seq, "flag_intent": body.intent, "flagged_at": iso(row.flagged_at)}


async def _unparsed(
    session: AsyncSession, conversation: Conversation, message: Message
) -> ParsedMessage:
    payload = message.payload or {}
    known = await known_for(session, conversation.customer_id)
    row = ParsedMessage(
        message_id=message.id,
        conversation_id=conversation.id,
        seq=message.seq,
        channel=conversation.channel,
        language=conversation.language,
        text=known.mask((message.text or "").strip()),
        intent=str(payload.get("intent") or ""),
        confidence=float(payload.get("confidence") or 0),
        fallback=False,
        rank=PLAIN,
        at=message.created_at,
    )
    session.add(row)
    return row
