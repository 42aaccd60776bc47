from __future__ import annotations

import pytest

from desk.training.project import Project
from tests.desk.training_project import copy_project


@pytest.fixture
def project(tmp_path) -> Project:
    """A copy of the bot's domain, data and config for the workbench to edit."""
    return copy_project(tmp_path / "project")
