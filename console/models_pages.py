"""The trainers' models page (`/console/models`): start a fine-tune or a full training
and follow it live (progress and log pushed over the `/trainers` namespace), the
registry with each candidate's evaluation against production, deploy and roll back;
one model's evaluation side by side with production's (`/console/models/<id>`), the
differences marked. Supervisors reach these pages for the gate's override only.

Forms carry the page's CSRF token and are answered with a redirect back, saying
`?saved=1` or `?error=<code>` (shown in the reader's language)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.i18n import t
from console.keys import deployments_key, jobs_key, registry_key
from console.models_api import READERS
from console.pages import check_csrf, page_language, render, require_role, signed_in
from desk.errors import DeskError
from desk.inputs import path_id, read
from desk.training.deploy import OVERRIDERS, Override
from desk.training.evaluation import GATED_INTENTS, MAX_F1_DROP, verdict
from desk.training.jobs import TRAINERS, JobStart, job_view
from desk.training.registry import model_view
from store.models import Agent

routes = web.RouteTableDef()

PAGE = "/console/models"


def message(lang: str, code: str) -> str:
    """A refusal in the reader's language; one without a translation by its code."""
    text = t(lang, f"models.error.{code}")
    return code if text == f"models.error.{code}" else text


def _id(request: web.Request, what: str = "model") -> int:
    try:
        return path_id(request.match_info["id"], what)
    except DeskError:
        raise web.HTTPNotFound() from None


async def _reader(request: web.Request, *roles) -> Agent:
    agent = await signed_in(request)
    require_role(agent, *(roles or READERS), request=request)
    return agent


def _flash(request: web.Request, lang: str) -> tuple[str | None, bool]:
    if code := request.query.get("error"):
        return message(lang, code[:64]), True
    if request.query.get("saved"):
        return t(lang, "models.saved"), False
    return None, False


@routes.get(PAGE, name="training_models")
async def models_page(request: web.Request) -> web.StreamResponse:
    agent = await _reader(request)
    lang = page_language(request, agent)
    flash, flash_error = _flash(request, lang)
    jobs = request.app[jobs_key]
    active = await jobs.active()
    recent = await jobs.recent(10) if agent.role in TRAINERS else []
    shown = active or (recent[0] if recent else None)
    models = [model_view(model) for model in await request.app[registry_key].models()]
    for view in models:
        view["gate"] = verdict(view["metrics"])
    context = {
        "request": request,
        "flash": flash,
        "flash_error": flash_error,
        "job": job_view(shown, with_log=True) if shown else None,
        "jobs": [job_view(job) for job in recent],
        "models": models,
        "deployments": await request.app[deployments_key].history(20),
        "trainer": agent.role in TRAINERS,
        "overrider": agent.role in OVERRIDERS,
    }
    return render(request, "training_models.html", context, agent=agent, scripts="models.live.")


def comparison(metrics: dict[str, Any], part: str, language: str) -> dict[str, Any]:
    """One part of an evaluation (overall, holdout, reviewed) in one language (all, zh,
    en): both models' accuracy and each intent's figures side by side, with the
    difference in points of F1 and whether it is a regression."""
    ours = ((metrics.get("candidate") or {}).get(part) or {}).get(language) or {}
    theirs = ((metrics.get("production") or {}).get(part) or {}).get(language) or {}
    rows = []
    for intent in sorted(set(ours.get("intents", {})) | set(theirs.get("intents", {}))):
        mine = ours.get("intents", {}).get(intent)
        other = theirs.get("intents", {}).get(intent)
        delta = round(((mine or {}).get("f1", 0) - (other or {}).get("f1", 0)) * 100, 1)
        rows.append(
            {
                "intent": intent,
                "candidate": mine,
                "production": other,
                "delta": delta if other is not None else None,
                "gated": intent in GATED_INTENTS,
                "worse": other is not None and delta < 0,
                "blocking": other is not None and intent in GATED_INTENTS and -delta > MAX_F1_DROP,
            }
        )
    return {
        "count": ours.get("count", 0),
        "accuracy": ours.get("accuracy"),
        "production_accuracy": theirs.get("accuracy"),
        "rows": rows,
        "confusions": ours.get("confusions", []),
        "production_confusions": theirs.get("confusions", []),
    }


@routes.get(PAGE + r"/{id:\d+}", name="training_model")
async def model_page(request: web.Request) -> web.StreamResponse:
    agent = await _reader(request)
    lang = page_language(request, agent)
    flash, flash_error = _flash(request, lang)
    try:
        model = model_view(await request.app[registry_key].get(_id(request)))
    except DeskError:
        raise web.HTTPNotFound(text=message(lang, "not_found")) from None
    metrics = model["metrics"]
    parts = [
        part
        for part in ("overall", "holdout", "reviewed")
        if (metrics.get("candidate") or {}).get(part)
    ]
    context = {
        "request": request,
        "flash": flash,
        "flash_error": flash_error,
        "model": model,
        "gate": verdict(metrics),
        "parts": parts,
        "tables": {
            (part, language): comparison(metrics, part, language)
            for part in parts
            for language in ("all", "zh", "en")
        },
        "trainer": agent.role in TRAINERS,
        "overrider": agent.role in OVERRIDERS,
        "max_drop": MAX_F1_DROP,
    }
    return render(request, "training_model.html", context, agent=agent)


def _back(request: web.Request, refusal: DeskError | None = None) -> web.HTTPSeeOther:
    """Back to the models page, saying what happened."""
    query = urlencode({"error": refusal.code}) if refusal else "saved=1"
    return web.HTTPSeeOther(f"{PAGE}?{query}")


@routes.post(PAGE + "/train", name="training_start_form")
async def start_form(request: web.Request) -> web.StreamResponse:
    agent = await _reader(request, *TRAINERS)
    form = await check_csrf(request)
    try:
        await request.app[jobs_key].start(agent, read(JobStart, form))
    except DeskError as refusal:
        raise _back(request, refusal) from None
    raise _back(request)


@routes.post(PAGE + r"/jobs/{id}/cancel", name="training_cancel_form")
async def cancel_form(request: web.Request) -> web.StreamResponse:
    agent = await _reader(request, *TRAINERS)
    await check_csrf(request)
    try:
        await request.app[jobs_key].cancel(agent, _id(request, "training job"))
    except DeskError as refusal:
        raise _back(request, refusal) from None
    raise _back(request)


@routes.post(PAGE + r"/{id}/{action:deploy|rollback}", name="training_deploy_form")
async def deploy_form(request: web.Request) -> web.StreamResponse:
    agent = await _reader(request, *TRAINERS)
    await check_csrf(request)
    deployments = request.app[deployments_key]
    try:
        if request.match_info["action"] == "deploy":
            await deployments.deploy(agent, _id(request))
        else:
            await deployments.rollback(agent, _id(request))
    except DeskError as refusal:
        raise _back(request, refusal) from None
    raise _back(request)


@routes.post(PAGE + r"/{id}/override", name="training_override_form")
async def override_form(request: web.Request) -> web.StreamResponse:
    agent = await _reader(request, *OVERRIDERS)
    form = await check_csrf(request)
    try:
        body = read(Override, form)
        await request.app[deployments_key].deploy(agent, _id(request), body.reason)
    except DeskError as refusal:
        raise _back(request, refusal) from None
    raise _back(request)
