from __future__ import annotations

import pytest

from desk.training.project import Project
from tests.desk.test_conversations import service  # noqa: F401 (the service with a scripted bot)
from tests.desk.training_project import copy_project


@pytest.fixture
def project(tmp_path) -> Project:
    """A copy of the bot's domain, data and config for the workbench to edit."""
    return copy_project(tmp_path / "project")
