"""What the tests of the trainer's models share: staff of each role, small model files
(real gzip tarballs with Rasa's `metadata.json`, so the registry reads their model id),
a Rasa client whose model API is a recording fake, and a stand-in for `rasa` that
trains as the test tells it to (prints real-looking progress, fails, or hangs)."""

from __future__ import annotations

import io
import json
import stat
import sys
import tarfile
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.rasa import RasaClient
from store.models import Agent, AgentRole
from tests.passwords import password_hash


async def make_staff(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Agent]:
    """One agent of each role that matters here, by role name."""
    staff = {}
    async with sessions.begin() as session:
        for role in (AgentRole.TRAINER, AgentRole.ADMIN, AgentRole.SUPERVISOR, AgentRole.AGENT):
            agent = Agent(
                username=f"models_{role.value}",
                display_name=role.value,
                password_hash=password_hash("pw"),
                role=role,
                team="general",
            )
            session.add(agent)
            staff[role.value] = agent
    return staff


def model_file(path: Path, model_id: str, filler: bytes = b"weights") -> Path:
    """A small model archive: Rasa's metadata (with `model_id`) and some content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (
            ("components/weights.bin", filler),
            ("metadata.json", json.dumps({"model_id": model_id}).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


class RecordingRasa(RasaClient):
    """The real client's gate and URLs, with Rasa's model API faked: it records each
    load, refuses paths in `refuse`, and reports what each URL has loaded."""

    def __init__(self, http: aiohttp.ClientSession, urls: list[str] | None = None):
        super().__init__(http, "http://rasa-a", "http://actions", 5, token="t")
        self.extra = urls or []
        self.loads: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.loaded: dict[str, dict[str, Any]] = {}

    async def load_model(self, path: str, url: str | None = None) -> str | None:
        url = url or "http://rasa-a"
        self.loads.append((url, path))
        if path in self.refuse:
            return "Rasa answered 500: could not load"
        self.loaded[url] = {"model_file": Path(path).name, "model_id": f"id-of-{Path(path).name}"}
        return None

    async def model_status(self, url: str | None = None) -> dict[str, Any] | None:
        return self.loaded.get(url or "http://rasa-a")


FAKE_RASA = """#!{python}
'''A stand-in for `rasa`: `data validate` passes; `train` does what MODE says.'''
import json, sys, tarfile, io, time, pathlib
args = sys.argv[1:]
mode = pathlib.Path({mode!r}).read_text().strip()
if args[:2] == ["data", "validate"]:
    print("validated")
    sys.exit(1 if mode == "invalid" else 0)
print("2026-12-07 22:27:58 INFO     rasa.engine.training.hooks  - Starting to train "
      "component 'DIETClassifier'.", flush=True)
for n in range(1, 4):
    sys.stdout.write(f"Epochs:  {{n * 33}}%|###       | {{n}}/3 [00:0{{n}}<00:00,  1.00s/it, "
                     f"t_loss=1.{{n}}, i_acc=0.9{{n}}]\\r")
    sys.stdout.flush()
print("", flush=True)
if mode == "hang":
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.05)
    sys.exit(3)
if mode == "refuse":
    print("rasa.shared.exceptions.InvalidConfigException: Cannot finetune because more "
          "than just the 'epoch' keys have been changed in the configuration.", flush=True)
    sys.exit(1)
out = pathlib.Path(args[args.index("--out") + 1])
name = args[args.index("--fixed-model-name") + 1]
target = out / f"{{name}}.tar.gz"
with tarfile.open(target, "w:gz") as archive:
    data = json.dumps({{"model_id": "trained-" + str(time.time())}}).encode()
    info = tarfile.TarInfo("metadata.json")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
print(f"Your Rasa model is trained and saved at '{{target}}'.", flush=True)
"""


def fake_rasa(folder: Path, mode: str = "ok") -> tuple[Path, Path]:
    """The stand-in's path, and the file that sets its mode (write to change it)."""
    folder.mkdir(parents=True, exist_ok=True)
    mode_file = folder / "mode"
    mode_file.write_text(mode)
    script = folder / "rasa"
    script.write_text(FAKE_RASA.format(python=sys.executable, mode=str(mode_file)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, mode_file
