"""Files customers sent, opened by agents: uploaded claim documents
(`GET /api/v1/documents/{id}`) and files a channel keeps at its provider
(`GET /channels/{channel}/files/{external_id}/{file_id}`, Telegram's photos and
documents, fetched through the channel so its token never reaches a browser).
Both only for an agent who may see the conversation."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from console.api import current_agent, error
from console.keys import service_key, sessions_key, settings_key, tokens_key
from desk.access import may_view
from desk.errors import DeskError
from desk.inputs import path_id
from desk.intake import FileSource
from desk.sign_in import COOKIE, agent_by_token
from store.models import Conversation, Document

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
FILE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


@routes.get("/api/v1/documents/{id}", name="api_document")
async def document(request: web.Request) -> web.StreamResponse:
    agent = current_agent(request)
    document_id = path_id(request.match_info["id"], "document")
    async with request.app[sessions_key]() as session:
        found = await session.get(Document, document_id)
        conversation = await session.get(Conversation, found.conversation_id) if found else None
    if found is None or conversation is None:
        return error(404, "not_found", "No such document.")
    if not may_view(agent, conversation):
        log.info("agent %s refused document %s", agent.username, document_id)
        return error(403, "forbidden", "You may not see this conversation's documents.")
    root = Path(request.app[settings_key].upload_dir).resolve()
    path = (root / found.path).resolve()
    if root not in path.parents or not path.is_file():
        log.error("document %s is missing from %s", document_id, path)
        return error(410, "gone", "The file is no longer kept.")
    ascii_name = found.name.encode("ascii", "replace").decode().replace("?", "_")
    ascii_name = ascii_name.replace('"', "_").replace("\\", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(found.name)}"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": found.mime,
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            # Opened by mistake in a tab, it still runs nothing.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@routes.get("/channels/{channel}/files/{external_id}/{file_id}", name="channel_file")
async def channel_file(request: web.Request) -> web.StreamResponse:
    """Signed in by Bearer token or the console's cookie (a link in the transcript)."""
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.cookies.get(COOKIE)
    agent = await agent_by_token(request.app[sessions_key], request.app[tokens_key], token)
    if agent is None:
        return error(401, "unauthorised", "Sign in to the console first.")
    service = request.app[service_key]
    channel, file_id = request.match_info["channel"], request.match_info["file_id"]
    source = service.channels.get(channel)
    conversation = await service.find(channel, request.match_info["external_id"])
    if (
        not isinstance(source, FileSource)
        or not FILE_ID.fullmatch(file_id)
        or conversation is None
        or not may_view(agent, conversation)
        or not await service.carries(conversation.id, request.path)
    ):
        return error(404, "not_found", "No such file.")
    try:
        body, mime = await source.fetch_file(file_id)
    except DeskError as exc:
        return error(exc.status, exc.code, exc.message)
    inline = mime in ("image/jpeg", "image/png", "image/gif", "image/webp")
    return web.Response(
        body=body,
        content_type=mime,
        headers={
            "Content-Disposition": "inline" if inline else "attachment",
            "Cache-Control": "private, max-age=3600",
        },
    )
