"""Fixtures shared by the console page tests."""

from __future__ import annotations

import pytest

from meshhook.models import Environment, Workflow
from tests.factories import (
    Team,
    definition,
    make_secret_environments,
    make_workflow,
    personal_project,
)


@pytest.fixture
def secret_environment(team: Team) -> Environment:
    """The team's `staging` (with a secret), next to a `prod` production environment."""
    return make_secret_environments(team.project)


@pytest.fixture
def twin(team: Team) -> Workflow:
    """The owner's personal project has a workflow with the same slug as the team's."""
    return make_workflow(
        personal_project(team.owner), definition(name="Personal lead flow"), team.owner
    )
