"""People: the admin page for agents and teams, and each agent's own settings."""

from aiohttp import web

routes = web.RouteTableDef()
