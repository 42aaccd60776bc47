"""Typed application keys shared by the app's modules."""

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.addresses import Network
from desk.conversations import ConversationService
from desk.settings import Settings
from desk.sign_in import Tokens
from desk.training.deploy import Deployments
from desk.training.jobs import TrainingJobs
from desk.training.registry import ModelRegistry

settings_key = web.AppKey("settings", Settings)
sessions_key = web.AppKey("sessions", async_sessionmaker[AsyncSession])
service_key = web.AppKey("service", ConversationService)
tokens_key = web.AppKey("tokens", Tokens)
# `TRUSTED_PROXIES`, parsed once when the app starts.
trusted_proxies_key = web.AppKey("trusted_proxies", tuple[Network, ...])
# The trainers' models: the registry, its training jobs and its deployments.
registry_key = web.AppKey("registry", ModelRegistry)
jobs_key = web.AppKey("jobs", TrainingJobs)
deployments_key = web.AppKey("deployments", Deployments)
