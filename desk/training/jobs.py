"""Training jobs started from the workbench: `rasa train` in Rasa's environment, in the
background, one at a time across every console process, cancellable, its progress
and log kept on the job and pushed to the trainers' pages as it goes.

Two kinds: `full` trains from scratch (for a release); `finetune` continues from the
production model's weights on the current data (`--finetune`, a fraction of the
epochs) for quick iterations. Rasa fine-tunes only a model trained with the same
config and a compatible domain (no intent, action or slot added or removed); when it
refuses, the job fails saying so and a full training is the way.

A job that fails or is cancelled leaves no model in the registry, and nothing it
does touches the running bot: a successful one adds a candidate (not in production),
which is then evaluated against production. A second start while one runs is
refused (`TrainingJob.active` is unique); a cancel reaches the process running the
job through `cancel_requested`, and a job whose process died is found by its stale
heartbeat and marked failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.clock import iso, now
from desk.errors import DeskError
from desk.inputs import Body
from desk.training import evaluation, progress
from desk.training.project import CODE_ROOT, RASA, Project, validate
from desk.training.registry import ModelRegistry, data_hash
from store.models import Agent, AgentRole, TrainingChange
from store.workbench import BotModel, TrainingJob

log = logging.getLogger(__name__)

TRAINERS = (AgentRole.TRAINER, AgentRole.ADMIN)
LOG_TAIL_CHARS = 20_000
LOG_PUSH_CHARS = 4_000
# How often a running job's progress, log and heartbeat are written (and pushed).
WRITE_EVERY_SECONDS = 1.0
STALE_AFTER = timedelta(minutes=3)
KILL_GRACE_SECONDS = 5
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MODEL_NAME = "candidate"

Changed = Callable[[dict[str, Any]], Awaitable[None]]


class JobStart(Body):
    kind: Literal["finetune", "full"]
    refusals = {"kind": ("bad_kind", "kind is finetune or full.")}


def check_trainer(agent: Agent) -> None:
    if agent.role not in TRAINERS:
        raise DeskError("forbidden", "Only trainers and admins train the bot.", 403)


def job_view(job: TrainingJob, with_log: bool = False) -> dict[str, Any]:
    """A job as the API, the page and the pushes show it (`log_tail`: the end of its log)."""
    view = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "active": bool(job.active),
        "requested_by": job.requested_by,
        "cancel_requested": job.cancel_requested,
        "base_model_id": job.base_model_id,
        "model_id": job.model_id,
        "progress": job.progress or {},
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }
    if with_log:
        view["log_tail"] = (job.log or "")[-LOG_PUSH_CHARS:]
    return view


async def _nothing(view: dict[str, Any]) -> None:
    return None


def _audit(agent: Agent, job_id: int, change: str, kind: str) -> TrainingChange:
    """Starting and cancelling a training go to the workbench's change log too."""
    return TrainingChange(
        agent_id=agent.id,
        subject_kind="training",
        subject=f"job:{job_id}",
        change=change,
        after=kind,
    )


class TrainingJobs:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: ModelRegistry,
        project: Project,
        epoch_fraction: float = 0.2,
        changed: Changed | None = None,
        rasa: Path = RASA,
    ):
        self.sessions = sessions
        self.registry = registry
        self.project = project
        self.epoch_fraction = epoch_fraction
        self.changed = changed or _nothing
        self.rasa = rasa
        self.holder = f"{socket.gethostname()[:20]}:{os.getpid()}"
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._cancels: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()

    # ---- reading ------------------------------------------------------------------------

    async def get(self, job_id: int) -> TrainingJob:
        async with self.sessions() as session:
            job = await session.get(TrainingJob, job_id)
        if job is None:
            raise DeskError("not_found", f"There is no training job {job_id}.", 404)
        return job

    async def recent(self, limit: int = 20) -> list[TrainingJob]:
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)
                )
            )

    async def active(self) -> TrainingJob | None:
        async with self.sessions() as session:
            return await session.scalar(select(TrainingJob).where(TrainingJob.active.is_(True)))

    # ---- starting and cancelling ----------------------------------------------------------

    async def start(self, agent: Agent, start: JobStart) -> TrainingJob:
        """Queues a job and runs it in the background; refused while another runs."""
        check_trainer(agent)
        base: BotModel | None = None
        if start.kind == "finetune":
            base = await self.registry.production()
            if base is None:
                raise DeskError(
                    "no_production_model",
                    "There is no production model to fine-tune; run a full training. "
                    "没有可微调的生产模型，请进行完整训练。",
                    409,
                )
        job = TrainingJob(
            kind=start.kind,
            status="queued",
            active=True,
            requested_by=agent.id,
            holder=self.holder,
            base_model_id=base.id if base else None,
            progress={"stage": "queued"},
            log="",
            heartbeat_at=now(),
        )
        try:
            async with self.sessions.begin() as session:
                session.add(job)
        except IntegrityError:
            running = await self.active()
            number = f" ({running.id})" if running else ""
            raise DeskError(
                "training_running",
                f"A training job{number} is already running; wait for it to finish or "
                f"cancel it. 已有一个训练任务{number}在进行，请等它结束或先取消。",
                409,
            ) from None
        async with self.sessions.begin() as session:
            session.add(_audit(agent, job.id, "start", start.kind))
        self._cancels[job.id] = asyncio.Event()
        task = asyncio.create_task(self.run(job.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await self.changed(job_view(job, with_log=True))
        return job

    async def cancel(self, agent: Agent, job_id: int) -> TrainingJob:
        """Asks the job to stop: at once in this process, at the running process's next
        progress write in another."""
        check_trainer(agent)
        async with self.sessions.begin() as session:
            job = await session.get(TrainingJob, job_id)
            if job is None:
                raise DeskError("not_found", f"There is no training job {job_id}.", 404)
            if not job.active:
                raise DeskError("not_running", f"Training job {job_id} is not running.", 409)
            job.cancel_requested = True
            session.add(_audit(agent, job_id, "cancel", job.kind))
        if job_id in self._cancels:
            self._cancels[job_id].set()
        return job

    async def wait(self) -> None:
        """Lets this process's jobs finish (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Shutdown: this process's jobs are cancelled (their processes killed)."""
        for event in self._cancels.values():
            event.set()
        await self.wait()

    async def expire_stale(self) -> int:
        """Jobs whose process stopped beating (it died) are marked failed, so a new
        training may start. Returns how many."""
        limit = now() - STALE_AFTER
        async with self.sessions.begin() as session:
            stale = list(
                await session.scalars(
                    select(TrainingJob).where(
                        TrainingJob.active.is_(True), TrainingJob.heartbeat_at < limit
                    )
                )
            )
            for job in stale:
                job.status, job.active, job.finished_at = "failed", None, now()
                job.error = "The console process running this training stopped."
        return len(stale)

    # ---- running --------------------------------------------------------------------------

    def command(self, kind: str, out: Path, base: Path | None) -> list[str]:
        command = [
            str(self.rasa),
            "train",
            "--config",
            "config.yml",
            "--domain",
            "bot/domain",
            "--data",
            "bot/data",
            "--out",
            str(out),
            "--fixed-model-name",
            MODEL_NAME,
            # `rasa data validate --fail-on-warnings` has just passed: not twice.
            "--skip-validation",
        ]
        if kind == "finetune" and base is not None:
            command += ["--finetune", str(base), "--epoch-fraction", str(self.epoch_fraction)]
        nice = shutil.which("nice", path=os.defpath)
        # Below the bot and the console: a training takes what they leave.
        return [nice, "-n", "10", *command] if nice else command

    async def _write(self, job_id: int, **values: Any) -> dict[str, Any] | None:
        """Writes to the job, pushes its view; the view, or None if it is gone."""
        async with self.sessions.begin() as session:
            job = await session.get(TrainingJob, job_id)
            if job is None:
                return None
            for key, value in values.items():
                setattr(job, key, value)
            job.heartbeat_at = now()
            view = job_view(job, with_log=True)
            cancel = job.cancel_requested
        if cancel and job_id in self._cancels:
            self._cancels[job_id].set()
        await self.changed(view)
        return view

    async def _finish(self, job_id: int, status: str, error: str | None = None, **values) -> None:
        await self._write(
            job_id, status=status, active=None, finished_at=now(), error=error, **values
        )

    async def run(self, job_id: int) -> None:
        """The whole job; never raises (a failure is the job's status)."""
        cancelled = self._cancels.setdefault(job_id, asyncio.Event())
        scratch = Path(tempfile.mkdtemp(prefix="health-desk-training-"))
        try:
            job = await self.get(job_id)
            await self._write(
                job_id, status="running", started_at=now(), progress={"stage": "validating"}
            )
            passed, said = await asyncio.to_thread(validate, self.project, self.rasa)
            if not passed:
                await self._finish(
                    job_id,
                    "failed",
                    "rasa data validate refused the data.",
                    log=said[-LOG_TAIL_CHARS:],
                )
                return
            if cancelled.is_set():
                await self._finish(job_id, "cancelled", progress={"stage": "cancelled"})
                return
            base = await self.registry.get(job.base_model_id) if job.base_model_id else None
            trained_on = await asyncio.to_thread(data_hash, self.project)
            base_path = self.registry.path_of(base) if base else None
            code, output = await self._train(job_id, job.kind, scratch, base_path, cancelled)
            produced = scratch / f"{MODEL_NAME}.tar.gz"
            if cancelled.is_set():
                await self._finish(job_id, "cancelled", progress={"stage": "cancelled"})
                return
            if code != 0 or not produced.is_file():
                await self._finish(job_id, "failed", failure_of(job.kind, code, output))
                return
            await self._write(job_id, progress={"stage": "registering"})
            model = await self.registry.register(
                produced, job.kind, trained_on, job.requested_by, job.base_model_id
            )
            await self._write(job_id, model_id=model.id, progress={"stage": "evaluating"})
            await self.evaluate(model)
            await self._finish(job_id, "succeeded", progress={"stage": "done"})
        except Exception as exc:  # noqa: BLE001 - a job's failure is its status
            log.exception("training job %s failed", job_id)
            with contextlib.suppress(Exception):
                await self._finish(job_id, "failed", f"The training failed: {exc}")
        finally:
            self._cancels.pop(job_id, None)
            shutil.rmtree(scratch, ignore_errors=True)

    async def evaluate(self, model: BotModel) -> dict[str, Any]:
        """The candidate against production on the same texts, kept on the model."""
        production = await self.registry.production()
        other = production if production is not None and production.id != model.id else None
        try:
            metrics = await evaluation.evaluate(
                self.sessions,
                self.project,
                self.registry.path_of(model),
                self.registry.path_of(other) if other else None,
                other.trained_at if other else None,
            )
            metrics["production_model_id"] = other.id if other else None
        except Exception as exc:  # noqa: BLE001 - the model stays, marked not evaluated
            log.exception("evaluating model %s failed", model.id)
            metrics = {"error": str(exc)[-2000:]}
        await self.registry.record_metrics(model.id, metrics)
        return metrics

    async def _train(
        self, job_id: int, kind: str, out: Path, base: Path | None, cancelled: asyncio.Event
    ) -> tuple[int, str]:
        """Runs `rasa train`, following its output; (exit code, the log's tail)."""
        home = out / "home"
        home.mkdir()
        env = {
            "PATH": os.defpath,
            "HOME": str(home),
            "PYTHONPATH": str(CODE_ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
        process = await asyncio.create_subprocess_exec(
            *self.command(kind, out, base),
            cwd=self.project.root,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own process group: a cancel stops Rasa and whatever it started.
            start_new_session=True,
        )
        self._processes[job_id] = process
        tail = ""
        state: dict[str, Any] = {"stage": "starting"}
        last_write = 0.0
        loop = asyncio.get_running_loop()
        assert process.stdout is not None
        reading: asyncio.Future[bytes] | None = None
        try:
            while True:
                if reading is None:
                    reading = asyncio.ensure_future(process.stdout.read(8192))
                await asyncio.wait({reading}, timeout=WRITE_EVERY_SECONDS)
                if cancelled.is_set():
                    reading.cancel()
                    await kill(process)
                    break
                if reading.done():
                    chunk, reading = reading.result(), None
                    if not chunk:
                        break
                    text = ANSI.sub("", chunk.decode("utf-8", "replace"))
                    tail = (tail + text)[-LOG_TAIL_CHARS:]
                    for line in progress.lines_of(text):
                        progress.advance(state, line)
                # Also with nothing new: the heartbeat, and another process's cancel.
                if loop.time() - last_write >= WRITE_EVERY_SECONDS:
                    last_write = loop.time()
                    await self._write(job_id, progress=dict(state), log=tail)
            code = await process.wait()
        finally:
            self._processes.pop(job_id, None)
            if process.returncode is None:
                await kill(process)
        await self._write(job_id, progress=dict(state), log=tail)
        return code, tail


async def kill(process: asyncio.subprocess.Process) -> None:
    """Stops a training's whole process group: politely, then for good."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sent)
        try:
            await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
            return
        except TimeoutError:
            continue


def failure_of(kind: str, code: int, output: str) -> str:
    """Why a training failed, as a trainer can act on it."""
    lines = progress.lines_of(output)
    refusal = next((line for line in lines if "Cannot finetune" in line), None)
    if kind == "finetune" and refusal:
        return (
            "Rasa refused to fine-tune the production model on this data (the config, the "
            "domain or the intents changed since it was trained); run a full training. "
            f"Rasa said: {refusal.strip()[:500]}"
        )
    last = lines[-1].strip()[:500] if lines else ""
    return f"rasa train failed (exit code {code}). {last}"
