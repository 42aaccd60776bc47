"""The workbench's audit log (`/console/changes`, and `/api/v1/training/changes`):
every trainer's act newest first, filtered by kind and by who, a page at a time.
Trainers, supervisors and admins (see `desk.training.audit`)."""

from __future__ import annotations

from aiohttp import web

from console import api
from console.i18n import t
from console.keys import sessions_key
from console.pages import page_language, render, require_role, signed_in
from desk.errors import DeskError
from desk.inputs import read
from desk.people import list_agents
from desk.training import audit

routes = web.RouteTableDef()


@routes.get("/api/v1/training/changes", name="api_audit_log")
async def audit_api(request: web.Request) -> web.Response:
    reader = api.current_agent(request)
    query = read(audit.AuditQuery, dict(request.query))
    return web.json_response(await audit.entries(request.app[sessions_key], reader, query))


@routes.get("/console/changes", name="audit_log")
async def audit_page(request: web.Request) -> web.StreamResponse:
    reader = await signed_in(request)
    require_role(reader, *audit.READERS, request=request)
    try:
        query, problem = read(audit.AuditQuery, dict(request.query)), None
    except DeskError as refusal:
        query, problem = audit.AuditQuery(), refusal
    sessions = request.app[sessions_key]
    found = await audit.entries(sessions, reader, query)
    lang = page_language(request, reader)
    following = found["next"]
    context = {
        "request": request,
        "query": query,
        "kinds": audit.KINDS,
        "staff": [a for a, _ in await list_agents(sessions) if a.role in audit.READERS],
        "entries": found["entries"],
        "older": str(request.rel_url.update_query(before=str(following))) if following else None,
        "problem": t(lang, "audit.bad_filter") if problem else None,
    }
    return render(request, "audit_log.html", context, agent=reader)
