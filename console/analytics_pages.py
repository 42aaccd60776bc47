"""The supervisors' analytics page (`/console/analytics`): the figures of a range
(queue, bot, agents, resolution, satisfaction, claims) as tiles that drill down to
their conversations, a trend chart beside the period before, the bot funnel and the
day's staffing by Erlang C, each chart with a table of the same numbers beside it.
Supervisors and admins. The page's script reads the analytics API (same origin,
the console's session); see docs/metrics.md for every figure."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from console.keys import sessions_key
from console.pages import render, require_role, signed_in
from desk.analytics.filters import FAMILIES, choices
from desk.analytics.ranges import FILTERS, READERS
from desk.analytics.trends import METRICS, family

routes = web.RouteTableDef()

DEFAULT_DAYS = 7
# The family of figures each API the page reads is (the filters it takes).
APIS = {
    "queue": "queue",
    "bot": "bot",
    "funnel": "bot",
    "forms": "bot",
    "resolution": "resolution",
    "outcome": "outcome",
    "contacts": "contacts",
    "agents": "agents",
    "claims": "claims",
    "export": "export",
}
CHINA = ZoneInfo("Asia/Shanghai")


@routes.get("/console/analytics", name="analytics")
async def analytics_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, *READERS, request=request)
    today = datetime.now(CHINA).date()
    async with request.app[sessions_key]() as session:
        values = await choices(session)
    context = {
        "request": request,
        "defaults": {
            "start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
            "day": today.isoformat(),
        },
        "filters": FILTERS,
        "choices": values,
        "metrics": list(METRICS),
        # What the script sends each API: only the filters its figures take.
        "families": {
            "apis": {api: list(FAMILIES[name]) for api, name in APIS.items()},
            "metrics": {metric: list(FAMILIES[family(metric)]) for metric in METRICS},
        },
    }
    return render(request, "analytics.html", context, agent=agent, scripts="analytics.")
