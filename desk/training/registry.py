"""The model registry: every model the bot may answer with, kept as a file of its own
under `MODEL_REGISTRY_DIR` (never overwritten) and a `BotModel` row with its hash,
what it was trained on, by whom, how it scored and whether it is in production.

The registry starts from the model Rasa was started with: an empty registry takes
that file in as the production `baseline`. Files are checked against their SHA-256
before any deploy, so a model file that went missing or changed is never loaded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.clock import iso, now
from desk.errors import DeskError
from desk.training.project import Project
from store.workbench import BotModel

KINDS = ("baseline", "finetune", "full")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rasa_model_id(path: Path) -> str | None:
    """The `model_id` in a Rasa model's metadata (what Rasa's `GET /status` reports)."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if member.name.lstrip("/") == "metadata.json":
                    extracted = archive.extractfile(member)
                    if extracted is None:
                        return None
                    return str(json.load(extracted).get("model_id") or "") or None
    except (OSError, tarfile.TarError, ValueError):
        return None
    return None


def data_hash(project: Project) -> str:
    """A hash of what a model is trained on: the config, the domain and the data."""
    digest = hashlib.sha256()
    for path in [project.config, *project.domain_files(), *project.data_files()]:
        digest.update(str(path.relative_to(project.root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def model_view(model: BotModel) -> dict[str, Any]:
    """A model as the API and pages show it (the file's name, never a path)."""
    return {
        "id": model.id,
        "file": model.file,
        "sha256": model.sha256,
        "rasa_model_id": model.rasa_model_id,
        "kind": model.kind,
        "base_model_id": model.base_model_id,
        "data_hash": model.data_hash,
        "trained_by": model.trained_by,
        "trained_at": iso(model.trained_at),
        "production": bool(model.production),
        "deployed_at": iso(model.deployed_at),
        "deployed_by": model.deployed_by,
        "metrics": model.metrics or {},
    }


class ModelRegistry:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], directory: Path):
        self.sessions = sessions
        self.directory = directory

    def path_of(self, model: BotModel) -> Path:
        return (self.directory / model.file).resolve()

    async def production(self) -> BotModel | None:
        async with self.sessions() as session:
            return await session.scalar(select(BotModel).where(BotModel.production.is_(True)))

    async def get(self, model_id: int) -> BotModel:
        async with self.sessions() as session:
            model = await session.get(BotModel, model_id)
        if model is None:
            raise DeskError("not_found", f"There is no model {model_id}.", 404)
        return model

    async def models(self) -> list[BotModel]:
        """Newest first."""
        async with self.sessions() as session:
            return list(
                await session.scalars(select(BotModel).order_by(BotModel.id.desc()).limit(200))
            )

    async def is_empty(self) -> bool:
        async with self.sessions() as session:
            return await session.scalar(select(BotModel.id).limit(1)) is None

    def _keep(self, source: Path, kind: str) -> tuple[str, str, str | None]:
        """Copies `source` in under a name of its own; (name, sha256, Rasa's model id).
        Blocking: call it off the event loop."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sha = file_sha256(source)
        name = f"{kind}-{now().strftime('%Y%m%d-%H%M%S')}-{sha[:10]}.tar.gz"
        target = self.directory / name
        if not target.exists():
            # Through a temporary file: a half-copied model is never under its name.
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
            os.close(descriptor)
            try:
                shutil.copyfile(source, temporary)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return name, sha, rasa_model_id(target)

    async def register(
        self,
        source: Path,
        kind: str,
        data: str,
        trained_by: int | None = None,
        base_model_id: int | None = None,
        production: bool = False,
    ) -> BotModel:
        """A trained model file taken into the registry (copied; the source stays)."""
        if kind not in KINDS:
            raise DeskError("malformed", f"A model's kind is one of {', '.join(KINDS)}.", 400)
        name, sha, model_id = await asyncio.to_thread(self._keep, source, kind)
        model = BotModel(
            file=name,
            sha256=sha,
            rasa_model_id=model_id,
            kind=kind,
            base_model_id=base_model_id,
            data_hash=data,
            trained_by=trained_by,
            metrics={},
            production=True if production else None,
            deployed_at=now() if production else None,
        )
        async with self.sessions.begin() as session:
            session.add(model)
        return model

    async def adopt_baseline(self, source: Path, project: Project) -> BotModel | None:
        """An empty registry takes in the model Rasa was started with, as the
        production baseline. None when the registry has models already (or the file
        is missing); two console processes starting at once register it once."""
        if not await self.is_empty() or not source.is_file():
            return None
        data = await asyncio.to_thread(data_hash, project)
        try:
            return await self.register(source, "baseline", data, production=True)
        except IntegrityError:
            return None  # another process registered it first (same name, same file)

    async def record_metrics(self, model_id: int, metrics: dict[str, Any]) -> None:
        async with self.sessions.begin() as session:
            model = await session.get(BotModel, model_id)
            if model is not None:
                model.metrics = metrics

    def check_file(self, model: BotModel) -> None:
        """Refuses a model whose file is missing or is not the file registered.
        Blocking (it hashes the file): call it off the event loop."""
        path = self.path_of(model)
        if not path.is_file():
            raise DeskError(
                "model_file_missing",
                f"The file of model {model.id} is missing; it cannot be deployed.",
                409,
            )
        if file_sha256(path) != model.sha256:
            raise DeskError(
                "model_file_corrupt",
                f"The file of model {model.id} has changed since it was registered "
                "(its SHA-256 differs); it cannot be deployed.",
                409,
            )
