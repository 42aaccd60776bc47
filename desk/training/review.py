"""A trainer's decisions on inbox messages, and their undoing.

confirm       the message becomes an example of the intent the bot predicted
              (`faq/<topic>` for an FAQ)
relabel       ... of the intent (or `faq/<topic>`) the trainer names
out_of_scope  ... of `out_of_scope`
ignore        nothing is written
hold_out      labelled (the predicted intent unless one is named) but kept out of the
              training data, for evaluating models on

As every workbench edit, the example is written to the YAML first (against the
intent's version read just before) and only then is the message marked, with a change
log row for the review and one for the intent; if another trainer decided the message
meanwhile, the example just added is taken out again and the decision refused. Undo
takes the example back out (when it is still there) and the message is new again."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.clock import now
from desk.errors import DeskError
from desk.inputs import Body, Id
from desk.training import examples
from desk.training.changes import INTENT, check_trainer
from desk.training.inbox import MAX_PAGE_SIZE, item_json, one, predicted
from desk.training.project import Project
from store.models import Agent, TrainingChange
from store.workbench import ParsedMessage

REVIEW = "review"
OUT_OF_SCOPE = "out_of_scope"
Action = Literal["confirm", "relabel", "out_of_scope", "ignore", "hold_out"]
Label = Annotated[str, Field(min_length=1, max_length=128)]


class Decision(Body):
    action: Action
    # For relabel (required) and hold_out (the predicted intent when left out).
    label: Label | None = None
    refusals = {
        "action": ("bad_action", "action is confirm, relabel, out_of_scope, ignore or hold_out."),
        "label": ("bad_intent_name", "label is an intent name."),
    }


class BulkDecision(Decision):
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_PAGE_SIZE)]
    refusals = {
        **Decision.refusals,
        "ids": ("malformed", f"ids is a list of 1 to {MAX_PAGE_SIZE} message ids."),
    }


def _outcome(row: ParsedMessage, decision: Decision) -> tuple[str, str | None, bool]:
    """The status, label and whether the example is written, for a decision."""
    guess = predicted(row)
    if decision.action == "ignore":
        return "ignored", None, False
    if decision.action == "confirm":
        if row.intent == "faq" and not row.faq_topic:
            raise DeskError(
                "no_faq_topic", "The bot gave no FAQ topic: relabel it to faq/<topic>.", 400
            )
        return "confirmed", guess, True
    if decision.action == OUT_OF_SCOPE:
        return OUT_OF_SCOPE, OUT_OF_SCOPE, True
    label = decision.label or (guess if decision.action == "hold_out" else None)
    if not label:
        raise DeskError("label_required", "Relabelling needs the intent it should have been.", 400)
    examples.check_intent_name(label)
    if decision.action == "relabel":
        return "relabelled", label, True
    status = (
        "confirmed" if label == guess else OUT_OF_SCOPE if label == OUT_OF_SCOPE else "relabelled"
    )
    return status, label, False


def _add(project: Project, intent: str, text: str) -> None:
    version = examples.intent_examples(project, intent).version
    examples.add_example(project, intent, text, version)


def _remove(project: Project, intent: str, text: str) -> bool:
    """Takes the example out of the intent; False when it is no longer there."""
    try:
        current = examples.intent_examples(project, intent)
    except DeskError as refusal:
        if refusal.code == "not_found":
            return False
        raise
    if text not in current.examples:
        return False
    examples.delete_example(project, intent, text, current.version)
    return True


def _log(
    session: AsyncSession,
    agent: Agent,
    row: ParsedMessage,
    change: str,
    before: str | None,
    written: str | None,
    removed: str | None = None,
) -> None:
    """One row for the review, and one for the intent an example went to or left."""
    session.add(
        TrainingChange(
            agent_id=agent.id,
            subject_kind=REVIEW,
            subject=str(row.id),
            other_subject=written or removed,
            change=change,
            before=before,
            after=row.text,
        )
    )
    if written:
        session.add(
            TrainingChange(
                agent_id=agent.id,
                subject_kind=INTENT,
                subject=written,
                change="add",
                before=None,
                after=row.text,
            )
        )
    if removed:
        session.add(
            TrainingChange(
                agent_id=agent.id,
                subject_kind=INTENT,
                subject=removed,
                change="delete",
                before=row.text,
                after=None,
            )
        )


async def decide(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    parsed_id: int,
    decision: Decision,
) -> dict:
    """One decision on one new inbox message; its item as it is now."""
    check_trainer(agent)
    async with sessions() as session:
        row = await one(session, parsed_id)
    if row.status != "new":
        raise DeskError("already_reviewed", "This message was reviewed already.", 409)
    status, label, writes = _outcome(row, decision)
    if writes and label:
        await asyncio.to_thread(_add, project, label, row.text)
    elif label:
        # A held-out label must still name one of the project's intents.
        await asyncio.to_thread(examples.intent_examples, project, label)
    async with sessions.begin() as session:
        result = await session.execute(
            update(ParsedMessage)
            .where(ParsedMessage.id == row.id, ParsedMessage.status == "new")
            .values(
                status=status,
                reviewed=True,
                label=label,
                held_out=decision.action == "hold_out",
                reviewed_by=agent.id,
                reviewed_at=now(),
            )
        )
        taken = result.rowcount == 1  # type: ignore[attr-defined]
        if taken:
            _log(session, agent, row, decision.action, label, label if writes else None)
    if not taken:
        if writes and label:
            await asyncio.to_thread(_remove, project, label, row.text)
        raise DeskError("already_reviewed", "Another trainer reviewed this message meanwhile.", 409)
    return await _item(sessions, row.id)


async def decide_all(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    body: BulkDecision,
) -> dict:
    """The same decision on each message of a selection, in order; each one that is
    refused is reported with its reason and the others go ahead."""
    check_trainer(agent)
    decision = Decision(action=body.action, label=body.label)
    done, refused = [], []
    for parsed_id in dict.fromkeys(body.ids):
        try:
            done.append(await decide(sessions, project, agent, parsed_id, decision))
        except DeskError as refusal:
            refused.append({"id": parsed_id, "code": refusal.code, "message": refusal.message})
    return {"done": done, "refused": refused}


async def undo(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    parsed_id: int,
) -> dict:
    """The message is new again; the example its decision wrote is taken out."""
    check_trainer(agent)
    async with sessions() as session:
        row = await one(session, parsed_id)
    if row.status == "new":
        raise DeskError("not_reviewed", "This message has no decision to undo.", 409)
    wrote = row.label if row.label and not row.held_out and row.status != "ignored" else None
    removed: str | None = None
    if wrote:
        gone: bool = await asyncio.to_thread(_remove, project, wrote, row.text)
        removed = wrote if gone else None
    async with sessions.begin() as session:
        result = await session.execute(
            update(ParsedMessage)
            .where(
                ParsedMessage.id == row.id,
                ParsedMessage.status == row.status,
                ParsedMessage.reviewed_at == row.reviewed_at,
            )
            .values(
                status="new",
                reviewed=False,
                label=None,
                held_out=False,
                reviewed_by=None,
                reviewed_at=None,
            )
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            _log(session, agent, row, "undo", row.status, None, removed)
    return await _item(sessions, row.id)


async def _item(sessions: async_sessionmaker[AsyncSession], parsed_id: int) -> dict:
    async with sessions() as session:
        return item_json(await one(session, parsed_id))
