"""The review inbox over the JSON API (`/api/v1/training/inbox...`, trainers and
admins only), and the agents' "the bot misunderstood this" on a customer message
(`/api/v1/conversations/{id}/messages/{seq}/flag`, whoever may see the conversation).

Everything a trainer gets here is masked (see `desk.training.inbox`)."""

from __future__ import annotations

from aiohttp import web

from console import api
from console.keys import sessions_key
from console.training_api import project_of, trainer
from desk.inputs import path_id, read
from desk.training import flags, inbox, review

routes = web.RouteTableDef()

INBOX = "/api/v1/training/inbox"


def _parsed_id(request: web.Request) -> int:
    return path_id(request.match_info["id"], "message")


@routes.get(INBOX, name="api_inbox")
async def listing(request: web.Request) -> web.Response:
    """One page of the inbox, in the order for learning; filters in the query string."""
    trainer(request)
    query = read(inbox.InboxQuery, dict(request.query))
    page = await inbox.listing(request.app[sessions_key], query)
    return web.json_response(page.json())


@routes.get(INBOX + "/{id}/conversation", name="api_inbox_conversation")
async def conversation(request: web.Request) -> web.Response:
    """The conversation around an inbox message, masked, with its handoff and
    resolution reasons."""
    trainer(request)
    found = await inbox.around(request.app[sessions_key], _parsed_id(request))
    return web.json_response(found)


@routes.post(INBOX + "/decisions", name="api_inbox_decisions")
async def decisions(request: web.Request) -> web.Response:
    """One decision on a selection: `{"ids": [...], "action": ..., "label": ...}`."""
    agent = trainer(request)
    body = read(review.BulkDecision, await api.json_body(request))
    done = await review.decide_all(request.app[sessions_key], project_of(request), agent, body)
    return web.json_response(done)


@routes.post(INBOX + "/{id}/decision", name="api_inbox_decision")
async def decision(request: web.Request) -> web.Response:
    """confirm, relabel (with `label`), out_of_scope, ignore or hold_out."""
    agent = trainer(request)
    body = read(review.Decision, await api.json_body(request))
    item = await review.decide(
        request.app[sessions_key], project_of(request), agent, _parsed_id(request), body
    )
    return web.json_response(item)


@routes.post(INBOX + "/{id}/undo", name="api_inbox_undo")
async def undo(request: web.Request) -> web.Response:
    agent = trainer(request)
    item = await review.undo(
        request.app[sessions_key], project_of(request), agent, _parsed_id(request)
    )
    return web.json_response(item)


@routes.post("/api/v1/conversations/{id}/messages/{seq}/flag", name="api_flag")
async def flag(request: web.Request) -> web.Response:
    """An agent who may see the conversation flags a customer message as misunderstood,
    naming the intent it should have been."""
    agent = api.current_agent(request)
    conversation_id = path_id(request.match_info["id"])
    seq = path_id(request.match_info["seq"], "message")
    body = read(flags.Flag, await api.json_body(request))
    flagged = await flags.flag(
        request.app[sessions_key], project_of(request), agent, conversation_id, seq, body
    )
    return web.json_response(flagged)
