"""The supervisors' figures over the JSON API (`/api/v1/analytics/...`): supervisors
and admins only. Each figure is defined in docs/metrics.md next to its query in
`desk.analytics`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from console import api
from console.keys import sessions_key, settings_key
from desk.analytics.agents import agent_metrics
from desk.analytics.bot import bot_metrics
from desk.analytics.casework import casework_metrics
from desk.analytics.claims import claims_metrics
from desk.analytics.contacts import contacts_metrics
from desk.analytics.drilldown import DrillQuery, drilldown
from desk.analytics.export import conversations_csv
from desk.analytics.forms import form_metrics
from desk.analytics.funnel import funnel
from desk.analytics.limits import within
from desk.analytics.outcome import OutcomeQuery, outcome_metrics
from desk.analytics.queue import QueueQuery, Targets, queue_metrics
from desk.analytics.ranges import FILTERS, FilteredQuery, RangeQuery
from desk.analytics.resolution import resolution_metrics
from desk.analytics.staffing import StaffingQuery, staffing
from desk.analytics.trends import TrendQuery, trend
from desk.errors import DeskError
from desk.inputs import Body, read

routes = web.RouteTableDef()

Figures = Callable[..., Awaitable[Any]]

# Each figure's route: the query body it reads, its query, and whether it takes the
# service level's targets (the console's settings).
FIGURES: dict[str, tuple[type[Body], Figures, bool]] = {
    "queue": (QueueQuery, queue_metrics, True),
    "agents": (QueueQuery, agent_metrics, True),
    "bot": (QueueQuery, bot_metrics, False),
    "resolution": (QueueQuery, resolution_metrics, False),
    "claims": (QueueQuery, claims_metrics, False),
    "contacts": (FilteredQuery, contacts_metrics, False),
    "outcome": (OutcomeQuery, outcome_metrics, False),
    "casework": (RangeQuery, casework_metrics, False),
    "funnel": (QueueQuery, funnel, False),
    "forms": (QueueQuery, form_metrics, False),
    "trends": (TrendQuery, trend, True),
    "drilldown": (DrillQuery, drilldown, True),
    "staffing": (StaffingQuery, staffing, False),
}


def _targets(request: web.Request) -> Targets:
    settings = request.app[settings_key]
    return Targets(settings.service_level_target_seconds, settings.short_abandon_seconds)


def params(request: web.Request) -> dict[str, Any]:
    """The query string, each filter with all its values (`?channel=web&channel=app`,
    or `?channel=web,app`), any other parameter with its first."""
    return {
        key: request.query.getall(key) if key in FILTERS else request.query[key]
        for key in request.query
    }


def _route(name: str, body: type[Body], figures: Figures, with_targets: bool) -> None:
    async def answer(request: web.Request) -> web.Response:
        reader = api.current_agent(request)
        query = read(body, params(request))
        extra = (_targets(request),) if with_targets else ()
        try:
            found = await within(
                request.app[settings_key].analytics_timeout_seconds,
                figures(request.app[sessions_key], reader, query, *extra),
            )
        except TimeoutError:
            raise DeskError(
                "too_slow", "That took too long to read; ask for fewer days.", 503
            ) from None
        return web.json_response(found)

    routes.get(f"/api/v1/analytics/{name}", name=f"api_analytics_{name}")(answer)


for _name, (_body, _figures, _with_targets) in FIGURES.items():
    _route(_name, _body, _figures, _with_targets)


@routes.get("/api/v1/analytics/conversations.csv", name="api_analytics_export")
async def conversations_export(request: web.Request) -> web.StreamResponse:
    """One row per conversation created in `start`..`end` with what the metrics read
    of it, streamed as UTF-8 CSV (with a byte order mark)."""
    reader = api.current_agent(request)
    query = read(QueueQuery, params(request))
    lines = await conversations_csv(request.app[sessions_key], reader, query)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": (
                f'attachment; filename="conversations-{query.start}-{query.end}.csv"'
            ),
        }
    )
    await response.prepare(request)
    async for chunk in lines:
        await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response
