"""The supervisors' figures over the JSON API (`/api/v1/analytics/...`): supervisors
and admins only. Each figure is defined in docs/metrics.md next to its query in
`desk.analytics`."""

from __future__ import annotations

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
from desk.analytics.funnel import funnel
from desk.analytics.outcome import OutcomeQuery, outcome_metrics
from desk.analytics.queue import QueueQuery, Targets, queue_metrics
from desk.analytics.ranges import FilteredQuery, RangeQuery
from desk.analytics.resolution import resolution_metrics
from desk.analytics.staffing import StaffingQuery, staffing
from desk.analytics.trends import TrendQuery, trend
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


@routes.get("/api/v1/analytics/agents", name="api_analytics_agents")
async def agents(request: web.Request) -> web.Response:
    """Per agent and per team: time online and away, handling time, occupancy,
    concurrency, handled, handle time and service level, for `start`..`end`."""
    reader = api.current_agent(request)
    settings = request.app[settings_key]
    query = read(QueueQuery, dict(request.query))
    targets = Targets(settings.service_level_target_seconds, settings.short_abandon_seconds)
    return web.json_response(await agent_metrics(request.app[sessions_key], reader, query, targets))


@routes.get("/api/v1/analytics/bot", name="api_analytics_bot")
async def bot(request: web.Request) -> web.Response:
    """Bot sessions for `start`..`end`: containment, durable containment, handoffs by
    reason, the fallback rate and the top intents, optionally of one `channel`."""
    reader = api.current_agent(request)
    query = read(QueueQuery, dict(request.query))
    return web.json_response(await bot_metrics(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/resolution", name="api_analytics_resolution")
async def resolution(request: web.Request) -> web.Response:
    """First-contact resolution of the conversations resolved in `start`..`end`."""
    reader = api.current_agent(request)
    query = read(QueueQuery, dict(request.query))
    return web.json_response(await resolution_metrics(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/claims", name="api_analytics_claims")
async def claims(request: web.Request) -> web.Response:
    """Claims filed in `start`..`end`: the share filed online, first-time success,
    the cycle from filing to payment, and advance payments."""
    reader = api.current_agent(request)
    query = read(QueueQuery, dict(request.query))
    return web.json_response(await claims_metrics(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/staffing", name="api_analytics_staffing")
async def staffing_plan(request: web.Request) -> web.Response:
    """Agents needed per half hour of `day` by Erlang C (`level` within `seconds`, or
    `preset=80/20|seed`), beside the agents online then."""
    reader = api.current_agent(request)
    query = read(StaffingQuery, dict(request.query))
    return web.json_response(await staffing(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/conversations.csv", name="api_analytics_export")
async def conversations_export(request: web.Request) -> web.StreamResponse:
    """One row per conversation created in `start`..`end` with what the metrics read
    of it, streamed as UTF-8 CSV (with a byte order mark)."""
    reader = api.current_agent(request)
    query = read(QueueQuery, dict(request.query))
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


@routes.get("/api/v1/analytics/funnel", name="api_analytics_funnel")
async def bot_funnel(request: web.Request) -> web.Response:
    """Bot sessions begun in `start`..`end` per topic: handed over, queued, answered,
    resolved, and the branches to a callback, a follow-up or a complaint."""
    reader = api.current_agent(request)
    query = read(QueueQuery, dict(request.query))
    return web.json_response(await funnel(request.app[sessions_key], reader, query))


@routes.get("/api/v1/analytics/trends", name="api_analytics_trends")
async def trends(request: web.Request) -> web.Response:
    """One `metric` day by day over `start`..`end`, beside the period just before."""
    reader = api.current_agent(request)
    settings = request.app[settings_key]
    query = read(TrendQuery, dict(request.query))
    targets = Targets(settings.service_level_target_seconds, settings.short_abandon_seconds)
    return web.json_response(await trend(request.app[sessions_key], reader, query, targets))


@routes.get("/api/v1/analytics/drilldown", name="api_analytics_drilldown")
async def drill(request: web.Request) -> web.Response:
    """The conversations behind one figure (`of=queue|bot`, `part`), each with a link
    to its transcript."""
    reader = api.current_agent(request)
    settings = request.app[settings_key]
    query = read(DrillQuery, dict(request.query))
    targets = Targets(settings.service_level_target_seconds, settings.short_abandon_seconds)
    return web.json_response(await drilldown(request.app[sessions_key], reader, query, targets))


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
