"""The workbench's edits as the console makes them: the typed bodies of its forms and
API, each edit run off the event loop (the project's files are locked and written
with blocking calls), and the change log it leaves in the store.

The YAML is written first and only then the log row: an edit that could not be
written leaves no row, and a row always names a change that is in the files."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from desk.errors import DeskError
from desk.inputs import Body
from desk.training import examples, responses
from desk.training.project import Project
from store.models import Agent, AgentRole, TrainingChange

# Who may review and edit the bot's training data.
TRAINERS = (AgentRole.TRAINER, AgentRole.ADMIN)
INTENT, RESPONSE = "intent", "response"
CHANGE_LOG_LENGTH = 50

Version = Annotated[str, Field(min_length=1, max_length=64)]
Example = Annotated[str, Field(min_length=1, max_length=examples.MAX_EXAMPLE_LENGTH * 2)]
IntentName = Annotated[str, Field(min_length=1, max_length=128)]


class NewExample(Body):
    text: Example
    version: Version
    refusals = {"version": ("malformed", "version is the intent's version as last read.")}


class ExampleEdit(Body):
    old: Example
    new: Example
    version: Version


class ExampleRemoval(Body):
    text: Example
    version: Version


class ExampleMove(Body):
    text: Example
    to: IntentName
    version: Version


class ResponseEdit(Body):
    language: Annotated[str, Field(min_length=2, max_length=8)]
    text: Annotated[str, Field(min_length=1, max_length=responses.MAX_RESPONSE_LENGTH * 2)]
    version: Version


def check_trainer(agent: Agent) -> None:
    if agent.role not in TRAINERS:
        raise DeskError("forbidden", "Only trainers and admins edit the bot's training data.", 403)


@dataclass(frozen=True)
class ChangeView:
    at: datetime
    agent: str
    subject_kind: str
    subject: str
    other_subject: str | None
    change: str
    before: str | None
    after: str | None

    def json(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


async def log_change(
    sessions: async_sessionmaker[AsyncSession],
    agent: Agent,
    kind: str,
    subject: str,
    change: str,
    before: str | None,
    after: str | None,
    other: str | None = None,
) -> None:
    async with sessions.begin() as session:
        session.add(
            TrainingChange(
                agent_id=agent.id,
                subject_kind=kind,
                subject=subject,
                other_subject=other,
                change=change,
                before=before,
                after=after,
            )
        )


async def history(
    sessions: async_sessionmaker[AsyncSession], kind: str, subject: str
) -> list[ChangeView]:
    """The changes of an intent (a move away or in included) or a response, newest first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(TrainingChange)
            .options(selectinload(TrainingChange.agent))
            .where(
                TrainingChange.subject_kind == kind,
                or_(TrainingChange.subject == subject, TrainingChange.other_subject == subject),
            )
            .order_by(TrainingChange.id.desc())
            .limit(CHANGE_LOG_LENGTH)
        )
        return [
            ChangeView(
                row.at,
                row.agent.display_name,
                row.subject_kind,
                row.subject,
                row.other_subject,
                row.change,
                row.before,
                row.after,
            )
            for row in rows
        ]


# ---- the edits ----------------------------------------------------------------------


async def add_example(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    name: str,
    body: NewExample,
) -> examples.Saved:
    check_trainer(agent)
    saved = await asyncio.to_thread(examples.add_example, project, name, body.text, body.version)
    added = saved.intent.examples[-1]
    await log_change(sessions, agent, INTENT, name, "add", None, added)
    return saved


async def edit_example(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    name: str,
    body: ExampleEdit,
) -> examples.Saved:
    check_trainer(agent)
    saved = await asyncio.to_thread(
        examples.edit_example, project, name, body.old, body.new, body.version
    )
    await log_change(sessions, agent, INTENT, name, "edit", body.old, body.new.strip())
    return saved


async def delete_example(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    name: str,
    body: ExampleRemoval,
) -> examples.Saved:
    check_trainer(agent)
    saved = await asyncio.to_thread(examples.delete_example, project, name, body.text, body.version)
    await log_change(sessions, agent, INTENT, name, "delete", body.text, None)
    return saved


async def move_example(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    name: str,
    body: ExampleMove,
) -> examples.Saved:
    check_trainer(agent)
    saved = await asyncio.to_thread(
        examples.move_example, project, name, body.text, body.to, body.version
    )
    await log_change(sessions, agent, INTENT, name, "move", body.text, body.text, other=body.to)
    return saved


async def edit_response(
    sessions: async_sessionmaker[AsyncSession],
    project: Project,
    agent: Agent,
    name: str,
    body: ResponseEdit,
) -> responses.Response:
    check_trainer(agent)
    seen = await asyncio.to_thread(responses.response, project, name)
    before = seen.texts.get(body.language, [None])[0] if seen.texts.get(body.language) else None
    saved = await asyncio.to_thread(
        responses.edit_response, project, name, body.language, body.text, body.version
    )
    after = saved.texts[body.language][0]
    await log_change(sessions, agent, RESPONSE, name, f"edit_{body.language}", before, after)
    return saved


# ---- JSON views ---------------------------------------------------------------------


def intent_json(intent: examples.IntentExamples) -> dict[str, Any]:
    return {
        "name": intent.name,
        "file": intent.file,
        "version": intent.version,
        "examples": intent.examples,
        "zh": intent.zh,
        "en": intent.en,
        "other": intent.other,
    }


def saved_json(saved: examples.Saved) -> dict[str, Any]:
    body: dict[str, Any] = {
        "intent": intent_json(saved.intent),
        "warnings": [warning.__dict__ for warning in saved.warnings],
    }
    if saved.target is not None:
        body["target"] = intent_json(saved.target)
    return body


def response_json(response: responses.Response) -> dict[str, Any]:
    return {**response.__dict__, "faq": response.is_faq}
