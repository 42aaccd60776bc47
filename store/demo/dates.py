"""The demo data's calendar: the reference date every date is relative to (never
the clock), Beijing time, and the date arithmetic the other parts share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime

REFERENCE_DATE = date(2026, 11, 1)
""""Today" for the demo data: every date is relative to it, never to the clock."""

CST = timezone(timedelta(hours=8), "CST")
# Everything in the demo data happened before the reference date began in Beijing.
AS_OF = datetime.combine(REFERENCE_DATE, dtime(0), tzinfo=CST).astimezone(UTC)
# Claims submitted this recently may still be open.
RECENT = timedelta(days=10)


def add_years(day: date, years: int) -> date:
    """The same day `years` later (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def beijing_time(day: date, hour: int, minute: int) -> datetime:
    """A Beijing wall-clock time on `day`, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST).astimezone(UTC)


def born_years_ago(age_years: float) -> date:
    """The birth date of someone `age_years` old on the reference date."""
    return REFERENCE_DATE - timedelta(days=int(age_years * 365.25))
