"""A copy of the bot's project files for the workbench's tests (they never touch the
repository's own), and how to tell what an edit changed in it."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from ruamel.yaml import YAML

from desk.training.project import Project

REPOSITORY = Path(__file__).resolve().parents[2]


def copy_project(root: Path) -> Project:
    (root / "bot").mkdir(parents=True)
    for part in ("data", "domain"):
        shutil.copytree(REPOSITORY / "bot" / part, root / "bot" / part)
    shutil.copyfile(REPOSITORY / "config.yml", root / "config.yml")
    return Project(root)


def snapshot(project: Project) -> dict[str, bytes]:
    """Every file under the project, by its path relative to the root."""
    return {
        str(path.relative_to(project.root)): path.read_bytes()
        for path in sorted(project.root.rglob("*"))
        if path.is_file()
    }


def changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines a diff shows as removed (-) and added (+)."""
    diff = difflib.unified_diff(
        before.decode("utf-8").splitlines(), after.decode("utf-8").splitlines(), n=0, lineterm=""
    )
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def changes(before: dict[str, bytes], project: Project) -> dict[str, list[str]]:
    """The files an edit changed, with their changed lines; asserts that no file
    appeared or went (a temporary file left behind, say)."""
    after = snapshot(project)
    assert after.keys() == before.keys()
    return {
        name: changed_lines(before[name], after[name])
        for name in before
        if before[name] != after[name]
    }


def safe_load(path: Path) -> object:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def parsed_examples(path: Path, intent: str) -> list[str]:
    """An intent's examples as a plain YAML parser (and so Rasa) reads the file."""
    document = safe_load(path)
    assert isinstance(document, dict)
    for entry in document["nlu"]:
        if entry.get("intent") == intent:
            return [line[2:] for line in entry["examples"].splitlines()]
    raise AssertionError(f"no intent {intent} in {path}")
