"""The trainers' workbench over the JSON API: intents and their examples, and the
bot's responses (`/api/v1/training/...`, trainers and admins only).

Bodies are the typed models of `desk.training.changes`; refusals are `DeskError`s in
the one JSON error shape, and a write against a version that is no longer current
answers 409 with what is there now under `current`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from console import api
from console.keys import sessions_key, settings_key
from desk.errors import error_body
from desk.inputs import Body, read
from desk.training import changes, examples, responses
from desk.training.project import Project, TrainingConflict
from store.models import Agent

routes = web.RouteTableDef()

INTENT = r"{name:[a-z][a-z0-9_]*(?:/[a-z0-9_]+)?}"
RESPONSE = r"{name:utter_[a-z0-9_]+(?:/[a-z0-9_]+)?}"


def project_of(request: web.Request) -> Project:
    return Project(Path(request.app[settings_key].training_project_dir))


def trainer(request: web.Request) -> Agent:
    agent = api.current_agent(request)
    changes.check_trainer(agent)
    return agent


def current_json(current: Any) -> dict[str, Any]:
    if isinstance(current, examples.IntentExamples):
        return changes.intent_json(current)
    if isinstance(current, responses.Response):
        return changes.response_json(current)
    return {}


async def answered(write: Awaitable[dict[str, Any]], status: int = 200) -> web.Response:
    """The write's answer, or 409 with the other trainer's current state."""
    try:
        body = await write
    except TrainingConflict as conflict:
        refusal: dict[str, Any] = {
            **error_body(conflict.code, conflict.message),
            "current": current_json(conflict.current),
        }
        return web.json_response(refusal, status=409)
    return web.json_response(body, status=status)


@routes.get("/api/v1/training/intents", name="api_training_intents")
async def intents(request: web.Request) -> web.Response:
    """Every intent with its counts per language; `?q=` also searches the examples."""
    trainer(request)
    project = project_of(request)
    summaries = await asyncio.to_thread(examples.list_intents, project)
    body: dict[str, Any] = {"intents": [summary.__dict__ for summary in summaries]}
    if query := request.query.get("q", "").strip():
        found = await asyncio.to_thread(examples.search, project, query)
        body["matches"] = [match.__dict__ for match in found]
    return web.json_response(body)


@routes.get(f"/api/v1/training/intents/{INTENT}", name="api_training_intent")
async def intent(request: web.Request) -> web.Response:
    trainer(request)
    name = request.match_info["name"]
    view = await asyncio.to_thread(examples.intent_examples, project_of(request), name)
    log = await changes.history(request.app[sessions_key], changes.INTENT, name)
    return web.json_response({**changes.intent_json(view), "changes": [row.json() for row in log]})


Edit = Callable[..., Awaitable[examples.Saved]]


async def _example_write(
    request: web.Request, edit: Edit, model: type[Body], status: int = 200
) -> web.Response:
    agent = trainer(request)
    body: Any = read(model, await api.json_body(request))

    async def write() -> dict[str, Any]:
        saved = await edit(
            request.app[sessions_key], project_of(request), agent, request.match_info["name"], body
        )
        return changes.saved_json(saved)

    return await answered(write(), status)


@routes.post(f"/api/v1/training/intents/{INTENT}/examples", name="api_training_add")
async def add_example(request: web.Request) -> web.Response:
    return await _example_write(request, changes.add_example, changes.NewExample, 201)


@routes.patch(f"/api/v1/training/intents/{INTENT}/examples", name="api_training_edit")
async def edit_example(request: web.Request) -> web.Response:
    return await _example_write(request, changes.edit_example, changes.ExampleEdit)


@routes.delete(f"/api/v1/training/intents/{INTENT}/examples", name="api_training_delete")
async def delete_example(request: web.Request) -> web.Response:
    return await _example_write(request, changes.delete_example, changes.ExampleRemoval)


@routes.post(f"/api/v1/training/intents/{INTENT}/examples/move", name="api_training_move")
async def move_example(request: web.Request) -> web.Response:
    return await _example_write(request, changes.move_example, changes.ExampleMove)


@routes.get("/api/v1/training/responses", name="api_training_responses")
async def responses_list(request: web.Request) -> web.Response:
    """Every response, both languages side by side, the FAQ answers first."""
    trainer(request)
    found = await asyncio.to_thread(responses.list_responses, project_of(request))
    return web.json_response({"responses": [changes.response_json(r) for r in found]})


@routes.put(f"/api/v1/training/responses/{RESPONSE}", name="api_training_edit_response")
async def edit_response(request: web.Request) -> web.Response:
    agent = trainer(request)
    body = read(changes.ResponseEdit, await api.json_body(request))

    async def write() -> dict[str, Any]:
        saved = await changes.edit_response(
            request.app[sessions_key], project_of(request), agent, request.match_info["name"], body
        )
        return changes.response_json(saved)

    return await answered(write())
