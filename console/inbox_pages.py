"""The review inbox page (`/console/inbox`, trainers and admins): one page of the
inbox in the order for learning, its filters and search as a GET form, and the
actions, bulk bar and conversation panel that `static/inbox.js` drives over the JSON
API (one keystroke each; every button is its click equivalent)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from console.i18n import t
from console.keys import sessions_key
from console.pages import page_language, render
from console.training_api import project_of
from console.training_pages import trainer_page
from desk.errors import DeskError
from desk.inputs import read
from desk.training import examples, inbox

routes = web.RouteTableDef()


@routes.get("/console/inbox", name="training_inbox")
async def inbox_page(request: web.Request) -> web.StreamResponse:
    agent = await trainer_page(request)
    sessions = request.app[sessions_key]
    try:
        query = read(inbox.InboxQuery, dict(request.query))
        problem = None
    except DeskError as refusal:
        query, problem = inbox.InboxQuery(), refusal
    page = await inbox.listing(sessions, query)
    intents = await asyncio.to_thread(examples.list_intents, project_of(request))
    lang = page_language(request, agent)
    context = {
        "request": request,
        "query": query,
        "page": page,
        "items": [inbox.item_json(row) for row in page.items],
        "counts": await inbox.counts(sessions),
        "intents": [intent.name for intent in intents],
        "seen": await inbox.intents_seen(sessions),
        "statuses": inbox.STATUSES,
        "problem": t(lang, "training.inbox.bad_filter") if problem else None,
        "pages": _page_links(request, page),
    }
    return render(request, "training_inbox.html", context, agent=agent, scripts="training.inbox")


def _page_links(request: web.Request, page: inbox.Page) -> dict[str, str | None]:
    """The previous and next pages' addresses, with the same filters."""

    def link(number: int) -> str:
        return str(request.rel_url.update_query(page=str(number)))

    return {
        "previous": link(page.page - 1) if page.page > 1 else None,
        "next": link(page.page + 1) if page.more else None,
    }
