"""The models in the console, against a fake Rasa that also has Rasa's model API
(`GET /status`, `PUT /model`, each able to hold until the test lets it go): the
baseline taken in at start, deploy and rollback over the API with the swap holding
customers' turns, the pages (registry, the evaluation beside production's, the
override form), a training followed live on `/trainers`, and Rasa's token never in
anything a browser gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from console.keys import jobs_key, registry_key, service_key
from store.models import Message, SenderKind
from store.workbench import ModelDeployment
from tests.console.test_admin import sign_in
from tests.console_app import bearer, start_console
from tests.desk.models_world import fake_rasa, model_file
from tests.desk.training_project import copy_project

TOKEN = "rasa-token-never-for-browsers"
DEADLINE = 30


@dataclass
class RasaWithModels:
    """Rasa's REST channel and model API. `hold_turns()` / `hold_loads()` keep answers
    back until `release()`; `log` is what arrived, in order."""

    base: str = ""
    model: dict[str, Any] = field(default_factory=lambda: {"model_file": "health-desk.tar.gz"})
    log: list[str] = field(default_factory=list)
    turns: asyncio.Event | None = None
    loads: asyncio.Event | None = None
    loading: asyncio.Event = field(default_factory=asyncio.Event)
    refuse: set[str] = field(default_factory=set)

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.log.append(f"turn {body['message']}")
        if self.turns is not None:
            await self.turns.wait()
        self.log.append(f"answered {body['message']}")
        return web.json_response(
            [{"recipient_id": body["sender"], "text": f"ok {body['message']}"}]
        )

    async def status(self, request: web.Request) -> web.Response:
        assert request.query["token"] == TOKEN
        return web.json_response(self.model)

    async def load(self, request: web.Request) -> web.Response:
        assert request.query["token"] == TOKEN
        path = (await request.json())["model_file"]
        self.log.append(f"load {Path(path).name}")
        self.loading.set()
        if self.loads is not None:
            await self.loads.wait()
        if not Path(path).is_absolute() or Path(path).name in self.refuse:
            return web.json_response({"message": "could not load"}, status=500)
        self.model = {"model_file": Path(path).name, "model_id": f"id-{Path(path).name}"}
        return web.Response(status=204)

    async def alive(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


@pytest.fixture
async def rasa() -> AsyncIterator[RasaWithModels]:
    fake = RasaWithModels()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", fake.webhook)
    app.router.add_get("/status", fake.status)
    app.router.add_put("/model", fake.load)
    app.router.add_get("/", fake.alive)
    app.router.add_get("/health", fake.alive)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake.base = f"http://127.0.0.1:{server.port}"
    yield fake
    await server.close()


@pytest.fixture
async def client(sqlite_url, tmp_path, rasa):
    project = copy_project(tmp_path / "project")
    baseline = model_file(tmp_path / "health-desk.tar.gz", "baseline-id")
    client = await start_console(
        sqlite_url,
        housekeeping=False,
        training_project_dir=str(project.root),
        rasa_url=rasa.base,
        action_server_url=rasa.base,
        rasa_token=TOKEN,
        rasa_timeout_seconds=10,
        rasa_model=str(baseline),
        model_registry_dir=str(tmp_path / "registry"),
    )
    client.tmp = tmp_path
    yield client
    await client.close()


async def candidate(client, name: str, metrics: dict) -> int:
    registry = client.app[registry_key]
    source = model_file(client.tmp / "trained" / f"{name}.tar.gz", f"{name}-id", name.encode())
    model = await registry.register(source, "finetune", "hash")
    await registry.record_metrics(model.id, metrics)
    return model.id


PASSED = {"gate": {"passed": True, "reasons": []}}


def evaluated(candidate_f1: float, production_f1: float) -> dict[str, Any]:
    def side(f1: float, accuracy: float) -> dict[str, Any]:
        language = {
            "count": 2,
            "accuracy": accuracy,
            "intents": {"complain": {"precision": f1, "recall": f1, "f1": f1, "support": 2}},
            "confusions": [
                {"truth": "complain", "predicted": "greet", "count": 1, "examples": ["<b>差</b>"]}
            ],
        }
        return {"overall": {"all": language, "zh": language, "en": language}}

    refused = candidate_f1 < production_f1
    return {
        "candidate": side(candidate_f1, 0.5),
        "production": side(production_f1, 0.5),
        "gate": {
            "passed": not refused,
            "reasons": [
                {
                    "code": "intent_worse",
                    "intent": "complain",
                    "candidate": candidate_f1,
                    "production": production_f1,
                    "drop_points": round((production_f1 - candidate_f1) * 100, 2),
                }
            ]
            if refused
            else [],
        },
    }


async def test_the_baseline_is_taken_in_at_start_as_production(client):
    headers = await bearer(client, "trainer1")
    listed = await (await client.get("/api/v1/training/models", headers=headers)).json()
    [baseline] = listed["models"]
    assert (baseline["kind"], baseline["production"]) == ("baseline", True)
    assert baseline["file"].startswith("baseline-") and "/" not in baseline["file"]
    assert (client.tmp / "registry" / baseline["file"]).is_file()


async def until(condition) -> None:
    """Waits (a poll, with a deadline) until `condition()` holds."""
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_deploy_holds_new_turns_and_lets_turns_in_flight_finish(client, rasa):
    """No customer turn is lost or doubled by a swap, and none waits into a timeout."""
    model_id = await candidate(client, "next", PASSED)
    service = client.app[service_key]
    conversation, _ = await service.open("web", "swap-customer")
    rasa.turns = asyncio.Event()
    await service.customer_message(conversation.id, "before")
    while "turn before" not in rasa.log:
        await asyncio.sleep(0.01)
    headers = await bearer(client, "trainer1")
    rasa.loads = asyncio.Event()
    deploying = asyncio.create_task(
        client.post(f"/api/v1/training/models/{model_id}/deploy", headers=headers)
    )
    # the swap closes the gate and waits for the turn in flight: no load asked yet
    await until(lambda: service.bot.gate.swapping)
    assert rasa.log == ["turn before"]
    rasa.turns.set()
    await asyncio.wait_for(rasa.loading.wait(), DEADLINE)
    # a turn sent during the load waits at the gate, not at Rasa
    await service.customer_message(conversation.id, "during")
    await until(lambda: service.bot.gate.held == 1)
    assert rasa.log[-1].startswith("load finetune-")
    assert service.bot.gate.swapping
    rasa.loads.set()
    deployed = await asyncio.wait_for(deploying, DEADLINE)
    assert deployed.status == 200, await deployed.text()
    await service.wait_for_bot()
    assert [entry.split(" ", 1)[0] for entry in rasa.log] == [
        "turn",
        "answered",
        "load",
        "turn",
        "answered",
    ]
    async with client.app[service_key].sessions() as session:
        bot = await session.scalars(
            select(Message.text)
            .where(Message.conversation_id == conversation.id, Message.sender == SenderKind.BOT)
            .order_by(Message.seq)
        )
        assert list(bot) == ["ok before", "ok during"]
    assert (await client.app[registry_key].production()).id == model_id


async def test_rollback_and_the_deployments_listed(client, rasa):
    headers = await bearer(client, "trainer1")
    baseline = (await client.app[registry_key].production()).id
    model_id = await candidate(client, "next", PASSED)
    assert (
        await client.post(f"/api/v1/training/models/{model_id}/deploy", headers=headers)
    ).status == 200
    back = await client.post(f"/api/v1/training/models/{baseline}/rollback", headers=headers)
    assert back.status == 200
    assert (await back.json())["action"] == "rollback"
    assert rasa.model["model_file"].startswith("baseline-")
    listed = await (await client.get("/api/v1/training/models", headers=headers)).json()
    assert [(d["action"], d["model_id"]) for d in listed["deployments"]] == [
        ("rollback", baseline),
        ("deploy", model_id),
    ]
    # both in the audit log, with the model each replaced
    logged = await (await client.get("/api/v1/training/changes?kind=model", headers=headers)).json()
    assert [
        (e["change"], e["subject"], e["before"], e["agent"]["username"]) for e in logged["entries"]
    ] == [
        ("rollback", str(baseline), str(model_id), "trainer1"),
        ("deploy", str(model_id), str(baseline), "trainer1"),
    ]


async def test_a_model_rasa_refuses_is_not_deployed(client, rasa):
    headers = await bearer(client, "trainer1")
    model_id = await candidate(client, "refused", PASSED)
    rasa.refuse.add((await client.app[registry_key].get(model_id)).file)
    refused = await client.post(f"/api/v1/training/models/{model_id}/deploy", headers=headers)
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "rasa_refused"
    assert (await client.app[registry_key].production()).kind == "baseline"


async def test_the_pages_show_the_evaluation_and_supervisors_override(client, rasa):
    model_id = await candidate(client, "worse", evaluated(0.5, 0.9))
    csrf = await sign_in(client, "trainer1")
    page = await (await client.get("/console/models")).text()
    assert f'id="model-{model_id}"' in page and 'action="/console/models/train"' in page
    # the gate refuses it: no deploy button for the trainer
    assert f'action="/console/models/{model_id}/deploy"' not in page
    detail = await (await client.get(f"/console/models/{model_id}")).text()
    assert 'class="blocking gated"' in detail and "-40.0" in detail
    assert "&lt;b&gt;差&lt;/b&gt;" in detail and "<b>差</b>" not in detail
    refused = await client.post(
        f"/console/models/{model_id}/deploy", data={"csrf": csrf}, allow_redirects=False
    )
    assert refused.headers["Location"] == "/console/models?error=gate_refused"
    # a trainer may not override
    assert f'action="/console/models/{model_id}/override"' not in detail
    await client.post("/logout", data={"csrf": csrf})
    csrf = await sign_in(client, "supervisor1")
    detail = await (await client.get(f"/console/models/{model_id}")).text()
    assert f'action="/console/models/{model_id}/override"' in detail
    empty = await client.post(
        f"/console/models/{model_id}/override",
        data={"csrf": csrf, "reason": "   "},
        allow_redirects=False,
    )
    assert empty.headers["Location"] == "/console/models?error=reason_required"
    done = await client.post(
        f"/console/models/{model_id}/override",
        data={"csrf": csrf, "reason": "complaints are handled by people this week"},
        allow_redirects=False,
    )
    assert done.headers["Location"] == "/console/models?saved=1"
    async with client.app[service_key].sessions() as session:
        row = await session.scalar(select(ModelDeployment))
        assert row.override_reason == "complaints are handled by people this week"
    listed = await (await client.get("/console/models")).text()
    assert "complaints are handled by people this week" in listed
    # the supervisor's override is in the audit log with its reason, found by who
    audit = await (await client.get("/console/changes?agent=supervisor1")).text()
    assert audit.count('class="audit-entry"') == 1
    assert 'data-change="override"' in audit
    assert "complaints are handled by people this week" in audit
    trainer_only = await (await client.get("/console/changes?agent=trainer1")).text()
    assert 'data-change="override"' not in trainer_only
    forbidden = await client.post("/console/models/train", data={"csrf": csrf, "kind": "full"})
    assert forbidden.status == 403
    assert TOKEN not in listed + detail


async def trainers_socket(client, headers: dict[str, str], on_job=None) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    if on_job is not None:
        sio.on("job", on_job, namespace="/trainers")
    await sio.connect(
        client.base,
        namespaces=["/trainers"],
        auth={"token": headers["Authorization"][7:]},
        headers={"Origin": client.base},
        transports=["websocket"],
    )
    return sio


async def test_a_training_followed_live_on_the_trainers_namespace(client, tmp_path):
    rasa_stand_in, _ = fake_rasa(tmp_path / "fake")
    client.app[jobs_key].rasa = rasa_stand_in
    headers = await bearer(client, "trainer1")
    pushed: list[dict] = []
    sio = await trainers_socket(client, headers, on_job=pushed.append)
    try:
        started = await client.post(
            "/api/v1/training/jobs", json={"kind": "finetune"}, headers=headers
        )
        assert started.status == 202, await started.text()
        job = await started.json()
        again = await client.post("/api/v1/training/jobs", json={"kind": "full"}, headers=headers)
        assert (await again.json())["error"]["code"] == "training_running"
        await asyncio.wait_for(client.app[jobs_key].wait(), DEADLINE)
        done = await (
            await client.get(f"/api/v1/training/jobs/{job['id']}", headers=headers)
        ).json()
        assert done["status"] == "succeeded" and done["model_id"]
        assert "DIETClassifier" in done["log_tail"]
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not pushed or pushed[-1]["status"] != "succeeded":
            assert asyncio.get_running_loop().time() < deadline, pushed[-1:]
            await asyncio.sleep(0.05)
        assert any(view["progress"].get("component") == "DIETClassifier" for view in pushed)
        reply = await sio.call("job", {}, namespace="/trainers", timeout=10)
        assert reply["ok"] and reply["job"]["id"] == job["id"]
        log = await (
            await client.get(f"/api/v1/training/jobs/{job['id']}/log", headers=headers)
        ).json()
        assert "Your Rasa model is trained" in log["log"]
    finally:
        await sio.disconnect()


@pytest.mark.parametrize("change", [{"role": "agent"}, {"active": False}])
async def test_a_trainer_moved_to_another_role_or_deactivated_stops_following(client, change):
    trainer, admin = await bearer(client, "trainer1"), await bearer(client, "admin1")
    followed = await trainers_socket(client, trainer)
    closed = asyncio.Event()
    followed.on("disconnect", closed.set, namespace="/trainers")
    bystander = await trainers_socket(client, admin)
    try:
        agents = await (await client.get("/api/v1/agents", headers=admin)).json()
        [trainer_id] = [a["id"] for a in agents["agents"] if a["username"] == "trainer1"]
        changed = await client.patch(f"/api/v1/agents/{trainer_id}", json=change, headers=admin)
        assert changed.status == 200, await changed.text()
        # closed at once, in the process that made the change; nobody else's page
        await asyncio.wait_for(closed.wait(), DEADLINE)
        assert "/trainers" in bystander.namespaces
        assert (await bystander.call("job", {}, namespace="/trainers", timeout=10))["ok"]
        with pytest.raises(socketio.exceptions.ConnectionError):
            await trainers_socket(client, trainer)
    finally:
        await followed.disconnect()
        await bystander.disconnect()
