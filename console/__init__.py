"""The staff's side: the agents' socket.io namespace, the HTTP API and the pages
for agents, supervisors, admins and trainers. It stands on `desk` alone and never
on the channels."""

from __future__ import annotations

from pathlib import Path

import socketio
from aiohttp import web

from console import (
    admin,
    api,
    casework_api,
    casework_pages,
    documents,
    inbox_api,
    inbox_pages,
    pages,
    people_api,
    training_api,
    training_pages,
    training_stories,
)
from console.agents import AgentConsole
from console.keys import (
    service_key,
    sessions_key,
    settings_key,
    tokens_key,
    trusted_proxies_key,
)
from desk.addresses import trusted_networks
from desk.conversations import ConversationService
from desk.settings import Settings
from desk.sign_in import Tokens

HERE = Path(__file__).resolve().parent
ASSETS: list[Path] = [HERE / "static"]
TEMPLATES: list[Path] = [HERE / "templates"]
MIDDLEWARES = [api.api_errors]

__all__ = ["ASSETS", "MIDDLEWARES", "TEMPLATES", "install"]


def install(
    app: web.Application,
    sio: socketio.AsyncServer,
    service: ConversationService,
    settings: Settings,
) -> AgentConsole:
    """The agents' namespace (the service's hub) and every staff route."""
    tokens = Tokens(settings.secret_key, settings.token_max_age_seconds)
    app[settings_key] = settings
    app[sessions_key] = service.sessions
    app[tokens_key] = tokens
    app[service_key] = service
    app[trusted_proxies_key] = trusted_networks(settings.trusted_proxies)
    agents = AgentConsole(service, tokens, settings.console_origins())
    service.hub = agents
    sio.register_namespace(agents)
    for table in (
        pages.routes,
        api.routes,
        people_api.routes,
        casework_api.routes,
        casework_pages.routes,
        admin.routes,
        documents.routes,
        training_api.routes,
        training_pages.routes,
        training_stories.routes,
        inbox_api.routes,
        inbox_pages.routes,
    ):
        app.add_routes(table)
    return agents
