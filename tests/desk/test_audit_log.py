"""The workbench's audit log read back: newest first, by kind and by who, a page at a
time, and only for trainers, supervisors and admins (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from desk.errors import DeskError
from desk.training import audit
from store.models import Agent, AgentRole, TrainingChange


async def staff(sessions, *people: tuple[str, AgentRole]) -> dict[str, Agent]:
    async with sessions.begin() as session:
        found = {
            name: Agent(username=name, display_name=name.title(), password_hash="x", role=role)
            for name, role in people
        }
        session.add_all(found.values())
    return found


async def test_entries_newest_first_by_kind_and_by_who_a_page_at_a_time(sessions):
    people = await staff(
        sessions,
        ("lin", AgentRole.TRAINER),
        ("wang", AgentRole.SUPERVISOR),
        ("zhou", AgentRole.AGENT),
    )
    lin, wang = people["lin"], people["wang"]
    total = audit.PAGE_SIZE + 5
    async with sessions.begin() as session:
        for n in range(total):
            session.add(
                TrainingChange(
                    agent_id=lin.id,
                    subject_kind="intent",
                    subject="greet",
                    change="add",
                    after=f"例句 {n}",
                )
            )
        session.add(audit.model_change(wang, 7, "deploy", 3, "客户找领导的太多了"))
        session.add(audit.model_change(lin, 3, "rollback", 7, None))

    first = await audit.entries(sessions, lin, audit.AuditQuery())
    assert len(first["entries"]) == audit.PAGE_SIZE
    assert [(e["kind"], e["change"]) for e in first["entries"][:2]] == [
        ("model", "rollback"),
        ("model", "override"),
    ]
    assert first["entries"][2]["after"] == f"例句 {total - 1}"
    rest = await audit.entries(sessions, lin, audit.AuditQuery(before=first["next"]))
    assert rest["next"] is None
    assert [e["after"] for e in rest["entries"]] == [f"例句 {n}" for n in range(6, -1, -1)]

    models = await audit.entries(sessions, wang, audit.AuditQuery(kind="model"))
    assert [(e["subject"], e["before"], e["after"]) for e in models["entries"]] == [
        ("3", "7", None),
        ("7", "3", "客户找领导的太多了"),
    ]
    theirs = await audit.entries(sessions, lin, audit.AuditQuery(agent="wang"))
    assert [(e["agent"]["username"], e["change"]) for e in theirs["entries"]] == [
        ("wang", "override")
    ]
    nobody = await audit.entries(sessions, lin, audit.AuditQuery(agent="nobody"))
    assert nobody == {"entries": [], "next": None}

    with pytest.raises(DeskError) as refused:
        await audit.entries(sessions, people["zhou"], audit.AuditQuery())
    assert refused.value.status == 403
