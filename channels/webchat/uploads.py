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
- Quotas: files and bytes per session (`UPLOAD_SESSION_*`, stricter while the
  customer is unverified: `UPLOAD_UNVERIFIED_*`) and per day (`UPLOAD_DAY_*`, for
  one verified customer across their sessions, or for one client address while
  unverified). Past them the upload is refused (429 `upload_quota`) before it is
  read, or cut off as soon as it passes what is left.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from channels.replies import json_error
from channels.webchat.chat import CHANNEL, SessionIds
from channels.webchat.widget import origin_check
from desk.addresses import Network, client_address
from desk.conversations import ConversationService
from desk.intake import Attachment, Inbound, Refusal
from desk.pseudonyms import pseudonym
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
    def __init__(
        self,
        service: ConversationService,
        settings: Settings,
        origin_allowed,
        session_ids: SessionIds,
        trusted_proxies: tuple[Network, ...] = (),
    ):
        self.service = service
        self.settings = settings
        self.origin_allowed = origin_allowed
        self.session_ids = session_ids
        self.trusted_proxies = trusted_proxies
        self.max_bytes = settings.upload_max_bytes
        self.types = set(settings.upload_type_list())
        self.root = Path(settings.upload_dir)

    # ---- who is asking ---------------------------------------------------------------

    def _cors(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin and self.origin_allowed(origin):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def _address(self, request: web.Request) -> str:
        return client_address(
            request.remote, request.headers.get("X-Forwarded-For"), self.trusted_proxies
        )

    async def _conversation(
        self, request: web.Request, open_it: bool = False
    ) -> Conversation | None | web.Response:
        """The web chat conversation the request's session id names, or the refusal.
        A session we issued that has said nothing yet has none (None), unless
        `open_it`: a file may be its first word."""
        cors = self._cors(request)
        origin = request.headers.get("Origin")
        if origin and not self.origin_allowed(origin):
            log.info("upload refused for origin %s", origin)
            return json_error(403, "origin_not_allowed", "This site may not use the chat.", cors)
        session_id = request.headers.get(SESSION_HEADER, "")
        if 16 <= len(session_id) <= 64:
            conversation = await self.service.find(CHANNEL, session_id)
            if conversation is not None:
                return conversation
            if self.session_ids.issued(session_id):
                if not open_it:
                    return None
                opened, _ = await self.service.open(
                    CHANNEL, session_id, client_address=self._address(request)
                )
                return opened
        log.info("upload refused: unknown web chat session")
        return json_error(
            403,
            "unknown_session",
            f"{SESSION_HEADER} must be the session id the chat was given.",
            cors,
        )

    async def _left(self, conversation: Conversation, address: str) -> tuple[int, int]:
        """The files and bytes the conversation may still send: the least of what its
        session's quota and the day's leave."""
        settings = self.settings
        verified = conversation.customer_id is not None
        since = datetime.now(UTC) - timedelta(days=1)
        counted = select(func.count(Document.id), func.coalesce(func.sum(Document.size), 0))
        if verified:
            day = counted.where(
                Document.customer_id == conversation.customer_id, Document.created_at >= since
            )
        else:
            day = (
                counted.join(Conversation, Conversation.id == Document.conversation_id)
                .where(Document.customer_id.is_(None), Document.created_at >= since)
                .where(Conversation.client_address == address)
            )
        async with self.service.sessions() as session:
            files, size = (
                await session.execute(counted.where(Document.conversation_id == conversation.id))
            ).one()
            day_files, day_size = (await session.execute(day)).one()
        session_files, session_bytes = (
            (settings.upload_session_files, settings.upload_session_bytes)
            if verified
            else (settings.upload_unverified_files, settings.upload_unverified_bytes)
        )
        return (
            min(session_files - files, settings.upload_day_files - day_files),
            min(session_bytes - size, settings.upload_day_bytes - day_size),
        )

    def _over_quota(self, conversation: Conversation, cors: dict[str, str]) -> web.Response:
        log.info("upload refused: conversation %s is over its quota", conversation.id)
        message = Refusal("upload_quota", "").text(conversation.language)
        return json_error(429, "upload_quota", message, cors)

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
        if conversation is None or conversation.customer_id is None:
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
        conversation = await self._conversation(request, open_it=True)
        if isinstance(conversation, web.Response):
            return conversation
        if conversation is None:
            raise RuntimeError("an upload's conversation was not opened")
        cors = self._cors(request)
        limit = f"Files are limited to {self.max_bytes} bytes."
        address = self._address(request)
        files_left, bytes_left = await self._left(conversation, address)
        if files_left < 1 or bytes_left < 1:
            return self._over_quota(conversation, cors)
        allowance = min(self.max_bytes, bytes_left)
        if request.content_length is not None and request.content_length > (allowance + ENVELOPE):
            log.info("upload refused before reading: %s bytes", request.content_length)
            if request.content_length > self.max_bytes + ENVELOPE:
                return json_error(413, "too_large", limit, cors)
            return self._over_quota(conversation, cors)
        if not request.content_type.startswith("multipart/form-data"):
            return json_error(400, "malformed", "Send the file as multipart/form-data.", cors)

        uid = secrets.token_hex(16)
        incoming = self.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        partial = incoming / f"{uid}.part"
        try:
            try:
                fields = await self._read(request, partial, allowance)
            except TooLarge:
                log.info(
                    "upload cut off past %s bytes (conversation %s)", allowance, conversation.id
                )
                if allowance < self.max_bytes:
                    return self._over_quota(conversation, cors)
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
            return await self._keep(conversation, partial, uid, fields, cors, address)
        finally:
            # Kept files were moved away; whatever is left here was refused or cut off.
            partial.unlink(missing_ok=True)

    async def _read(self, request: web.Request, partial: Path, allowance: int) -> dict[str, Any]:
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
                    fields["file"] = await self._stream(part, partial, allowance)
                    fields["filename"] = part.filename
                else:
                    await part.release()
        except aiohttp.ClientPayloadError as exc:
            raise ValueError("The upload was interrupted.") from exc
        if "file" not in fields:
            raise ValueError("No file was sent (the form field is `file`).")
        return fields

    async def _stream(
        self, part: aiohttp.BodyPartReader, partial: Path, allowance: int
    ) -> dict[str, Any]:
        digest = hashlib.sha256()
        size = 0
        head = b""
        mime: str | None = None
        with partial.open("wb") as out:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > allowance:
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
        address: str,
    ) -> web.Response:
        file = fields["file"]
        claim_number = fields.get("claim_number") or None
        # Verification may have happened while the file was on its way, and other
        # uploads of the same session may have used the quota meanwhile.
        conversation = await self.service.get(conversation.id) or conversation
        files_left, bytes_left = await self._left(conversation, address)
        if files_left < 1 or bytes_left < file["size"]:
            return self._over_quota(conversation, cors)
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
                    "upload refused: claim %s is not customer %s's",
                    pseudonym(claim_number),
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
            Inbound(
                external_id=conversation.external_user_id,
                attachment=attachment,
                text=None,
                client_address=address or None,
            ),
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
            f" for claim {pseudonym(claim_number)}" if claim_id else "",
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
    session_ids: SessionIds,
    trusted_proxies: tuple[Network, ...],
) -> None:
    """The upload and claim-picker routes (files arrive on the web chat's conversations)."""
    uploads = Uploads(service, settings, origin_check(settings), session_ids, trusted_proxies)
    app.router.add_post("/channels/web/uploads", uploads.upload, name="web_uploads")
    app.router.add_route("OPTIONS", "/channels/web/uploads", uploads.preflight)
    app.router.add_get("/channels/web/claims", uploads.claims, name="web_claims")
    app.router.add_route("OPTIONS", "/channels/web/claims", uploads.preflight)
