"""What every figure's query body shares: a range of whole days in a time zone (China
time by default), the filters by team and channel, who may read the figures, and how
ratios and unknown filter values are answered (see docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.errors import DeskError
from desk.inputs import Body
from store.models import Agent, AgentRole, Team

READERS = (AgentRole.SUPERVISOR, AgentRole.ADMIN)
CHANNELS = ("web", "wechat", "telegram", "app")
# The widest range one request may ask for (a season and a little more).
MAX_DAYS = 92

Name = Annotated[str, Field(min_length=1, max_length=32)]


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
    """A range, optionally of one team's or one channel's conversations."""

    team: Name | None = None
    channel: Name | None = None


def check_reader(agent: Agent) -> None:
    if agent.role not in READERS:
        raise DeskError("forbidden", "Only supervisors and admins see these figures.", 403)


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


async def check_filters(session: AsyncSession, query: FilteredQuery) -> None:
    """Unknown filter values are refused, not answered with zeros."""
    query.zone()
    if query.channel is not None and query.channel not in CHANNELS:
        raise DeskError("unknown_channel", f"There is no channel {query.channel!r}.", 400)
    if query.team is not None and (
        await session.scalar(select(Team.id).where(Team.code == query.team)) is None
    ):
        raise DeskError("unknown_team", f"There is no team {query.team!r}.", 400)


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
