"""The trainers' workbench pages: every intent with its example counts and a search
(`/console/intents`), one intent's Chinese and English examples side by side with
forms to add, edit, delete and move them and its change log (`/console/intents/<name>`),
and the bot's responses in both languages (`/console/responses`). Trainers and admins.

A form is read as the API's typed body and answered with the page itself: saved (with
any near-duplicate warnings), or refused with the reason in the trainer's language
(`training.error.<code>`); a stale version answers 409 with what is there now."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from console.i18n import t
from console.keys import sessions_key
from console.pages import check_csrf, page_language, render, require_role, signed_in
from console.training_api import INTENT, RESPONSE, Edit, project_of
from desk.errors import DeskError
from desk.inputs import Body, read
from desk.training import changes, examples, responses
from desk.training.project import TrainingConflict
from store.models import Agent

routes = web.RouteTableDef()

FORMS: dict[str, tuple[type[Body], Edit]] = {
    "add": (changes.NewExample, changes.add_example),
    "edit": (changes.ExampleEdit, changes.edit_example),
    "delete": (changes.ExampleRemoval, changes.delete_example),
    "move": (changes.ExampleMove, changes.move_example),
}


async def trainer_page(request: web.Request) -> Agent:
    agent = await signed_in(request)
    require_role(agent, *changes.TRAINERS, request=request)
    return agent


def _refusal(lang: str, refusal: DeskError) -> str:
    """The refusal in the trainer's language; one without a translation as it is."""
    text = t(lang, f"training.error.{refusal.code}")
    return refusal.message if text == f"training.error.{refusal.code}" else text


async def _duplicate(request: web.Request, lang: str, text: str) -> str:
    """Which intent already has the example, in the trainer's language."""
    wanted = text.strip()
    found = await asyncio.to_thread(examples.search, project_of(request), wanted)
    owners = [match.intent for match in found if match.text == wanted]
    if not owners:
        return t(lang, "training.error.duplicate_example_unknown")
    return t(lang, "training.error.duplicate_example", intent=owners[0])


@routes.get("/console/intents", name="training_intents")
async def intents_page(request: web.Request) -> web.StreamResponse:
    agent = await trainer_page(request)
    project = project_of(request)
    query = request.query.get("q", "").strip()[: examples.MAX_EXAMPLE_LENGTH]
    summaries = await asyncio.to_thread(examples.list_intents, project)
    matches = await asyncio.to_thread(examples.search, project, query) if query else []
    context = {
        "request": request,
        "intents": summaries,
        "few": examples.FEW_EXAMPLES,
        "query": query,
        "matches": matches,
    }
    return render(request, "training_intents.html", context, agent=agent)


async def _intent_page(
    request: web.Request,
    agent: Agent,
    name: str,
    status: int = 200,
    flash: str | None = None,
    flash_error: bool = False,
    warnings: list[examples.NearDuplicate] | None = None,
    current: examples.IntentExamples | None = None,
) -> web.StreamResponse:
    project = project_of(request)
    intent = current or await asyncio.to_thread(examples.intent_examples, project, name)
    summaries = await asyncio.to_thread(examples.list_intents, project)
    context = {
        "request": request,
        "intent": intent,
        "others": [summary.name for summary in summaries if summary.name != name],
        "log": await changes.history(request.app[sessions_key], changes.INTENT, name),
        "flash": flash,
        "flash_error": flash_error,
        "warnings": warnings or [],
    }
    return render(request, "training_intent.html", context, status=status, agent=agent)


@routes.get(f"/console/intents/{INTENT}", name="training_intent")
async def intent_page(request: web.Request) -> web.StreamResponse:
    agent = await trainer_page(request)
    try:
        return await _intent_page(request, agent, request.match_info["name"])
    except DeskError as refusal:
        raise web.HTTPNotFound(text=_refusal(page_language(request, agent), refusal)) from None


@routes.post(f"/console/intents/{INTENT}/{{form:add|edit|delete|move}}", name="training_form")
async def intent_form(request: web.Request) -> web.StreamResponse:
    agent = await trainer_page(request)
    form = await check_csrf(request)
    name = request.match_info["name"]
    model, edit = FORMS[request.match_info["form"]]
    lang = page_language(request, agent)
    try:
        saved = await edit(
            request.app[sessions_key], project_of(request), agent, name, read(model, form)
        )
    except TrainingConflict as conflict:
        current = (
            conflict.current if isinstance(conflict.current, examples.IntentExamples) else None
        )
        return await _intent_page(
            request, agent, name, 409, t(lang, "training.error.conflict"), True, current=current
        )
    except DeskError as refusal:
        message = (
            await _duplicate(request, lang, str(form.get("new") or form.get("text") or ""))
            if refusal.code == "duplicate_example"
            else _refusal(lang, refusal)
        )
        try:
            return await _intent_page(request, agent, name, refusal.status, message, True)
        except DeskError:  # no such intent to show
            raise web.HTTPNotFound(text=_refusal(lang, refusal)) from None
    return await _intent_page(
        request, agent, name, 200, t(lang, "training.saved"), False, saved.warnings, saved.intent
    )


async def _responses_page(
    request: web.Request,
    agent: Agent,
    status: int = 200,
    flash: str | None = None,
    flash_error: bool = False,
) -> web.StreamResponse:
    found = await asyncio.to_thread(responses.list_responses, project_of(request))
    context = {
        "request": request,
        "responses": found,
        "languages": responses.LANGUAGES,
        "flash": flash,
        "flash_error": flash_error,
    }
    return render(request, "training_responses.html", context, status=status, agent=agent)


@routes.get("/console/responses", name="training_responses")
async def responses_page(request: web.Request) -> web.StreamResponse:
    return await _responses_page(request, await trainer_page(request))


@routes.post(f"/console/responses/{RESPONSE}", name="training_response_form")
async def response_form(request: web.Request) -> web.StreamResponse:
    agent = await trainer_page(request)
    form: dict[str, Any] = await check_csrf(request)
    lang = page_language(request, agent)
    try:
        await changes.edit_response(
            request.app[sessions_key],
            project_of(request),
            agent,
            request.match_info["name"],
            read(changes.ResponseEdit, form),
        )
    except DeskError as refusal:
        message = (
            t(lang, "training.error.conflict")
            if isinstance(refusal, TrainingConflict)
            else _refusal(lang, refusal)
        )
        return await _responses_page(request, agent, refusal.status, message, True)
    return await _responses_page(request, agent, 200, t(lang, "training.saved"))
