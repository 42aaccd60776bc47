"""The HTTP API and pages for casework: customer 360, callbacks, follow-ups, complaints."""

from aiohttp import web

routes = web.RouteTableDef()
