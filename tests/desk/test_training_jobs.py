"""Training jobs, with a stand-in for `rasa` (tests/desk/models_world.py) that trains,
fails, or runs until stopped: one job at a time across processes, cancelling (here
and from another process), a failed or cancelled job leaving no model, and a good one
adding a candidate that is evaluated but not deployed. The real `rasa train` is run
by tests/test_models_stack.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk.clock import now
from desk.errors import DeskError
from desk.training.jobs import STALE_AFTER, JobStart, TrainingJobs
from desk.training.registry import ModelRegistry
from store.models import TrainingChange
from store.workbench import BotModel, TrainingJob
from tests.desk.models_world import fake_rasa, make_staff, model_file

DEADLINE = 30


class Jobs(TrainingJobs):
    """The real jobs, with the evaluation recorded rather than run (it needs Rasa)."""

    evaluated: list[int]

    async def evaluate(self, model: BotModel) -> dict:
        self.evaluated.append(model.id)
        metrics = {"gate": {"passed": True, "reasons": []}}
        await self.registry.record_metrics(model.id, metrics)
        return metrics


@pytest.fixture
async def world(sessions, project, tmp_path) -> AsyncIterator[dict]:
    staff = await make_staff(sessions)
    registry = ModelRegistry(sessions, tmp_path / "registry")
    baseline = model_file(tmp_path / "health-desk.tar.gz", "baseline-id")
    await registry.adopt_baseline(baseline, project)
    rasa, mode = fake_rasa(tmp_path / "fake")
    pushed: list[dict] = []

    async def changed(view: dict) -> None:
        pushed.append(view)

    jobs = Jobs(sessions, registry, project, 0.2, changed=changed, rasa=rasa)
    jobs.evaluated = []
    yield {"jobs": jobs, "staff": staff, "mode": mode, "pushed": pushed, "registry": registry}
    await jobs.stop()


async def until(predicate, what: str):
    """Waits (bounded) for the job to reach a state."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not (found := await predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)
    return found


async def models_count(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(BotModel))


async def test_a_fine_tune_adds_an_evaluated_candidate_not_in_production(world, sessions):
    jobs, trainer = world["jobs"], world["staff"]["trainer"]
    job = await jobs.start(trainer, JobStart(kind="finetune"))
    await jobs.wait()
    done = await jobs.get(job.id)
    assert (done.status, done.active, done.error) == ("succeeded", None, None)
    assert done.base_model_id == (await world["registry"].production()).id
    model = await world["registry"].get(done.model_id)
    assert (model.kind, model.production, model.trained_by) == ("finetune", None, trainer.id)
    assert model.base_model_id == done.base_model_id and model.rasa_model_id.startswith("trained-")
    assert world["registry"].path_of(model).is_file()
    assert jobs.evaluated == [model.id]
    # the progress the stand-in printed was pushed as it came, log included
    assert any(
        v["progress"].get("epoch") == 3 and v["progress"].get("loss") == 1.3
        for v in world["pushed"]
    )
    assert world["pushed"][-1]["status"] == "succeeded"
    assert "Starting to train component 'DIETClassifier'" in done.log


async def test_the_fine_tune_command_continues_from_production(world):
    jobs = world["jobs"]
    production = await world["registry"].production()
    path = world["registry"].path_of(production)
    command = jobs.command("finetune", world["registry"].directory, path)
    assert command[command.index("--finetune") + 1] == str(path)
    assert command[command.index("--epoch-fraction") + 1] == "0.2"
    assert command[command.index("--fixed-model-name") + 1] == "candidate"
    # validated by `rasa data validate --fail-on-warnings` just before
    assert "--skip-validation" in command
    assert "--finetune" not in jobs.command("full", world["registry"].directory, None)


async def test_a_second_training_is_refused_while_one_runs(world, sessions):
    jobs, trainer = world["jobs"], world["staff"]["trainer"]
    world["mode"].write_text("hang")
    first = await jobs.start(trainer, JobStart(kind="full"))
    # another console process, with its own jobs, is refused too: the store decides
    other = TrainingJobs(sessions, world["registry"], jobs.project, rasa=jobs.rasa)
    for starter in (jobs, other):
        with pytest.raises(DeskError) as refused:
            await starter.start(world["staff"]["admin"], JobStart(kind="finetune"))
        assert refused.value.code == "training_running" and refused.value.status == 409
        assert (
            f"({first.id})" in refused.value.message and "已有一个训练任务" in refused.value.message
        )
    await jobs.cancel(trainer, first.id)
    await jobs.wait()
    # once it ended, a new one may start
    world["mode"].write_text("ok")
    second = await jobs.start(trainer, JobStart(kind="full"))
    await jobs.wait()
    assert (await jobs.get(second.id)).status == "succeeded"


async def test_a_cancelled_training_stops_its_process_and_leaves_no_model(world, sessions):
    jobs, trainer = world["jobs"], world["staff"]["trainer"]
    world["mode"].write_text("hang")
    before = await models_count(sessions)
    job = await jobs.start(trainer, JobStart(kind="finetune"))

    async def training() -> bool:
        return (await jobs.get(job.id)).progress.get("epoch") == 3

    await until(training, "the stand-in's epochs")
    process = jobs._processes[job.id]
    await jobs.cancel(trainer, job.id)
    await jobs.wait()
    done = await jobs.get(job.id)
    assert (done.status, done.active, done.model_id, done.cancel_requested) == (
        "cancelled",
        None,
        None,
        True,
    )
    assert process.returncode is not None  # stopped, not left running
    async with sessions() as session:
        audit = await session.scalars(select(TrainingChange).order_by(TrainingChange.id))
        assert [(a.agent_id, a.subject, a.change, a.after) for a in audit] == [
            (trainer.id, f"job:{job.id}", "start", "finetune"),
            (trainer.id, f"job:{job.id}", "cancel", "finetune"),
        ]
    assert await models_count(sessions) == before
    with pytest.raises(DeskError) as again:
        await jobs.cancel(trainer, job.id)
    assert again.value.code == "not_running"


async def test_a_cancel_from_another_process_reaches_the_running_job(world, sessions):
    jobs, trainer = world["jobs"], world["staff"]["trainer"]
    world["mode"].write_text("hang")
    job = await jobs.start(trainer, JobStart(kind="full"))

    async def running() -> bool:
        return (await jobs.get(job.id)).progress.get("epoch") == 3

    await until(running, "the stand-in's epochs")
    other = TrainingJobs(sessions, world["registry"], jobs.project, rasa=jobs.rasa)
    await other.cancel(world["staff"]["admin"], job.id)
    await asyncio.wait_for(jobs.wait(), DEADLINE)
    assert (await jobs.get(job.id)).status == "cancelled"


@pytest.mark.parametrize(
    "mode, error",
    [
        ("refuse", "Rasa refused to fine-tune the production model"),
        ("invalid", "rasa data validate refused the data."),
    ],
)
async def test_a_failed_training_says_why_and_leaves_no_model(world, sessions, mode, error):
    jobs = world["jobs"]
    world["mode"].write_text(mode)
    before = await models_count(sessions)
    job = await jobs.start(world["staff"]["trainer"], JobStart(kind="finetune"))
    await jobs.wait()
    done = await jobs.get(job.id)
    assert (done.status, done.active, done.model_id) == ("failed", None, None)
    assert done.error.startswith(error)
    assert await models_count(sessions) == before
    assert (await world["registry"].production()).kind == "baseline"


async def test_only_trainers_and_admins_train(world):
    for role in ("supervisor", "agent"):
        with pytest.raises(DeskError) as refused:
            await world["jobs"].start(world["staff"][role], JobStart(kind="full"))
        assert refused.value.status == 403


async def test_a_fine_tune_needs_a_production_model(sessions, project, tmp_path):
    staff = await make_staff(sessions)
    jobs = TrainingJobs(sessions, ModelRegistry(sessions, tmp_path / "empty"), project)
    with pytest.raises(DeskError) as refused:
        await jobs.start(staff["trainer"], JobStart(kind="finetune"))
    assert refused.value.code == "no_production_model"


async def test_a_job_whose_process_died_is_failed_and_frees_the_next(world, sessions):
    jobs, trainer = world["jobs"], world["staff"]["trainer"]
    async with sessions.begin() as session:
        session.add(
            TrainingJob(
                kind="full",
                status="running",
                active=True,
                requested_by=trainer.id,
                holder="gone:1",
                progress={},
                log="",
                heartbeat_at=now() - STALE_AFTER - timedelta(seconds=1),
            )
        )
    assert await jobs.expire_stale() == 1
    [dead] = await jobs.recent()
    assert (dead.status, dead.active) == ("failed", None)
    job = await jobs.start(trainer, JobStart(kind="full"))
    await jobs.wait()
    assert (await jobs.get(job.id)).status == "succeeded"
    # a job that beats is left alone
    assert await jobs.expire_stale() == 0
