"""The trainers' models over the JSON API (`/api/v1/training/jobs`, `/models`): start,
follow and cancel a training; the registry with each model's evaluation beside
production's; deploy, roll back, and a supervisor's or admin's override of the gate.

Trainers and admins train and deploy; supervisors may read the registry and
override the gate, nothing else. Nothing here returns a file path or Rasa's token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console import api
from console.keys import deployments_key, jobs_key, registry_key
from desk.errors import DeskError
from desk.inputs import path_id, read
from desk.training.deploy import OVERRIDERS, Override, deployment_view
from desk.training.jobs import TRAINERS, JobStart, job_view
from desk.training.registry import model_view
from store.models import Agent

routes = web.RouteTableDef()

# Who may read the registry: trainers and admins, and supervisors (for an override).
READERS = (*TRAINERS, *OVERRIDERS)


def allowed(request: web.Request, roles: tuple, what: str) -> Agent:
    agent = api.current_agent(request)
    if agent.role not in roles:
        raise DeskError("forbidden", f"You may not {what}.", 403)
    return agent


def _id(request: web.Request, what: str) -> int:
    return path_id(request.match_info["id"], what)


@routes.get("/api/v1/training/jobs", name="api_training_jobs")
async def jobs(request: web.Request) -> web.Response:
    allowed(request, TRAINERS, "see training jobs")
    found = await request.app[jobs_key].recent()
    return web.json_response({"jobs": [job_view(job) for job in found]})


@routes.post("/api/v1/training/jobs", name="api_training_start")
async def start(request: web.Request) -> web.Response:
    agent = allowed(request, TRAINERS, "train the bot")
    body = read(JobStart, await api.json_body(request))
    job = await request.app[jobs_key].start(agent, body)
    return web.json_response(job_view(job), status=202)


@routes.get(r"/api/v1/training/jobs/{id}", name="api_training_job")
async def job(request: web.Request) -> web.Response:
    allowed(request, TRAINERS, "see training jobs")
    found = await request.app[jobs_key].get(_id(request, "training job"))
    return web.json_response(job_view(found, with_log=True))


@routes.get(r"/api/v1/training/jobs/{id}/log", name="api_training_job_log")
async def job_log(request: web.Request) -> web.Response:
    allowed(request, TRAINERS, "see training jobs")
    found = await request.app[jobs_key].get(_id(request, "training job"))
    return web.json_response({"id": found.id, "log": found.log or ""})


@routes.post(r"/api/v1/training/jobs/{id}/cancel", name="api_training_cancel")
async def cancel(request: web.Request) -> web.Response:
    agent = allowed(request, TRAINERS, "cancel trainings")
    found = await request.app[jobs_key].cancel(agent, _id(request, "training job"))
    return web.json_response(job_view(found))


@routes.get("/api/v1/training/models", name="api_training_models")
async def models(request: web.Request) -> web.Response:
    allowed(request, READERS, "see the models")
    found = await request.app[registry_key].models()
    history = await request.app[deployments_key].history()
    views = []
    for model in found:
        view = model_view(model)
        # The list stays small: each model's evaluation is on its own page.
        view["metrics"] = summary(view["metrics"])
        views.append(view)
    return web.json_response(
        {"models": views, "deployments": [deployment_view(row) for row in history]}
    )


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Accuracy of both models over all texts, and the gate."""
    found: dict[str, Any] = {"gate": metrics.get("gate"), "error": metrics.get("error")}
    for who in ("candidate", "production"):
        overall = (metrics.get(who) or {}).get("overall") or {}
        if overall:
            found[who] = {lang: overall[lang]["accuracy"] for lang in overall}
    return found


@routes.get(r"/api/v1/training/models/{id}", name="api_training_model")
async def model(request: web.Request) -> web.Response:
    allowed(request, READERS, "see the models")
    found = await request.app[registry_key].get(_id(request, "model"))
    return web.json_response(model_view(found))


@routes.post(r"/api/v1/training/models/{id}/deploy", name="api_training_deploy")
async def deploy(request: web.Request) -> web.Response:
    agent = allowed(request, TRAINERS, "deploy models")
    row = await request.app[deployments_key].deploy(agent, _id(request, "model"))
    return web.json_response(deployment_view(row))


@routes.post(r"/api/v1/training/models/{id}/override", name="api_training_override")
async def override(request: web.Request) -> web.Response:
    agent = allowed(request, OVERRIDERS, "override the gate")
    body = read(Override, await api.json_body(request))
    row = await request.app[deployments_key].deploy(agent, _id(request, "model"), body.reason)
    return web.json_response(deployment_view(row))


@routes.post(r"/api/v1/training/models/{id}/rollback", name="api_training_rollback")
async def rollback(request: web.Request) -> web.Response:
    agent = allowed(request, TRAINERS, "roll models back")
    row = await request.app[deployments_key].rollback(agent, _id(request, "model"))
    return web.json_response(deployment_view(row))
