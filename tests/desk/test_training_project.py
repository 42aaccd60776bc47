"""How the workbench writes the bot's project files: atomically, one writer at a
time, and checked by `rasa data validate`."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from desk.training import examples
from desk.training import project as project_files
from tests.desk.training_project import snapshot

FAQ = "bot/data/nlu/faq.yml"


def test_a_write_replaces_the_file_and_leaves_no_temporary_file(project):
    path = project.root / FAQ
    before = os.stat(path)
    seen = examples.intent_examples(project, "faq/hospitals")

    examples.add_example(project, "faq/hospitals", "私立医院能报销吗", seen.version)

    after = os.stat(path)
    # renamed over, not rewritten in place: a reader sees the old file or the new one
    assert after.st_ino != before.st_ino
    assert after.st_mode == before.st_mode
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        p.name for p in (project_files.CODE_ROOT / "bot" / "data" / "nlu").iterdir()
    )


def test_a_write_that_fails_leaves_the_file_as_it_was(project, monkeypatch):
    before = snapshot(project)
    seen = examples.intent_examples(project, "faq/hospitals")

    def failing_replace(source: str, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(project_files.os, "replace", failing_replace)
    with pytest.raises(OSError):
        examples.add_example(project, "faq/hospitals", "私立医院能报销吗", seen.version)

    assert snapshot(project) == before


def test_a_write_holds_the_lock_of_the_projects_data(project, monkeypatch):
    held = []
    write = project_files.write_atomic

    def checking_write(path: Path, text: str) -> None:
        descriptor = os.open(project.data, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(descriptor)
        write(path, text)

    monkeypatch.setattr(project_files, "write_atomic", checking_write)
    seen = examples.intent_examples(project, "greet")
    examples.add_example(project, "greet", "hello again friend", seen.version)

    assert held == [True]


def test_rasa_validates_the_project_after_an_edit(project):
    seen = examples.intent_examples(project, "faq/hospitals")
    examples.add_example(project, "faq/hospitals", "私立医院能报销吗", seen.version)

    ok, output = project_files.validate(project)

    assert ok, output
    assert "rasa.validator" in output
    # Rasa's own settings files went to a home of their own, not into the project
    assert not (project.root / ".config").exists()


def test_a_rasa_that_cannot_be_run_fails_the_validation(project, tmp_path):
    ok, output = project_files.validate(project, rasa=tmp_path / "no-rasa")

    assert not ok
    assert "no-rasa" in output


def test_a_loaded_file_is_the_callers_own_and_a_changed_file_is_read_again(project):
    path = project.root / FAQ
    first = project_files.YamlFile.load(path)
    first.document["nlu"].clear()
    # an edit nobody saved is no other reader's
    again = project_files.YamlFile.load(path)
    assert again.document["nlu"] and project_files.dump(again.document) == again.text
    # a file changed behind the workbench's back is read as it is now
    path.write_text("nlu: []\n", encoding="utf-8")
    assert project_files.YamlFile.load(path).document == {"nlu": []}
