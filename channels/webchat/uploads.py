"""Claim documents customers send from the web widget.

- `POST /channels/web/uploads` (multipart: `file`, optional `claim_number`; header
  `X-Session-Id`, the web chat session id the server issued). The upload is read
  as a stream and cut off as soon as it passes `UPLOAD_MAX_BYTES` (413), or as soon
  as its first bytes show it is not one of `UPLOAD_TYPES` (415): the type is what
  the content is (JPEG, PNG, PDF... by their magic bytes), never what the browser
  or the file name claims. A claim number links the file to that claim only when
  the conversation's verified customer holds the claim's policy (403 otherwise);
  without one, anyone in a conversation may send a file. The file is kept under
  `<UPLOAD_DIR>/<yyyy>/<mm>/<uid>` with its SHA-256 and a `documents` row, and it
  becomes the customer's message in the conversation, so agents see it live.
- `GET /channels/web/claims` (`X-Session-Id`): the verified customer's claims, for
  the widget's claim picker (403 until verified).

Both customer routes check the Origin as the web chat's socket does, and answer
CORS preflights for the allowed widget origins. Agents download the files through
the console (`GET /api/v1/documents/{id}`)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from sqlalchemy import select

from channels.replies import json_error
from channels.webchat.chat import CHANNEL
from channels.webchat.widget import origin_check
from desk.conversations import ConversationService
from desk.intake import Attachment, Inbound
from desk.settings import Settings
from store.models import Claim, Conversation, Document, Event, Policy

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Multipart framing and the small fields around the file.
ENVELOPE = 16 * 1024
SESSION_HEADER = "X-Session-Id"
# What a file's first bytes say it is. Only these can be accepted, whatever UPLOAD_TYPES says.
MAGIC: tuple[tuple[str, Any], ...] = (
    ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ("application/pdf", lambda head: head.startswith(b"%PDF-")),
    ("image/gif", lambda head: head[:6] in (b"GIF87a", b"GIF89a")),
    ("image/webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
)
SNIFF_BYTES = 12
EXTENSIONS = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "application/pdf": (".pdf",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
}
PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
CLAIM_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,20}$")


def sniff(head: bytes) -> str | None:
    """The type a file's first bytes show, if it is one we know."""
    for mime, matches in MAGIC:
        if matches(head):
            return mime
    return None


def clean_name(name: str | None, mime: str) -> str:
    """A file name fit to show and to offer as a download: no path, no control
    characters, and the extension of what the file really is. (Browsers send the
    name as UTF-8; some HTTP clients, aiohttp's among them, percent-encode it.)"""
    name = name or ""
    if PERCENT.search(name):
        with contextlib.suppress(UnicodeDecodeError):
            name = unquote(name, errors="strict")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable() and ch not in '<>:"|?*'
    )
    name = name.strip().strip(".").strip() or "document"
    extensions = EXTENSIONS.get(mime, ())
    if extensions and not name.lower().endswith(extensions):
        name += extensions[0]
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = f"{stem[: 199 - len(extension)]}{dot}{extension}" if dot else name[:200]
    return name


class TooLarge(Exception):
    pass


class Unsupported(Exception):
    pass


class Uploads:
    def __init__(self, service: ConversationService, settings: Settings, origin_allowed):
        self.service = service
        self.settings = settings
        self.origin_allowed = origin_allowed
        self.max_bytes = settings.upload_max_bytes
        self.types = set(settings.upload_type_list())
        self.root = Path(settings.upload_dir)

    # ---- who is asking ---------------------------------------------------------------

    def _cors(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin and self.origin_allowed(origin):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    async def _conversation(self, request: web.Request) -> Conversation | web.Response:
        """The web chat conversation the request's session id names, or the refusal."""
        cors = self._cors(request)
        origin = request.headers.get("Origin")
        if origin and not self.origin_allowed(origin):
            log.info("upload refused for origin %s", origin)
            return json_error(403, "origin_not_allowed", "This site may not use the chat.", cors)
        session_id = request.headers.get(SESSION_HEADER, "")
        conversation = None
        if 16 <= len(session_id) <= 64:
            conversation = await self.service.find(CHANNEL, session_id)
        if conversation is None:
            log.info("upload refused: unknown web chat session")
            return json_error(
                403,
                "unknown_session",
                f"{SESSION_HEADER} must be the session id the chat was given.",
                cors,
            )
        return conversation

    async def preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if not origin or not self.origin_allowed(origin):
            return web.Response(status=403)
        return web.Response(
            status=204,
            headers={
                **self._cors(request),
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": SESSION_HEADER,
                "Access-Control-Max-Age": "600",
            },
        )

    # ---- the customer's side ---------------------------------------------------------

    async def claims(self, request: web.Request) -> web.Response:
        conversation = await self._conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        cors = self._cors(request)
        if conversation.customer_id is None:
            return json_error(
                403, "not_verified", "Verify your identity in the chat to see your claims.", cors
            )
        async with self.service.sessions() as session:
            rows = (
                await session.execute(
                    select(Claim.number, Claim.stage, Claim.kind)
                    .join(Policy, Claim.policy_id == Policy.id)
                    .where(Policy.holder_id == conversation.customer_id)
                    .order_by(Claim.submitted_at.desc())
                    .limit(50)
                )
            ).all()
        claims = [{"number": n, "stage": str(stage), "kind": str(kind)} for n, stage, kind in rows]
        return web.json_response({"claims": claims}, headers=cors)

    async def upload(self, request: web.Request) -> web.Response:
        conversation = await self._conversation(request)
        if isinstance(conversation, web.Response):
            return conversation
        cors = self._cors(request)
        limit = f"Files are limited to {self.max_bytes} bytes."
        if request.content_length is not None and request.content_length > (
            self.max_bytes + ENVELOPE
        ):
            log.info("upload refused before reading: %s bytes", request.content_length)
            return json_error(413, "too_large", limit, cors)
        if not request.content_type.startswith("multipart/form-data"):
            return json_error(400, "malformed", "Send the file as multipart/form-data.", cors)

        uid = secrets.token_hex(16)
        incoming = self.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        partial = incoming / f"{uid}.part"
        try:
            try:
                fields = await self._read(request, partial)
            except TooLarge:
                log.info(
                    "upload cut off past %s bytes (conversation %s)",
                    self.max_bytes,
                    conversation.id,
                )
                return json_error(413, "too_large", limit, cors)
            except Unsupported as exc:
                log.info("upload refused: %s (conversation %s)", exc, conversation.id)
                return json_error(
                    415,
                    "unsupported_type",
                    f"Only {', '.join(sorted(self.types))} files are accepted.",
                    cors,
                )
            except ValueError as exc:
                return json_error(400, "malformed", str(exc), cors)
            return await self._keep(conversation, partial, uid, fields, cors)
        finally:
            # Kept files were moved away; whatever is left here was refused or cut off.
            partial.unlink(missing_ok=True)

    async def _read(self, request: web.Request, partial: Path) -> dict[str, Any]:
        """Stream the form: the file into `partial` (hashing and sniffing on the
        way, stopping at the size limit), and the small fields."""
        fields: dict[str, Any] = {}
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError) as exc:
            raise ValueError("The body is not a multipart form.") from exc
        try:
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader):
                    raise ValueError("Nested multipart forms are not accepted.")
                if part.name == "claim_number":
                    value = (await part.read_chunk(128)).decode("utf-8", "replace").strip()
                    fields["claim_number"] = value
                    await part.release()
                elif part.name == "file":
                    if "file" in fields:
                        raise ValueError("Send one file at a time.")
                    fields["file"] = await self._stream(part, partial)
                    fields["filename"] = part.filename
                else:
                    await part.release()
        except aiohttp.ClientPayloadError as exc:
            raise ValueError("The upload was interrupted.") from exc
        if "file" not in fields:
            raise ValueError("No file was sent (the form field is `file`).")
        return fields

    async def _stream(self, part: aiohttp.BodyPartReader, partial: Path) -> dict[str, Any]:
        digest = hashlib.sha256()
        size = 0
        head = b""
        mime: str | None = None
        with partial.open("wb") as out:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise TooLarge()
                if mime is None:
                    head += chunk[: SNIFF_BYTES - len(head)]
                    if len(head) >= SNIFF_BYTES:
                        mime = self._allowed(head, part)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ValueError("The file is empty.")
        if mime is None:
            mime = self._allowed(head, part)
        return {"size": size, "sha256": digest.hexdigest(), "mime": mime}

    def _allowed(self, head: bytes, part: aiohttp.BodyPartReader) -> str:
        mime = sniff(head)
        if mime is None or mime not in self.types:
            declared = part.headers.get("Content-Type", "?")
            raise Unsupported(f"content is {mime or 'unknown'} (declared {declared})")
        return mime

    async def _keep(
        self,
        conversation: Conversation,
        partial: Path,
        uid: str,
        fields: dict[str, Any],
        cors: dict[str, str],
    ) -> web.Response:
        file = fields["file"]
        claim_number = fields.get("claim_number") or None
        # Verification may have happened while the file was on its way.
        conversation = await self.service.get(conversation.id) or conversation
        claim_id = None
        if claim_number is not None:
            if conversation.customer_id is None:
                return json_error(
                    403,
                    "not_verified",
                    "Verify your identity in the chat before linking a file to a claim.",
                    cors,
                )
            claim_id = await self._holders_claim(conversation.customer_id, claim_number)
            if claim_id is None:
                log.info(
                    "upload refused: claim %r is not customer %s's",
                    claim_number,
                    conversation.customer_id,
                )
                return json_error(
                    403,
                    "claim_forbidden",
                    "That claim is not one of the verified customer's claims.",
                    cors,
                )

        now = datetime.now(UTC)
        relative = f"{now:%Y}/{now:%m}/{uid}"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        name = clean_name(fields.get("filename"), file["mime"])
        async with self.service.sessions.begin() as session:
            document = Document(
                uid=uid,
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                claim_id=claim_id,
                channel=CHANNEL,
                name=name,
                mime=file["mime"],
                size=file["size"],
                sha256=file["sha256"],
                path=relative,
            )
            session.add(document)
            await session.flush()
            document_id = document.id
            session.add(
                Event(
                    kind="document_received",
                    conversation_id=conversation.id,
                    customer_id=conversation.customer_id,
                    data={
                        "document_id": document_id,
                        "channel": CHANNEL,
                        "mime": file["mime"],
                        "size": file["size"],
                        "claim_number": claim_number if claim_id else None,
                    },
                )
            )

        attachment = Attachment(
            kind="image" if file["mime"].startswith("image/") else "file",
            url=f"/api/v1/documents/{document_id}",
            name=name,
            mime=file["mime"],
            size=file["size"],
            document_id=document_id,
        )
        received = await self.service.receive(
            CHANNEL,
            Inbound(external_id=conversation.external_user_id, attachment=attachment, text=None),
        )
        if received.refusal is not None:
            await self._forget(document_id, target)
            status = 429 if received.refusal.code == "rate_limited" else 400
            return json_error(status, received.refusal.code, received.refusal.message, cors)
        log.info(
            "document %s (%s, %s bytes) received in conversation %s%s",
            document_id,
            file["mime"],
            file["size"],
            conversation.id,
            f" for claim {claim_number}" if claim_id else "",
        )
        body: dict[str, Any] = {
            "id": document_id,
            "name": name,
            "size": file["size"],
            "mime": file["mime"],
            "sha256": file["sha256"],
            "seq": received.message["seq"] if received.message else None,
        }
        if claim_id:
            body["claim_number"] = claim_number
        return web.json_response(body, status=201, headers=cors)

    async def _holders_claim(self, customer_id: int, claim_number: str) -> int | None:
        if not CLAIM_NUMBER.match(claim_number):
            return None
        async with self.service.sessions() as session:
            return await session.scalar(
                select(Claim.id)
                .join(Policy, Claim.policy_id == Policy.id)
                .where(Claim.number == claim_number, Policy.holder_id == customer_id)
            )

    async def _forget(self, document_id: int, path: Path) -> None:
        """A refused message: nothing of it is kept."""
        async with self.service.sessions.begin() as session:
            document = await session.get(Document, document_id)
            if document is not None:
                await session.delete(document)
        path.unlink(missing_ok=True)


def install(
    app: web.Application,
    service: ConversationService,
    settings: Settings,
) -> None:
    """The upload and claim-picker routes (files arrive on the web chat's conversations)."""
    uploads = Uploads(service, settings, origin_check(settings))
    app.router.add_post("/channels/web/uploads", uploads.upload, name="web_uploads")
    app.router.add_route("OPTIONS", "/channels/web/uploads", uploads.preflight)
    app.router.add_get("/channels/web/claims", uploads.claims, name="web_claims")
    app.router.add_route("OPTIONS", "/channels/web/claims", uploads.preflight)
