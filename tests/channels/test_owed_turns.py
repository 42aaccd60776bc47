"""Nothing lost, on the real app: a message stored by a console process that dies
before its bot turn runs is answered once, by the housekeeping of the console
processes still running on the same store, once the dead one's lease is over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from console.keys import service_key
from desk.housekeeping import run_once
from tests.console_app import start_console

LEASE = 30


async def test_a_dead_consoles_message_is_answered_once_by_the_others(tmp_path, fake_rasa):
    url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    settings = {"rasa_url": fake_rasa.base, "bot_turn_lease_seconds": LEASE}
    consoles = [await start_console(url, housekeeping=False, **settings) for _ in range(3)]
    try:
        dead, *alive = [console.app[service_key] for console in consoles]
        conversation, _ = await dead.open("app", "u1")
        stored_at = datetime.now(UTC)
        await dead.customer_message(conversation.id, "保单查询")
        for turn in list(dead._bot_turns):  # the process dies before its bot turn runs
            turn.cancel()
        await asyncio.gather(*dead._bot_turns, return_exceptions=True)
        grace = consoles[1].settings.agent_reconnect_grace_seconds

        async def rounds(at: datetime) -> None:
            """A housekeeping round in each live console at once, and what they set going."""
            await asyncio.gather(*(run_once(s, grace, at) for s in alive))
            await asyncio.gather(*(s.wait_for_bot() for s in alive))

        await rounds(stored_at + timedelta(seconds=LEASE - 5))
        assert fake_rasa.received == []
        after = stored_at + timedelta(seconds=LEASE + 1)
        await rounds(after)
        assert fake_rasa.received == [(conversation.uid, "保单查询")]
        # answered once: later rounds owe nothing more
        await rounds(after + timedelta(minutes=5))
        assert fake_rasa.received == [(conversation.uid, "保单查询")]
        messages = await alive[0].messages_after(conversation.id)
        assert [(m["sender"], m["text"]) for m in messages] == [
            ("customer", "保单查询"),
            ("bot", "echo: 保单查询"),
        ]
    finally:
        for console in consoles:
            await console.close()
