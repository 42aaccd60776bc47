"""What every figure's query body shares: a range of whole days in a time zone (China
time by default), the filters (several values each: see `desk.analytics.filters`),
who may read the figures, and how ratios are answered (see docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, model_validator
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from desk.errors import DeskError
from desk.inputs import Body
from store.models import Agent, AgentRole

READERS = (AgentRole.SUPERVISOR, AgentRole.ADMIN)
# Who takes conversations (admins and trainers signed in do not).
ANSWERING = (AgentRole.AGENT, AgentRole.SUPERVISOR)
CHANNELS = ("web", "wechat", "telegram", "app")
# The widest range one request may ask for (a season and a little more).
MAX_DAYS = 92

Name = Annotated[str, Field(min_length=1, max_length=32)]
# The filters every figure's query may carry, in the order answers list them.
FILTERS = ("channel", "team", "agent", "language", "intent", "tag")
# The most values one filter takes: a multi-select of every channel, team or tag.
MAX_VALUES = 50


def _values(value: Any) -> Any:
    """A filter's values: a query parameter repeated (`?channel=web&channel=wechat`),
    each of which may list several separated by commas; blanks and repeats dropped."""
    if value is None:
        return ()
    found: list[str] = []
    for item in [value] if isinstance(value, str) else value:
        if not isinstance(item, str):
            raise ValueError("not text")
        for part in item.split(","):
            if part.strip() and part.strip() not in found:
                found.append(part.strip())
    return tuple(found)


Values = Annotated[
    tuple[Annotated[str, Field(max_length=128)], ...],
    BeforeValidator(_values),
    Field(max_length=MAX_VALUES),
]


class RangeQuery(Body):
    """`start` and `end` are days (both included) in `tz`, China time by default."""

    start: date
    end: date
    tz: Annotated[str, Field(min_length=1, max_length=64)] = "Asia/Shanghai"
    refusals = {
        "start": ("bad_range", "start and end are days, YYYY-MM-DD."),
        "end": ("bad_range", "start and end are days, YYYY-MM-DD."),
    }

    @model_validator(mode="after")
    def _in_order(self) -> RangeQuery:
        if self.end < self.start:
            raise DeskError("bad_range", "end is before start.", 400)
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise DeskError("bad_range", f"A range is at most {MAX_DAYS} days.", 400)
        return self

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise DeskError("bad_timezone", f"There is no time zone {self.tz!r}.", 400) from None

    def bounds(self) -> tuple[datetime, datetime]:
        """The range as instants: from the start day's midnight to the end day's next."""
        zone = self.zone()
        first = datetime.combine(self.start, time(), zone)
        return first, datetime.combine(self.end + timedelta(days=1), time(), zone)

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The bounds in UTC, to compare with the store's times: SQLite keeps them as
        text without their zone."""
        start, end = self.bounds()
        return start.astimezone(UTC), end.astimezone(UTC)


class FilteredQuery(RangeQuery):
    """A range, optionally narrowed by each filter to any of its values (and by every
    filter given): which each figure takes, and what it means there, is in
    `desk.analytics.filters` and docs/metrics.md."""

    channel: Values = ()
    team: Values = ()
    agent: Values = ()
    language: Values = ()
    intent: Values = ()
    tag: Values = ()
    refusals = {
        **RangeQuery.refusals,
        **{
            name: ("bad_filter", f"{name}: at most {MAX_VALUES} values, each a name.")
            for name in FILTERS
        },
    }

    def chosen(self) -> dict[str, list[str]]:
        """The filters given, with their values."""
        return {name: list(getattr(self, name)) for name in FILTERS if getattr(self, name)}

    def echo(self, *alone: str) -> dict[str, Any]:
        """How an answer names its filters: the `alone` ones each by itself (null
        unless exactly one value, as answers named them before filters took several),
        and all of them with their values (`filters`)."""
        return {**{name: one(getattr(self, name)) for name in alone}, "filters": self.chosen()}


def one(values: tuple[str, ...]) -> str | None:
    return values[0] if len(values) == 1 else None


def whole_hours(zone: ZoneInfo, first: date, last: date) -> bool:
    """Whether the days from `first` to `last` begin and end on whole hours of UTC in
    `zone`: then a count per UTC hour is a count per hour (and day) there."""
    return all(
        (datetime.combine(day, time(), zone).utcoffset() or timedelta()) % timedelta(hours=1)
        == timedelta()
        for day in (first, last + timedelta(days=1))
    )


# Time arithmetic done by the store (a season's rows are not parsed one by one):
# SQLite keeps times as text in UTC, PostgreSQL as timestamps.


def epoch_seconds(session: AsyncSession, column: Any) -> Any:
    """A stored time as seconds since the epoch."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


def seconds_between(session: AsyncSession, earlier: Any, later: Any) -> Any:
    """Seconds from one stored time to another."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def hour_of(session: AsyncSession, column: Any) -> Any:
    """The hour (UTC) a stored time falls in: "YYYY-MM-DD HH" on SQLite, a timestamp
    on PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 13)
    return func.date_trunc("hour", column)


def check_reader(agent: Agent) -> None:
    if agent.role not in READERS:
        raise DeskError("forbidden", "Only supervisors and admins see these figures.", 403)


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


# The most ids one query names: PostgreSQL's driver takes at most 32,767 parameters.
IN_CHUNK = 5_000


def chunks(ids: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(ids)
    for first in range(0, len(ordered), IN_CHUNK):
        yield ordered[first : first + IN_CHUNK]


async def rows_in(
    session: AsyncSession, ids: Iterable[Any], build: Callable[[list[Any]], Any]
) -> list[Any]:
    """The rows of `build(part)` for the ids a part at a time (a query naming a
    season's conversations one by one would pass the driver's limit)."""
    found: list[Any] = []
    for part in chunks(ids):
        found.extend((await session.execute(build(part))).all())
    return found


async def scalars_in(
    session: AsyncSession, ids: Iterable[Any], build: Callable[[list[Any]], Any]
) -> list[Any]:
    found: list[Any] = []
    for part in chunks(ids):
        found.extend((await session.scalars(build(part))).all())
    return found
