"""Casework over the JSON API: customer 360, callbacks, follow-ups and complaints.

Each route reads its body as the typed model `desk.casework` declares for it
(`read(Model, body)`) and its URL ids with `path_id`; every refusal is a `DeskError`,
which `api_errors` turns into the one JSON error shape. The same work done from the
console's pages is in `console.casework_pages`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from console import api
from console.keys import sessions_key, settings_key
from desk import casework
from desk.clock import now
from desk.inputs import path_id, read

routes = web.RouteTableDef()


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[settings_key].service_timezone)


def _id(request: web.Request, what: str) -> int:
    return path_id(request.match_info["id"], what)


@routes.get(r"/api/v1/customers/{id:\d+}", name="api_customer")
async def customer(request: web.Request) -> web.Response:
    customer_id = _id(request, "customer")
    async with request.app[sessions_key]() as session:
        view = await casework.customer_360(
            session, api.current_agent(request), customer_id, now(), _zone(request)
        )
    return web.json_response(view)


@routes.get("/api/v1/callbacks", name="api_callbacks")
async def callbacks(request: web.Request) -> web.Response:
    scope = request.query.get("scope", "open")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_callbacks(
            session, api.current_agent(request), scope, now(), _zone(request)
        )
    return web.json_response({"callbacks": rows})


@routes.post("/api/v1/callbacks", name="api_schedule_callback")
async def schedule_callback(request: web.Request) -> web.Response:
    new = read(casework.NewCallback, await api.json_body(request))
    async with request.app[sessions_key].begin() as session:
        view = await casework.schedule_callback(
            session, api.current_agent(request), new, now=now(), tz=_zone(request)
        )
    return web.json_response(view, status=201)


@routes.post(r"/api/v1/callbacks/{id:\d+}/attempts", name="api_callback_attempt")
async def callback_attempt(request: web.Request) -> web.Response:
    callback_id = _id(request, "callback")
    attempt = read(casework.CallAttempt, await api.json_body(request))
    async with request.app[sessions_key].begin() as session:
        view = await casework.log_attempt(
            session,
            api.current_agent(request),
            callback_id,
            attempt,
            now=now(),
            tz=_zone(request),
        )
    return web.json_response(view)


@routes.get("/api/v1/follow-ups", name="api_follow_ups")
async def follow_ups(request: web.Request) -> web.Response:
    scope, status = request.query.get("scope", "all"), request.query.get("status")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_follow_ups(
            session, api.current_agent(request), scope, status, now()
        )
    return web.json_response({"follow_ups": rows})


@routes.post("/api/v1/follow-ups", name="api_create_follow_up")
async def create_follow_up(request: web.Request) -> web.Response:
    new = read(casework.NewFollowUp, await api.json_body(request))
    async with request.app[sessions_key].begin() as session:
        view = await casework.create_follow_up(
            session, api.current_agent(request), new, now=now(), tz=_zone(request)
        )
    return web.json_response(view, status=201)


@routes.patch(r"/api/v1/follow-ups/{id:\d+}", name="api_update_follow_up")
async def update_follow_up(request: web.Request) -> web.Response:
    follow_up_id = _id(request, "follow-up")
    changes = read(casework.FollowUpChanges, await api.json_body(request))
    async with request.app[sessions_key].begin() as session:
        view = await casework.update_follow_up(
            session,
            api.current_agent(request),
            follow_up_id,
            changes,
            now=now(),
            tz=_zone(request),
        )
    return web.json_response(view)


@routes.get("/api/v1/complaints", name="api_complaints")
async def complaints(request: web.Request) -> web.Response:
    status = request.query.get("status")
    async with request.app[sessions_key]() as session:
        rows = await casework.list_complaints(session, api.current_agent(request), status, now())
    return web.json_response({"complaints": rows})


@routes.patch(r"/api/v1/complaints/{id:\d+}", name="api_update_complaint")
async def update_complaint(request: web.Request) -> web.Response:
    complaint_id = _id(request, "complaint")
    changes = read(casework.ComplaintChanges, await api.json_body(request))
    async with request.app[sessions_key].begin() as session:
        view = await casework.update_complaint(
            session, api.current_agent(request), complaint_id, changes, now=now()
        )
    return web.json_response(view)
