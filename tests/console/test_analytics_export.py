"""The conversations' CSV over the API: UTF-8 with a byte order mark, one row per
conversation with what the metrics read of it, streamed a page at a time, and no
cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from desk.analytics import export
from desk.analytics.export import cell
from store.db import create_engine, session_factory
from store.models import Conversation, ConversationState, Event
from tests.console_app import bearer, start_console


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("理赔 = 快", "理赔 = 快"),
        (12.5, "12.5"),
        (None, ""),
        (True, "true"),
    ],
)
def test_no_cell_runs_as_a_formula(value, shown):
    assert cell(value) == shown


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(sqlite_url, housekeeping=False)
    engine = create_engine(sqlite_url)
    client.sessions = session_factory(engine)
    yield client
    await client.close()
    await engine.dispose()


async def test_the_conversations_csv_streams_every_conversation_once(client, monkeypatch):
    monkeypatch.setattr(export, "PAGE", 2)  # several pages from five conversations
    created = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    async with client.sessions.begin() as session:
        rows = [
            Conversation(
                channel="wechat" if n == 4 else "web",
                external_user_id=f"export-{n}",
                team="claims",
                state=ConversationState.RESOLVED,
                created_at=created,
                labels=["=cmd|' /C calc'!A0", "理赔"] if n == 0 else [],
                resolution_reason="answered",
            )
            for n in range(5)
        ]
        session.add_all(rows)
        await session.flush()
        session.add_all(
            [
                Event(at=created, kind="handoff", conversation_id=rows[0].id, data={}),
                Event(
                    at=created,
                    kind="first_agent_reply",
                    conversation_id=rows[0].id,
                    data={"wait_seconds": 7.5},
                ),
                Event(at=created, kind="csat", conversation_id=rows[0].id, data={"score": 5}),
            ]
        )
    headers = await bearer(client, "supervisor1")
    answer = await client.get(
        "/api/v1/analytics/conversations.csv",
        params={"start": "2026-12-01", "end": "2026-12-01"},
        headers=headers,
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "conversations-2026-12-01-2026-12-01.csv" in answer.headers["Content-Disposition"]
    body = (await answer.read()).decode("utf-8")
    assert body.startswith("\ufeffconversation_id,channel,team")
    table = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert [int(r["conversation_id"]) for r in table] == [r.id for r in rows]
    first = table[0]
    assert (first["handoffs"], first["first_wait_seconds"], first["csat"]) == ("1", "7.5", "5")
    assert first["labels"] == "'=cmd|' /C calc'!A0 理赔"
    assert first["customer_verified"] == "false" and first["resolution_reason"] == "answered"
    wechat = await client.get(
        "/api/v1/analytics/conversations.csv",
        params={"start": "2026-12-01", "end": "2026-12-01", "channel": "wechat"},
        headers=headers,
    )
    assert len((await wechat.read()).decode("utf-8").splitlines()) == 2
    # refused before anything is sent
    agent = await client.get(
        "/api/v1/analytics/conversations.csv",
        params={"start": "2026-12-01", "end": "2026-12-01"},
        headers=await bearer(client, "agent1"),
    )
    assert agent.status == 403
    bad = await client.get(
        "/api/v1/analytics/conversations.csv",
        params={"start": "2026-12-02", "end": "2026-12-01"},
        headers=headers,
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_range"
