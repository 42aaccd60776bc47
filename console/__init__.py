"""The staff's side: the agents' socket.io namespace, the HTTP API and the pages
for agents, supervisors, admins and trainers. It stands on `desk` alone and never
on the channels."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import socketio
from aiohttp import web

from console import (
    admin,
    analytics_api,
    analytics_pages,
    api,
    audit_pages,
    casework_api,
    casework_pages,
    documents,
    inbox_api,
    inbox_pages,
    models_api,
    models_pages,
    pages,
    people_api,
    training_api,
    training_pages,
    training_stories,
    wallboard,
)
from console.agents import AgentConsole
from console.keys import (
    deployments_key,
    jobs_key,
    registry_key,
    service_key,
    sessions_key,
    settings_key,
    tokens_key,
    trusted_proxies_key,
)
from console.trainers import TrainerConsole
from desk.addresses import trusted_networks
from desk.conversations import ConversationService
from desk.rasa import RasaClient
from desk.settings import Settings
from desk.sign_in import Tokens
from desk.training.deploy import Deployments
from desk.training.jobs import TrainingJobs
from desk.training.project import Project
from desk.training.registry import ModelRegistry

log = logging.getLogger(__name__)

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
    trainers = install_models(app, sio, service, settings, tokens)
    agents.also_recheck.append(trainers.recheck)
    wallboard.install(app, agents, settings)
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
        models_api.routes,
        models_pages.routes,
        audit_pages.routes,
        analytics_api.routes,
        analytics_pages.routes,
        wallboard.routes,
    ):
        app.add_routes(table)
    return agents


def install_models(
    app: web.Application,
    sio: socketio.AsyncServer,
    service: ConversationService,
    settings: Settings,
    tokens: Tokens,
) -> TrainerConsole:
    """The trainers' models: the registry, training jobs pushed live on the
    `/trainers` namespace (returned), deployments through the bot's Rasa client (whose gate holds
    customers' turns during a swap), and the keeper that puts the production model
    back on a Rasa process that restarted with another."""
    registry = ModelRegistry(service.sessions, Path(settings.model_registry_dir))
    trainers = TrainerConsole(service.sessions, tokens, settings.console_origins())
    sio.register_namespace(trainers)
    project = Project(Path(settings.training_project_dir))
    jobs = TrainingJobs(
        service.sessions,
        registry,
        project,
        settings.finetune_epoch_fraction,
        changed=trainers.job_changed,
    )
    trainers.jobs = jobs
    if not isinstance(service.bot, RasaClient):
        raise TypeError("the models need the bot's Rasa client")
    deployments = Deployments(service.sessions, registry, service.bot, settings.rasa_url_list())
    app[registry_key], app[jobs_key], app[deployments_key] = registry, jobs, deployments

    async def keep_models(app: web.Application) -> AsyncIterator[None]:
        await registry.adopt_baseline(Path(settings.rasa_model), project)
        keeper = (
            asyncio.create_task(_keep_models(deployments, jobs, settings.housekeeping_seconds))
            if settings.housekeeping_seconds
            else None
        )
        yield
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await jobs.stop()

    app.cleanup_ctx.append(keep_models)
    return trainers


async def _keep_models(deployments: Deployments, jobs: TrainingJobs, interval: float) -> None:
    """Every housekeeping round: Rasa on the production model, stale jobs failed."""
    while True:
        try:
            await deployments.reconcile()
            await jobs.expire_stale()
        except Exception:  # noqa: BLE001 - one failed round must not stop the next
            log.exception("keeping the models failed")
        await asyncio.sleep(interval)
