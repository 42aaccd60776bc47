"""The model registry and deployments, with Rasa's model API faked (the real swap is
in tests/test_models_stack.py): the baseline taken in once, the gate and its
override, files missing or changed refused before Rasa is asked, a Rasa that refuses
leaving the old model serving everywhere, rollback, the keeper that puts the
production model back after a Rasa restart, and the gate that holds customers' turns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from desk.errors import DeskError
from desk.rasa import SwapGate
from desk.training.deploy import Deployments
from desk.training.registry import ModelRegistry, data_hash, file_sha256
from store.workbench import BotModel, ModelDeployment
from tests.desk.models_world import RecordingRasa, make_staff, model_file

PASSED = {"gate": {"passed": True, "reasons": []}}
REFUSED = {
    "gate": {
        "passed": False,
        "reasons": [{"code": "intent_worse", "intent": "complain", "drop_points": 4.0}],
    }
}


@pytest.fixture
async def world(sessions, project, tmp_path) -> AsyncIterator[dict]:
    staff = await make_staff(sessions)
    registry = ModelRegistry(sessions, tmp_path / "registry")
    baseline = await registry.adopt_baseline(
        model_file(tmp_path / "health-desk.tar.gz", "baseline-id"), project
    )
    async with aiohttp.ClientSession() as http:
        rasa = RecordingRasa(http)
        deployments = Deployments(sessions, registry, rasa, ["http://rasa-a", "http://rasa-b"])
        yield {
            "registry": registry,
            "rasa": rasa,
            "deployments": deployments,
            "staff": staff,
            "baseline": baseline,
            "tmp": tmp_path,
            "project": project,
        }


async def candidate(world, name: str, metrics: dict) -> BotModel:
    source = model_file(world["tmp"] / "trained" / f"{name}.tar.gz", f"{name}-id", name.encode())
    model = await world["registry"].register(
        source, "finetune", "hash", world["staff"]["trainer"].id
    )
    await world["registry"].record_metrics(model.id, metrics)
    return await world["registry"].get(model.id)


async def deployments_of(sessions) -> list[tuple]:
    async with sessions() as session:
        rows = await session.scalars(select(ModelDeployment).order_by(ModelDeployment.id))
        return [(r.action, r.model_id, r.previous_model_id, r.override_reason) for r in rows]


async def test_an_empty_registry_takes_in_rasas_model_once(world, project):
    baseline = world["baseline"]
    assert (baseline.kind, baseline.production, baseline.rasa_model_id) == (
        "baseline",
        True,
        "baseline-id",
    )
    path = world["registry"].path_of(baseline)
    assert path.parent == (world["tmp"] / "registry").resolve()
    assert file_sha256(path) == baseline.sha256 == file_sha256(world["tmp"] / "health-desk.tar.gz")
    assert baseline.data_hash == data_hash(project)
    again = await world["registry"].adopt_baseline(world["tmp"] / "health-desk.tar.gz", project)
    assert again is None and len(await world["registry"].models()) == 1


async def test_the_data_hash_follows_the_data(project):
    before = data_hash(project)
    nlu = next(project.data.rglob("*.yml"))
    nlu.write_text(nlu.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert data_hash(project) != before


async def test_a_deploy_loads_every_rasa_then_moves_production(world, sessions):
    model = await candidate(world, "better", PASSED)
    trainer = world["staff"]["trainer"]
    row = await world["deployments"].deploy(trainer, model.id)
    path = str(world["registry"].path_of(model))
    assert world["rasa"].loads == [("http://rasa-a", path), ("http://rasa-b", path)]
    assert (row.action, row.model_id, row.previous_model_id) == (
        "deploy",
        model.id,
        world["baseline"].id,
    )
    production = await world["registry"].production()
    assert production.id == model.id and production.deployed_by == trainer.id
    assert (await world["registry"].get(world["baseline"].id)).production is None
    with pytest.raises(DeskError) as again:
        await world["deployments"].deploy(trainer, model.id)
    assert again.value.code == "already_production"


async def test_the_gate_refuses_and_only_supervisors_and_admins_override(world, sessions):
    model = await candidate(world, "worse", REFUSED)
    with pytest.raises(DeskError) as refused:
        await world["deployments"].deploy(world["staff"]["trainer"], model.id)
    assert refused.value.code == "gate_refused"
    assert "complain F1 4.0 points below production" in refused.value.message
    for role in ("trainer", "agent"):
        with pytest.raises(DeskError) as forbidden:
            await world["deployments"].deploy(world["staff"][role], model.id, "I say so")
        assert forbidden.value.status == 403
    assert world["rasa"].loads == []
    supervisor = world["staff"]["supervisor"]
    await world["deployments"].deploy(supervisor, model.id, "complaints are rare this week")
    assert (await world["registry"].production()).id == model.id
    assert await deployments_of(sessions) == [
        ("deploy", model.id, world["baseline"].id, "complaints are rare this week")
    ]


async def test_a_model_never_evaluated_needs_an_override(world):
    model = await candidate(world, "unevaluated", {})
    with pytest.raises(DeskError) as refused:
        await world["deployments"].deploy(world["staff"]["admin"], model.id)
    assert refused.value.code == "gate_refused"


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
async def test_a_missing_or_changed_file_is_refused_before_rasa_is_asked(world, sessions, damage):
    model = await candidate(world, "damaged", PASSED)
    path = world["registry"].path_of(model)
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(DeskError) as refused:
        await world["deployments"].deploy(world["staff"]["trainer"], model.id)
    assert refused.value.code == f"model_file_{damage}"
    assert world["rasa"].loads == []
    assert (await world["registry"].production()).id == world["baseline"].id
    assert await deployments_of(sessions) == []


async def test_a_model_rasa_refuses_leaves_the_old_one_serving_everywhere(world, sessions):
    model = await candidate(world, "refused", PASSED)
    new = str(world["registry"].path_of(model))
    old = str(world["registry"].path_of(world["baseline"]))
    # the first process takes it, the second refuses: the first gets the old one back
    world["rasa"].load_model = _refuse_on_b(world["rasa"], new)
    with pytest.raises(DeskError) as refused:
        await world["deployments"].deploy(world["staff"]["trainer"], model.id)
    assert refused.value.code == "rasa_refused"
    assert world["rasa"].loads == [
        ("http://rasa-a", new),
        ("http://rasa-b", new),
        ("http://rasa-a", old),
    ]
    assert (await world["registry"].production()).id == world["baseline"].id
    assert await deployments_of(sessions) == []


def _refuse_on_b(rasa: RecordingRasa, path: str):
    async def load_model(model_path: str, url: str | None = None) -> str | None:
        rasa.loads.append((url or "", model_path))
        if model_path == path and url == "http://rasa-b":
            return "Rasa answered 500"
        return None

    return load_model


async def test_rollback_is_to_a_model_that_was_in_production(world, sessions):
    trainer = world["staff"]["trainer"]
    first = await candidate(world, "first", PASSED)
    never = await candidate(world, "never", PASSED)
    await world["deployments"].deploy(trainer, first.id)
    with pytest.raises(DeskError) as refused:
        await world["deployments"].rollback(trainer, never.id)
    assert refused.value.code == "never_deployed"
    with pytest.raises(DeskError) as supervisor:
        await world["deployments"].rollback(world["staff"]["supervisor"], world["baseline"].id)
    assert supervisor.value.status == 403
    # the baseline was production once: back to it, even with a failing gate of its own
    await world["deployments"].rollback(trainer, world["baseline"].id)
    assert (await world["registry"].production()).id == world["baseline"].id
    assert world["rasa"].loaded["http://rasa-b"]["model_file"] == world["baseline"].file
    assert await deployments_of(sessions) == [
        ("deploy", first.id, world["baseline"].id, None),
        ("rollback", world["baseline"].id, first.id, None),
    ]


async def test_the_keeper_puts_production_back_on_a_restarted_rasa(world):
    rasa, baseline = world["rasa"], world["baseline"]
    prod = str(world["registry"].path_of(baseline))
    # rasa-a restarted with the Procfile's file (another model id); rasa-b serves
    # production; a third answer: nothing (down or loading)
    rasa.loaded = {
        "http://rasa-a": {"model_file": "health-desk.tar.gz", "model_id": "older"},
        "http://rasa-b": {"model_file": "x.tar.gz", "model_id": "baseline-id"},
    }
    assert await world["deployments"].reconcile() == ["http://rasa-a"]
    assert rasa.loads == [("http://rasa-a", prod)]
    # the Procfile's file with the production model's id: nothing to do
    rasa.loaded["http://rasa-a"] = {"model_file": "health-desk.tar.gz", "model_id": "baseline-id"}
    rasa.loads.clear()
    assert await world["deployments"].reconcile() == []
    # a registry model that is not production: a deploy is under way somewhere
    other = await candidate(world, "elsewhere", PASSED)
    rasa.loaded["http://rasa-a"] = {"model_file": other.file, "model_id": "elsewhere-id"}
    assert await world["deployments"].reconcile() == [] and rasa.loads == []


async def test_the_swap_waits_for_turns_in_flight_and_holds_new_ones():
    gate = SwapGate()
    order: list[str] = []
    in_flight_may_end = asyncio.Event()

    async def turn(name: str, hold: asyncio.Event | None = None) -> None:
        async with gate.turn():
            order.append(f"{name} starts")
            if hold is not None:
                await hold.wait()
            order.append(f"{name} ends")

    async def swap() -> None:
        async with gate.swap():
            order.append("swap")

    first = asyncio.create_task(turn("in flight", in_flight_may_end))
    await asyncio.sleep(0)
    swapping = asyncio.create_task(swap())
    await asyncio.sleep(0)
    assert gate.swapping
    later = asyncio.create_task(turn("later"))
    await asyncio.sleep(0)
    assert order == ["in flight starts"]  # the swap waits, the later turn waits
    in_flight_may_end.set()
    await asyncio.wait_for(asyncio.gather(first, swapping, later), 5)
    assert order == ["in flight starts", "in flight ends", "swap", "later starts", "later ends"]
    assert not gate.swapping
