"""Deploying a registry model to the running bot, rolling back, and keeping Rasa on
the registry's production model.

A deploy has every Rasa process load the model's file through Rasa's HTTP API
(`PUT /model`, no restart), then moves the production flag and records the
deployment in one transaction. The file is checked against its SHA-256 first; a file
that is missing or changed, or one Rasa will not load, is refused and the running
model keeps serving (a process that had already taken the new model is given the old
one back). While the swap runs, this process's customer turns wait at the Rasa
client's gate and the turns in flight finish first, so none meets Rasa busy loading
and times out into a handoff; dialogue state (a form half filled) lives in Rasa's
SQL tracker store and survives the swap.

A candidate must pass its evaluation's gate unless a supervisor or admin overrides it
with a written reason. A rollback puts back a model that was in production before,
with no gate: it is the way back from a bad deploy, one click.

After a Rasa restart (which loads the Procfile's file) the console loads the
registry's production model again (`reconcile`, at start and every housekeeping
round)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from desk.clock import iso, now
from desk.errors import DeskError
from desk.inputs import Body
from desk.rasa import RasaClient
from desk.training import evaluation
from desk.training.audit import model_change
from desk.training.registry import ModelRegistry
from store.models import Agent, AgentRole
from store.workbench import BotModel, ModelDeployment

log = logging.getLogger(__name__)

TRAINERS = (AgentRole.TRAINER, AgentRole.ADMIN)
# Who may deploy a model its evaluation's gate refused, with a written reason.
OVERRIDERS = (AgentRole.SUPERVISOR, AgentRole.ADMIN)


class Override(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    refusals = {"reason": ("reason_required", "Write why the gate is overridden.")}

    @field_validator("reason")
    @classmethod
    def written(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the reason is empty")
        return value.strip()


def deployment_view(row: ModelDeployment) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "agent_id": row.agent_id,
        "action": row.action,
        "model_id": row.model_id,
        "previous_model_id": row.previous_model_id,
        "override_reason": row.override_reason,
    }


def gate_message(verdict: dict[str, Any]) -> str:
    parts = []
    for reason in verdict.get("reasons", []):
        if reason["code"] == "worse_overall":
            parts.append(
                f"accuracy {reason['candidate']:.1%} against production's "
                f"{reason['production']:.1%}"
            )
        elif reason["code"] == "intent_worse":
            parts.append(
                f"{reason['intent']} F1 {reason['drop_points']:.1f} points below production"
            )
        else:
            parts.append("the model has not been evaluated")
    return (
        "The evaluation's gate refuses this model ("
        + "; ".join(parts)
        + "); a supervisor or admin may override it with a written reason."
    )


class Deployments:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: ModelRegistry,
        rasa: RasaClient,
        urls: list[str] | None = None,
    ):
        self.sessions = sessions
        self.registry = registry
        self.rasa = rasa
        self.urls = rasa.urls(urls)

    async def history(self, limit: int = 50) -> list[ModelDeployment]:
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(ModelDeployment)
                    .options(selectinload(ModelDeployment.agent))
                    .order_by(ModelDeployment.id.desc())
                    .limit(limit)
                )
            )

    async def deploy(
        self, agent: Agent, model_id: int, override: str | None = None
    ) -> ModelDeployment:
        """A trainer (or admin) deploys a model its gate passes; a supervisor or admin
        deploys one it refuses with `override`, the written reason."""
        allowed = OVERRIDERS if override is not None else TRAINERS
        if agent.role not in allowed:
            raise DeskError(
                "forbidden",
                "Only supervisors and admins override the gate."
                if override is not None
                else "Only trainers and admins deploy models.",
                403,
            )
        model = await self.registry.get(model_id)
        verdict = evaluation.verdict(model.metrics)
        if not verdict["passed"] and override is None:
            raise DeskError("gate_refused", gate_message(verdict), 409)
        return await self._swap(agent, model, "deploy", override)

    async def rollback(self, agent: Agent, model_id: int) -> ModelDeployment:
        """Back to a model that was in production before: no gate."""
        if agent.role not in TRAINERS:
            raise DeskError("forbidden", "Only trainers and admins roll models back.", 403)
        model = await self.registry.get(model_id)
        if model.deployed_at is None:
            raise DeskError(
                "never_deployed",
                f"Model {model_id} was never in production; deploy it instead.",
                409,
            )
        return await self._swap(agent, model, "rollback", None)

    async def _swap(
        self, agent: Agent, model: BotModel, action: str, override: str | None
    ) -> ModelDeployment:
        current = await self.registry.production()
        if current is not None and current.id == model.id:
            raise DeskError(
                "already_production", f"Model {model.id} is the production model already.", 409
            )
        await asyncio.to_thread(self.registry.check_file, model)
        path = str(self.registry.path_of(model))
        async with self.rasa.gate.swap():
            loaded: list[str] = []
            for url in self.urls:
                refused = await self.rasa.load_model(path, url)
                if refused is not None:
                    await self._put_back(current, loaded)
                    raise DeskError(
                        "rasa_refused",
                        f"Rasa did not load model {model.id} ({refused}); "
                        "the running model keeps serving.",
                        409,
                    )
                loaded.append(url)
            async with self.sessions.begin() as session:
                # Off first: production is unique, one model at a time.
                await session.execute(
                    update(BotModel).where(BotModel.production.is_(True)).values(production=None)
                )
                await session.execute(
                    update(BotModel)
                    .where(BotModel.id == model.id)
                    .values(production=True, deployed_at=now(), deployed_by=agent.id)
                )
                row = ModelDeployment(
                    agent_id=agent.id,
                    action=action,
                    model_id=model.id,
                    previous_model_id=current.id if current else None,
                    override_reason=override,
                    at=now(),
                )
                session.add(row)
                previous = current.id if current else None
                session.add(model_change(agent, model.id, action, previous, override))
            held = self.rasa.gate.held
        log.info(
            "model %s deployed (%s) by agent %s; %d customer turns waited for it",
            model.id,
            action,
            agent.id,
            held,
        )
        return row

    async def _put_back(self, previous: BotModel | None, urls: list[str]) -> None:
        if previous is None:
            return
        for url in urls:
            refused = await self.rasa.load_model(str(self.registry.path_of(previous)), url)
            if refused is not None:
                log.error(
                    "Rasa at %s could not be given model %s back: %s", url, previous.id, refused
                )

    async def reconcile(self) -> list[str]:
        """Each Rasa process that answers with another model than the registry's
        production one (it restarted with the Procfile's file) is given the
        production model again; returns the URLs that were. A process serving another
        registry model is left alone: a deploy is under way (here or in another
        console process)."""
        if self.rasa.gate.swapping:
            return []
        production = await self.registry.production()
        if production is None:
            return []
        async with self.sessions() as session:
            registered = set(await session.scalars(select(BotModel.file)))
        fixed: list[str] = []
        for url in self.urls:
            status = await self.rasa.model_status(url)
            if status is None or status.get("model_id") == production.rasa_model_id:
                continue
            if status.get("model_file") in registered:
                continue
            try:
                await asyncio.to_thread(self.registry.check_file, production)
            except DeskError as refusal:
                log.error("the production model cannot be loaded again: %s", refusal.message)
                return fixed
            async with self.rasa.gate.swap():
                refused = await self.rasa.load_model(str(self.registry.path_of(production)), url)
            if refused is None:
                log.info("Rasa at %s was given the production model %s again", url, production.id)
                fixed.append(url)
            else:
                log.error("Rasa at %s refused the production model: %s", url, refused)
        return fixed
