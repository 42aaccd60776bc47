"""The workbench's audit log: every trainer's act in one list, newest first. Edits of
intents and responses, inbox decisions, test stories saved, trainings started and
cancelled, and models deployed, rolled back or deployed over the gate each leave a
`training_changes` row in the transaction (or right after the file write) that does
them; this reads them back, filtered by kind and by who, a page at a time.

Trainers and admins, and supervisors (who override the gate), may read it. Texts
from customers in it were masked before they were stored (the inbox keeps only
masked text), so nothing here is masked again."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from desk.clock import iso
from desk.errors import DeskError
from desk.inputs import Body
from store.models import Agent, AgentRole, TrainingChange

READERS = (AgentRole.TRAINER, AgentRole.ADMIN, AgentRole.SUPERVISOR)
KINDS = ("intent", "response", "review", "story", "training", "model")
PAGE_SIZE = 50


class AuditQuery(Body):
    """A page's filters, as its query string gives them (all optional). `before`: the
    id of the last entry of the page before (the next page starts under it)."""

    kind: Literal["intent", "response", "review", "story", "training", "model"] | None = None
    agent: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    before: Annotated[int, Field(ge=1)] | None = None


def check_reader(agent: Agent) -> None:
    if agent.role not in READERS:
        raise DeskError(
            "forbidden", "Only trainers, supervisors and admins read the audit log.", 403
        )


def entry_view(row: TrainingChange) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "agent": {"username": row.agent.username, "display_name": row.agent.display_name},
        "kind": row.subject_kind,
        "subject": row.subject,
        "other_subject": row.other_subject,
        "change": row.change,
        "before": row.before,
        "after": row.after,
    }


async def entries(
    sessions: async_sessionmaker[AsyncSession], reader: Agent, query: AuditQuery
) -> dict[str, Any]:
    """One page of the log; `next` is the `before` of the page after, if any."""
    check_reader(reader)
    statement = (
        select(TrainingChange)
        .options(selectinload(TrainingChange.agent))
        .order_by(TrainingChange.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    if query.kind is not None:
        statement = statement.where(TrainingChange.subject_kind == query.kind)
    if query.agent is not None:
        statement = statement.join(Agent, TrainingChange.agent_id == Agent.id).where(
            Agent.username == query.agent
        )
    if query.before is not None:
        statement = statement.where(TrainingChange.id < query.before)
    async with sessions() as session:
        rows = list(await session.scalars(statement))
    shown = rows[:PAGE_SIZE]
    return {
        "entries": [entry_view(row) for row in shown],
        "next": shown[-1].id if len(rows) > PAGE_SIZE else None,
    }


def model_change(
    agent: Agent, model_id: int, action: str, previous_id: int | None, reason: str | None
) -> TrainingChange:
    """A deploy, rollback or deploy over the gate (`override`, with its written
    reason), for the transaction that records the deployment."""
    return TrainingChange(
        agent_id=agent.id,
        subject_kind="model",
        subject=str(model_id),
        change="override" if reason is not None else action,
        before=str(previous_id) if previous_id is not None else None,
        after=reason,
    )
