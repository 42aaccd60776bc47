"""The supervisors' figures over the JSON API (`/api/v1/analytics/...`): supervisors
and admins only. Each figure is defined in docs/metrics.md next to its query in
`desk.analytics`."""

from __future__ import annotations

from aiohttp import web

from console import api
from console.keys import sessions_key, settings_key
from desk.analytics.casework import casework_metrics
from desk.analytics.contacts import contacts_metrics
from desk.analytics.outcome import OutcomeQuery, outcome_metrics
from desk.analytics.queue import QueueQuery, Targets, queue_metrics
from desk.analytics.ranges import FilteredQuery, RangeQuery
from desk.inputs import read

routes = web.RouteTableDef()


@routes.get("/api/v1/analytics/queue", name="api_analytics_queue")
async def queue(request: web.Request) -> web.Response:
    """Service level, speed of answer and abandonment for `start`..`end` (days, in
    `tz`, China time by default), optionally of one `team` or `channel`."""
    reader = api.current_agent(request)
    settings = request.app[settings_key]
    query = read(QueueQuery, dict(request.query))
    targets = Targets(settings.service_level_target_seconds, settings.short_abandon_seconds)
    figures = await queue_metrics(request.app[sessions_key], reader, query, targets)
    return web.json_response(figures)


@routes.get("/api/v1/analytics/contacts", name="api_analytics_contacts")
async def contacts(request: web.Request) -> web.Response:
    """Contacts per channel, hour, team and language, and unique customers, for
    `start`..`end`, optionally of one `team` or `channel`."""
    reader = api.current_agent(request)
    query = read(FilteredQuery, dict(request.query))
    return web.json_response(await contacts_metrics(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/outcome", name="api_analytics_outcome")
async def outcome(request: web.Request) -> web.Response:
    """CSAT, the response rate and the mean score for `start`..`end`, optionally of
    one `team`, `channel` or `agent` (username)."""
    reader = api.current_agent(request)
    query = read(OutcomeQuery, dict(request.query))
    return web.json_response(await outcome_metrics(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/casework", name="api_analytics_casework")
async def casework(request: web.Request) -> web.Response:
    """Complaints, callbacks and follow-ups against their due dates for
    `start`..`end`, and the backlog overdue now."""
    reader = api.current_agent(request)
    query = read(RangeQuery, dict(request.query))
    return web.json_response(await casework_metrics(request.app[sessions_key], reader, query))
