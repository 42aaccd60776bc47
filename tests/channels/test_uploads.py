"""Claim documents from the web widget, against the real app in-process (its store,
a real socket.io customer, a scripted Rasa): size and type limits with the type
sniffed from the content, linking to a claim only for the claim's verified policy
holder, agents' downloads, and refusals of other sites and unknown sessions."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import aiohttp
import pytest

from desk.texts import REFUSALS
from store.identities import link_verified
from store.models import Conversation
from web.stack import Customer

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 100
HANDOFF = [{"custom": {"handoff": {"reason": "request_human", "summary": "客户要求人工"}}}]


def form(content: bytes, name: str = "发票.pdf", mime: str = "application/pdf", claim=None):
    data = aiohttp.FormData()
    if claim is not None:
        data.add_field("claim_number", claim)
    data.add_field("file", content, filename=name, content_type=mime)
    return data


async def upload(desk, session_id: str | None, data, origin: str | None = None):
    headers = {}
    if session_id is not None:
        headers["X-Session-Id"] = session_id
    if origin is not None:
        headers["Origin"] = origin
    async with desk.client.post("/channels/web/uploads", data=data, headers=headers) as response:
        return response.status, await response.json(), response.headers


@pytest.fixture
async def customer_of():
    customers: list[Customer] = []

    async def connect(desk, session_id: str | None = None) -> Customer:
        """A customer of `desk`; with `session_id`, that session again, its history replayed."""
        customer = Customer(desk.base)
        await customer.connect(session_id, history=session_id is not None)
        customers.append(customer)
        return customer

    yield connect
    for customer in customers:
        await customer.disconnect()


async def verify(desk, session_id: str, customer_id: int) -> None:
    conversation = await desk.service.find("web", session_id)
    async with desk.service.sessions.begin() as session:
        loaded = await session.get(Conversation, conversation.id)
        await link_verified(session, loaded, customer_id, method="sms_code")


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_a_pdf_is_kept_with_its_hash_and_reaches_the_conversation(
    channel_app, customer_of, tmp_path
):
    desk = await channel_app()
    customer = await customer_of(desk)
    status, body, _ = await upload(desk, customer.session_id, form(PDF, "../../住院发票.pdf"))
    assert status == 201, body
    assert body["name"] == "住院发票.pdf" and body["size"] == len(PDF)
    assert body["mime"] == "application/pdf" and "claim_number" not in body
    [(doc_id, conversation_id, claim_id, name, mime, size, sha, path, channel)] = desk.rows(
        "SELECT id, conversation_id, claim_id, name, mime, size, sha256, path, channel"
        " FROM documents"
    )
    assert (doc_id, claim_id, name, mime, size) == (
        body["id"],
        None,
        "住院发票.pdf",
        mime,
        len(PDF),
    )
    assert sha == hashlib.sha256(PDF).hexdigest() == body["sha256"] and channel == "web"
    year, month, uid = path.split("/")
    assert len(year) == 4 and len(month) == 2 and len(uid) == 32
    root = tmp_path / "uploads"
    assert (root / path).read_bytes() == PDF
    assert stored_files(root) == [root / path]  # nothing left half-written

    # the customer's message carries the file, for agents to see live
    [(seq, sender, text, payload)] = desk.rows(
        "SELECT seq, sender, text, payload FROM messages WHERE sender='customer'"
    )
    assert (seq, sender, text) == (body["seq"], "customer", None)
    assert f'"url": "/api/v1/documents/{doc_id}"' in payload and '"type": "file"' in payload
    assert f'"document_id": {doc_id}' in payload
    # and the customer hears that it arrived
    received = await customer.until(lambda m: m.get("sender") == "system")
    assert "已收到您发送的文件" in received[-1]["text"]
    assert desk.rows("SELECT kind, conversation_id FROM events WHERE kind='document_received'") == [
        ("document_received", conversation_id)
    ]


async def test_the_type_is_what_the_content_is_not_what_it_claims(
    channel_app, customer_of, tmp_path
):
    desk = await channel_app()
    customer = await customer_of(desk)
    # a program renamed to .pdf and declared a PDF
    status, body, _ = await upload(desk, customer.session_id, form(EXE, "理赔.pdf"))
    assert status == 415 and body["error"]["code"] == "unsupported_type"
    # text pretending to be a picture
    status, _, _ = await upload(desk, customer.session_id, form(b"hello", "a.jpg", "image/jpeg"))
    assert status == 415
    assert desk.rows("SELECT count(*) FROM documents") == [(0,)]
    assert stored_files(tmp_path / "uploads") == []
    # a real PNG, mislabelled as a PDF, is kept as what it is
    status, body, _ = await upload(desk, customer.session_id, form(PNG, "scan.pdf"))
    assert status == 201 and body["mime"] == "image/png" and body["name"] == "scan.pdf.png"
    [(payload,)] = desk.rows("SELECT payload FROM messages WHERE sender='customer'")
    assert '"type": "image"' in payload
    # the allowed types are configurable
    only_images = await channel_app(upload_types="image/jpeg,image/png")
    other = await customer_of(only_images)
    status, body, _ = await upload(only_images, other.session_id, form(PDF))
    assert status == 415 and "image/png" in body["error"]["message"]


async def test_the_size_limit_is_enforced_while_streaming(channel_app, customer_of, tmp_path):
    desk = await channel_app(upload_max_bytes=64 * 1024)
    customer = await customer_of(desk)
    exactly = PDF + b"0" * (64 * 1024 - len(PDF))
    status, _, _ = await upload(desk, customer.session_id, form(exactly))
    assert status == 201
    status, body, _ = await upload(desk, customer.session_id, form(exactly + b"0"))
    assert status == 413 and body["error"]["code"] == "too_large"

    # a chunked upload with no length: refused while the client is still sending
    sent = 0
    chunks = 200

    async def slowly():
        nonlocal sent
        yield (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
        )
        for _ in range(chunks):
            sent += 1
            yield b"0" * 16 * 1024
            await asyncio.sleep(0.02)
        yield b"\r\n--b--\r\n"

    async with desk.client.post(
        "/channels/web/uploads",
        data=slowly(),
        headers={
            "X-Session-Id": customer.session_id,
            "Content-Type": "multipart/form-data; boundary=b",
        },
    ) as response:
        assert response.status == 413
        assert sent < chunks / 2, sent
    # refused before reading, by the declared length
    async with desk.client.post(
        "/channels/web/uploads",
        data=b"x" * (200 * 1024),
        headers={
            "X-Session-Id": customer.session_id,
            "Content-Type": "multipart/form-data; boundary=b",
        },
    ) as response:
        assert response.status == 413
    [(count,)] = desk.rows("SELECT count(*) FROM documents")
    assert count == 1 and len(stored_files(tmp_path / "uploads")) == 1


async def test_a_file_is_linked_only_to_the_verified_holders_claim(channel_app, customer_of):
    desk = await channel_app(seed=True)
    claims = desk.rows(
        "SELECT c.number, p.holder_id FROM claims c JOIN policies p ON p.id = c.policy_id"
        " ORDER BY c.id"
    )
    own_claim, holder = claims[0]
    other_claim, other_holder = next((n, h) for n, h in claims if h != holder)
    assert holder != other_holder
    customer = await customer_of(desk)

    # not verified: no claims to pick, no claim to link, but the file may still be sent
    async with desk.client.get(
        "/channels/web/claims", headers={"X-Session-Id": customer.session_id}
    ) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "not_verified"
    status, body, _ = await upload(desk, customer.session_id, form(PDF, claim=own_claim))
    assert status == 403 and body["error"]["code"] == "not_verified"
    status, body, _ = await upload(desk, customer.session_id, form(PDF))
    assert status == 201

    await verify(desk, customer.session_id, holder)
    async with desk.client.get(
        "/channels/web/claims", headers={"X-Session-Id": customer.session_id}
    ) as response:
        claims = (await response.json())["claims"]
    numbers = {c["number"] for c in claims}
    assert own_claim in numbers and other_claim not in numbers
    assert all(
        c["stage"]
        in {
            "submitted",
            "documents_pending",
            "reviewing",
            "investigating",
            "approved",
            "paid",
            "rejected",
        }
        for c in claims
    )

    status, body, _ = await upload(desk, customer.session_id, form(PDF, claim=other_claim))
    assert status == 403 and body["error"]["code"] == "claim_forbidden"
    status, body, _ = await upload(desk, customer.session_id, form(PDF, claim="CL-NO-SUCH"))
    assert status == 403 and body["error"]["code"] == "claim_forbidden"
    status, body, _ = await upload(desk, customer.session_id, form(PDF, claim=own_claim))
    assert status == 201 and body["claim_number"] == own_claim

    rows = desk.rows(
        "SELECT d.customer_id, c.number FROM documents d LEFT JOIN claims c ON c.id = d.claim_id"
        " ORDER BY d.id"
    )
    assert rows == [(None, None), (holder, own_claim)]


async def test_only_agents_who_may_see_the_conversation_download(
    channel_app, customer_of, fake_rasa
):
    desk = await channel_app()
    fake_rasa.replies["转人工"] = HANDOFF

    async def token(username: str) -> str:
        async with desk.client.post(
            "/api/v1/auth/login", json={"username": username, "password": "pw"}
        ) as response:
            return (await response.json())["token"]

    await token("agent1")  # signed in through the API: online, so the handoff queues
    customer = await customer_of(desk)
    await customer.say("转人工")
    await customer.until(lambda m: m.get("sender") == "system")
    assert desk.rows("SELECT state, team FROM conversations") == [("queued", "general")]
    status, body, _ = await upload(desk, customer.session_id, form(PDF, "发票 1.pdf"))
    assert status == 201
    url = f"/api/v1/documents/{body['id']}"

    async def fetch(username: str | None, path: str = url):
        headers = {"Authorization": f"Bearer {await token(username)}"} if username else {}
        async with desk.client.get(path, headers=headers) as response:
            return response.status, await response.read(), response.headers

    status, content, headers = await fetch("agent1")  # the general team's queue
    assert status == 200 and content == PDF
    assert headers["Content-Type"] == "application/pdf"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%8F%91%E7%A5%A8%201.pdf" in headers["Content-Disposition"]
    assert "sandbox" in headers["Content-Security-Policy"]
    assert (await fetch("supervisor1"))[0] == 200
    assert (await fetch("agent3"))[0] == 403  # the complaints team's agent
    assert (await fetch("trainer1"))[0] == 403
    assert (await fetch(None))[0] == 401
    assert (await fetch("agent1", "/api/v1/documents/999"))[0] == 404
    # the customer is never given the agents' address for their file, not even in history
    back = await customer_of(desk, customer.session_id)
    files = [m["attachment"] for m in back.received() if m.get("attachment")]
    assert files and all("url" not in attachment for attachment in files)


async def test_other_sites_and_unknown_sessions_are_refused(channel_app, customer_of):
    desk = await channel_app(widget_origins="https://www.insurer.example")
    customer = await customer_of(desk)
    status, body, _ = await upload(
        desk, customer.session_id, form(PDF), origin="https://evil.example"
    )
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"
    for session_id in (None, "", "x" * 20, customer.session_id + "x"):
        status, body, _ = await upload(desk, session_id, form(PDF))
        assert status == 403 and body["error"]["code"] == "unknown_session", session_id
    assert desk.rows("SELECT count(*) FROM documents") == [(0,)]

    # the insurer's own site may call it across origins
    async with desk.client.options(
        "/channels/web/uploads",
        headers={
            "Origin": "https://www.insurer.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-session-id",
        },
    ) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://www.insurer.example"
        assert "X-Session-Id" in response.headers["Access-Control-Allow-Headers"]
    async with desk.client.options(
        "/channels/web/uploads", headers={"Origin": "https://evil.example"}
    ) as response:
        assert response.status == 403
    status, _, headers = await upload(
        desk, customer.session_id, form(PDF), origin="https://www.insurer.example"
    )
    assert status == 201
    assert headers["Access-Control-Allow-Origin"] == "https://www.insurer.example"


async def test_a_flood_of_files_is_refused_and_nothing_of_it_kept(
    channel_app, customer_of, tmp_path
):
    desk = await channel_app(channel_burst=2, channel_messages_per_minute=1)
    customer = await customer_of(desk)
    statuses = [(await upload(desk, customer.session_id, form(PDF)))[0] for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert desk.rows("SELECT count(*) FROM documents") == [(2,)]
    assert len(stored_files(tmp_path / "uploads")) == 2


async def test_uploads_have_quotas_per_session_and_per_day_stricter_until_verified(
    channel_app, customer_of, tmp_path
):
    desk = await channel_app(
        seed=True, upload_unverified_files=2, upload_session_files=3, upload_day_files=5
    )
    first, second, third = [await customer_of(desk) for _ in range(3)]

    async def sent(customer) -> int:
        status, body, _ = await upload(desk, customer.session_id, form(PDF))
        assert status in (201, 429), body
        if status == 429:
            assert body["error"] == {"code": "upload_quota", "message": REFUSALS["upload_quota"][0]}
        return status

    # unverified: two files a session, and five a day from one address
    assert [await sent(first) for _ in range(3)] == [201, 201, 429]
    assert [await sent(second) for _ in range(3)] == [201, 201, 429]
    assert [await sent(third) for _ in range(2)] == [201, 429]
    assert desk.rows("SELECT count(*) FROM documents") == [(5,)]
    assert len(stored_files(tmp_path / "uploads")) == 5  # nothing kept of the refused
    # verified, the session's quota is three, the day's counted for the customer
    await verify(desk, first.session_id, 1)
    assert [await sent(first) for _ in range(2)] == [201, 429]

    # bytes too: a file that would pass what is left is cut off while it streams
    small = await channel_app(upload_unverified_bytes=len(PDF) + 10)
    customer = await customer_of(small)
    status, _, _ = await upload(small, customer.session_id, form(PDF))
    assert status == 201
    status, body, _ = await upload(small, customer.session_id, form(PDF))
    assert (status, body["error"]["code"]) == (429, "upload_quota")
    assert small.rows("SELECT count(*) FROM documents") == [(1,)]
