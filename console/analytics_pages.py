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

from console.pages import render, require_role, signed_in
from desk.analytics.ranges import CHANNELS, READERS
from desk.analytics.trends import METRICS

routes = web.RouteTableDef()

DEFAULT_DAYS = 7
CHINA = ZoneInfo("Asia/Shanghai")


@routes.get("/console/analytics", name="analytics")
async def analytics_page(request: web.Request) -> web.StreamResponse:
    agent = await signed_in(request)
    require_role(agent, *READERS, request=request)
    today = datetime.now(CHINA).date()
    context = {
        "request": request,
        "defaults": {
            "start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
            "day": today.isoformat(),
        },
        "teams": ("general", "claims", "complaints"),
        "channels": CHANNELS,
        "metrics": list(METRICS),
    }
    return render(request, "analytics.html", context, agent=agent, scripts="analytics.")
