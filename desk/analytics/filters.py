"""The figures' filters: which each family of figures takes, the values each may have,
and the conditions they put on the rollups' rows (see docs/metrics.md, "Filters").

A filter keeps the rows with any of its values; several filters keep the rows that
pass them all. A filter a figure cannot split by is refused (400 `bad_filter`), and
so is a value that names nothing (`unknown_channel`, `unknown_team`, ...): a typo
answered with zeros would read as a quiet day."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.analytics.ranges import ANSWERING, CHANNELS, FILTERS, FilteredQuery
from desk.analytics.rollups import refresh
from desk.analytics.sessions import SMALL_TALK
from desk.analytics.tags import TAGS, tagged_customers
from desk.clock import now
from desk.errors import DeskError
from desk.settings import get_settings
from desk.training.project import Project, YamlFile
from store.models import Agent, Conversation, Team

LANGUAGES = ("zh", "en")

# The filters each family of figures takes.
FAMILIES: dict[str, tuple[str, ...]] = {
    "queue": ("channel", "team", "agent", "language", "intent", "tag"),
    "bot": ("channel", "language", "intent", "tag"),
    "resolution": ("channel", "agent", "language", "intent", "tag"),
    "outcome": ("channel", "team", "agent", "language", "intent", "tag"),
    "contacts": ("channel", "team", "language", "intent", "tag"),
    "agents": ("team", "agent"),
    "claims": (),
    "export": FILTERS,
}
NAMES = {
    "queue": "Queue figures",
    "bot": "Bot figures",
    "resolution": "Resolution figures",
    "outcome": "Outcome figures",
    "contacts": "Contact figures",
    "agents": "Agent figures",
    "claims": "Claims figures",
    "export": "The export",
}


@dataclass(frozen=True)
class Filters:
    """A query's filters, checked: the agents' ids for their usernames, and the
    conversations of the customers with any of the tags asked for (the customers
    read once, when the filters are checked)."""

    query: FilteredQuery
    agent_ids: tuple[int, ...] = ()
    tagged: Select[Any] | None = None

    def on(self, conversation: Any, **columns: Any) -> list[ColumnElement[bool]]:
        """The conditions on a rollup table whose column for each filter is named
        (`intent=SessionFact.topic`, ...), `conversation` its conversation id. A
        filter read some other way names a function of its values instead."""
        found: list[ColumnElement[bool]] = []
        for name, values in self.query.chosen().items():
            if name == "tag":
                found.append(conversation.in_(self.tagged))
                continue
            # A filter the family takes but this table cannot split by is a bug here.
            assert name in columns, f"no column for the {name} filter"
            chosen = self.agent_ids if name == "agent" else values
            column = columns[name]
            found.append(column(chosen) if callable(column) else column.in_(chosen))
        return found


def known_intents(project: Project | None = None) -> frozenset[str]:
    """The intents of the bot's domain (`bot/domain/*.yml`), and a FAQ topic
    (`faq/<topic>`) for each FAQ answer: the values a session's topic can have."""
    project = project or Project(Path(get_settings().training_project_dir))
    found: set[str] = set()
    for path in project.domain_files():
        document = YamlFile.load(path).document or {}
        for intent in document.get("intents") or []:
            found.add(next(iter(intent)) if isinstance(intent, dict) else str(intent))
        for response in document.get("responses") or {}:
            if str(response).startswith("utter_faq/"):
                found.add("faq/" + str(response).removeprefix("utter_faq/"))
    return frozenset(found)


def _refuse_unknown(name: str, values: tuple[str, ...], known: set[str] | frozenset[str]) -> None:
    wrong = [value for value in values if value not in known]
    if wrong:
        what = "an intent" if name == "intent" else f"a {name}"
        raise DeskError(f"unknown_{name}", f"{wrong[0]!r} is not {what} here.", 400)


async def checked(
    sessions: async_sessionmaker[AsyncSession], query: FilteredQuery, family: str
) -> Filters:
    """What every figure does before it reads: its filters checked for its family
    (400 if refused), and the rollups brought up to date."""
    async with sessions() as session:
        filters = await check_filters(session, query, family)
    await refresh(sessions)
    return filters


async def check_filters(
    session: AsyncSession, query: FilteredQuery, family: str = "queue"
) -> Filters:
    """The query's filters, checked for the family of figures asked: a filter it does
    not take, or a value that names nothing, is refused (400)."""
    query.zone()
    taken = FAMILIES[family]
    for name in query.chosen():
        if name not in taken:
            also = ", ".join(taken) if taken else "no filter"
            raise DeskError(
                "bad_filter", f"{NAMES[family]} take no {name} filter (they take: {also}).", 400
            )
    _refuse_unknown("channel", query.channel, set(CHANNELS))
    _refuse_unknown("language", query.language, set(LANGUAGES))
    _refuse_unknown("tag", query.tag, set(TAGS))
    if query.team:
        teams = set(await session.scalars(select(Team.code).where(Team.code.in_(query.team))))
        _refuse_unknown("team", query.team, teams)
    agent_ids: tuple[int, ...] = ()
    if query.agent:
        found = {
            username: agent_id
            for username, agent_id in await session.execute(
                select(Agent.username, Agent.id).where(Agent.username.in_(query.agent))
            )
        }
        _refuse_unknown("agent", query.agent, set(found))
        agent_ids = tuple(found[name] for name in query.agent)
    if query.intent:
        _refuse_unknown("intent", query.intent, known_intents())
    tagged = None
    if query.tag:
        customers = await _tagged(session, query.tag)
        tagged = select(Conversation.id).where(
            _among(Conversation.customer_id, customers, session.get_bind().dialect.name)
        )
    return Filters(query, agent_ids, tagged)


# The customers of each set of tags, read once per request: a trend computes its figure
# for every day with the same filters (see `one_reading`).
_READ: ContextVar[dict[tuple[str, ...], list[int]] | None] = ContextVar("tagged", default=None)


@asynccontextmanager
async def one_reading() -> AsyncIterator[None]:
    """Within it, the figures computed share one reading of the customers' tags."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


async def _tagged(session: AsyncSession, tags: tuple[str, ...]) -> list[int]:
    read = _READ.get()
    key = tuple(sorted(tags))
    if read is not None and key in read:
        return read[key]
    customers = await tagged_customers(session, tags, now())
    if read is not None:
        read[key] = customers
    return customers


def _among(column: Any, ids: list[int], dialect: str) -> ColumnElement[bool]:
    """`column` is one of `ids`, as one parameter however many they are (a season's
    tagged customers would pass the drivers' limit on parameters)."""
    if dialect == "postgresql":
        return column == any_(bindparam("tagged", ids, type_=ARRAY(Integer)))
    listed: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(json.dumps(ids))
    )
    return column.in_(listed)


def topics() -> list[str]:
    """The intents a bot session's topic can be: the domain's, small talk and the bare
    `faq` apart (a FAQ question's topic is its `faq/<topic>`)."""
    return sorted(known_intents() - SMALL_TALK - {"faq"})


async def choices(session: AsyncSession) -> dict[str, list[str]]:
    """Every value each filter may take, for the pages' multi-selects."""
    return {
        "channel": list(CHANNELS),
        "team": list(await session.scalars(select(Team.code).order_by(Team.id))),
        "agent": list(
            await session.scalars(
                select(Agent.username).where(Agent.role.in_(ANSWERING)).order_by(Agent.username)
            )
        ),
        "language": list(LANGUAGES),
        "intent": topics(),
        "tag": list(TAGS),
    }
