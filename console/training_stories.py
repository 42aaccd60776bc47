"""Test stories from conversations, for trainers and admins: the story of a conversation
(masked, with the trainers' labels) to read first, and saved under `bot/tests/` with one
click, over the JSON API (`/api/v1/training/conversations/<id>/story`) and as a page
(`/console/conversations/<id>/story`)."""

from __future__ import annotations

from aiohttp import web

from console.i18n import t
from console.keys import service_key, sessions_key
from console.pages import check_csrf, page_language, render
from console.training_api import project_of, trainer
from console.training_pages import trainer_page
from desk.errors import DeskError
from desk.inputs import path_id
from desk.rasa import BotUnavailable
from desk.training import stories
from store.models import Agent

routes = web.RouteTableDef()

API = "/api/v1/training/conversations/{id}/story"
PAGE = "/console/conversations/{id}/story"


async def _story(request: web.Request) -> stories.Story:
    service = request.app[service_key]
    try:
        return await stories.conversation_story(
            request.app[sessions_key], service.bot, path_id(request.match_info["id"])
        )
    except BotUnavailable as exc:
        raise DeskError("bot_unavailable", f"Rasa's tracker could not be read: {exc}", 503) from exc


@routes.get(API, name="api_training_story")
async def story(request: web.Request) -> web.Response:
    trainer(request)
    found = await _story(request)
    saved = found.name in stories.saved_names(project_of(request))
    return web.json_response(
        {"name": found.name, "steps": found.steps, "yaml": found.yaml(), "saved": saved}
    )


@routes.post(API, name="api_training_save_story")
async def save_story(request: web.Request) -> web.Response:
    agent = trainer(request)
    found = await _story(request)
    file, replaced = await stories.save_story(
        request.app[sessions_key], project_of(request), agent, found
    )
    return web.json_response({"name": found.name, "file": file, "replaced": replaced}, status=201)


async def _page(
    request: web.Request, agent: Agent, flash: str | None = None, status: int = 200
) -> web.StreamResponse:
    lang = page_language(request, agent)
    try:
        found: stories.Story | None = await _story(request)
        problem = None
    except DeskError as refusal:
        if refusal.status == 404:
            raise web.HTTPNotFound(text=refusal.message) from None
        found, problem = None, t(lang, f"training.story.error.{refusal.code}")
    context = {
        "request": request,
        "conversation_id": request.match_info["id"],
        "story": found,
        "problem": problem,
        "flash": flash,
        "file": str(stories.STORIES_FILE),
    }
    return render(request, "training_story.html", context, status=status, agent=agent)


@routes.get(PAGE, name="training_story")
async def story_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, await trainer_page(request))


@routes.post(PAGE, name="training_story_form")
async def story_form(request: web.Request) -> web.StreamResponse:
    agent = await trainer_page(request)
    await check_csrf(request)
    lang = page_language(request, agent)
    try:
        found = await _story(request)
    except DeskError as refusal:
        if refusal.status == 404:
            raise web.HTTPNotFound(text=refusal.message) from None
        return await _page(request, agent, status=refusal.status)
    file, replaced = await stories.save_story(
        request.app[sessions_key], project_of(request), agent, found
    )
    flash = t(lang, "training.story.replaced" if replaced else "training.story.saved", file=file)
    return await _page(request, agent, flash)
