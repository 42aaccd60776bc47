"""The bot's project files as the workbench reads and writes them: where they are,
how a file is loaded and written back, and `rasa data validate` over them.

Files are read and written with ruamel.yaml's round trip, so that an edit keeps
comments, key order, quoting and the block style of `examples: |`, and `git diff`
shows just the edit. A file that would not come back byte for byte even unedited
is refused rather than rewritten. Writes go to a temporary file in the same
directory and are renamed over the old one (readers never see half a file), under
a lock on `bot/data` (or `bot/domain`) as a whole: `flock`, so that it serialises
threads and processes alike, and a move between two files is one step."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import io
import json
import os
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from desk.errors import DeskError

# The repository this code runs from: its Rasa environment and custom components.
CODE_ROOT = Path(__file__).resolve().parents[2]
RASA = CODE_ROOT / ".venv-rasa" / "bin" / "rasa"
VALIDATE_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Project:
    """A Rasa project directory: `config.yml`, `bot/data` and `bot/domain` under root."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "bot" / "data"

    @property
    def domain(self) -> Path:
        return self.root / "bot" / "domain"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    def data_files(self) -> list[Path]:
        return sorted(self.data.rglob("*.yml"))

    def domain_files(self) -> list[Path]:
        return sorted(self.domain.rglob("*.yml"))


class TrainingConflict(DeskError):
    """A write against a version that is no longer current: someone else saved first.
    `current` is what is there now, for the route to answer 409 with the other change."""

    def __init__(self, what: str, current: Any):
        super().__init__(
            "conflict", f"{what} was changed by someone else meanwhile; look again.", 409
        )
        self.current = current


def new_yaml() -> YAML:
    """The round-trip settings that give back this project's files byte for byte."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    # Long responses stay on one line, as written.
    yaml.width = 1_000_000
    yaml.allow_unicode = True
    return yaml


def dump(document: Any) -> str:
    out = io.StringIO()
    new_yaml().dump(document, out)
    return out.getvalue()


class _Parsed:
    """The round-trip parses of the files read lately, by path and exact text: every
    page of the workbench reads the whole project, and ruamel.yaml's pure-Python
    parse costs twenty times a copy of what it built. A file whose text changed is
    parsed again; callers get a copy of their own to edit."""

    SIZE = 256

    def __init__(self) -> None:
        self._documents: OrderedDict[tuple[Path, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, path: Path, text: str) -> Any:
        key = (path, text)
        with self._lock:
            parsed = self._documents.get(key, _Parsed)
            if parsed is not _Parsed:
                self._documents.move_to_end(key)
        if parsed is _Parsed:
            parsed = new_yaml().load(text)
            with self._lock:
                self._documents[key] = parsed
                while len(self._documents) > self.SIZE:
                    self._documents.popitem(last=False)
        return copy.deepcopy(parsed)


_parsed = _Parsed()


@dataclass
class YamlFile:
    """One file, loaded for a round trip."""

    path: Path
    text: str
    document: Any

    @classmethod
    def load(cls, path: Path) -> YamlFile:
        text = path.read_text(encoding="utf-8")
        return cls(path, text, _parsed.document(path, text))

    def check_writable(self) -> None:
        """Refuses a file that even unedited would not be written back as it is."""
        if dump(new_yaml().load(self.text)) != self.text:
            raise DeskError(
                "unwritable_file",
                f"{self.path.name} would not be written back as it is; edit it by hand.",
                409,
            )

    def save(self) -> None:
        """Writes the (edited) document back. Call with the directory's lock held."""
        self.check_writable()
        write_atomic(self.path, dump(self.document))


def write_atomic(path: Path, text: str) -> None:
    """Writes through a temporary file in the same directory, renamed over `path`."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        # A new file gets the mode a checkout gives its files.
        os.chmod(temporary, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Holds the lock of a directory of project files (blocking: call it off the
    event loop, e.g. through asyncio.to_thread)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def version_of(value: Any) -> str:
    """A short hash of what the trainer saw; a write must name the one it saw."""
    encoded = json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:16]


def validate(project: Project, rasa: Path = RASA) -> tuple[bool, str]:
    """Runs `rasa data validate` over the project, as `make` does before training:
    whether it passed, and what it said. Takes seconds: call it off the event loop."""
    command = [
        str(rasa),
        "data",
        "validate",
        "--config",
        "config.yml",
        "--domain",
        "bot/domain",
        "--data",
        "bot/data",
        "--fail-on-warnings",
    ]
    # A home of its own: Rasa and Keras leave their settings files there.
    with tempfile.TemporaryDirectory(prefix="rasa-home-") as home:
        env = {
            "PATH": os.defpath,
            "HOME": home,
            "PYTHONPATH": str(CODE_ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
        }
        try:
            finished = subprocess.run(
                command,
                cwd=project.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=VALIDATE_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else ""
            return False, output + f"\nrasa data validate took over {VALIDATE_TIMEOUT_SECONDS} s"
        except OSError as exc:
            return False, f"rasa could not be run: {exc}"
    return finished.returncode == 0, finished.stdout
