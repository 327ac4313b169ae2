"""Suite-wide test settings that live outside tests/conftest.py.

The run-start rate (testruns/quotas.py) is off in every test: fixtures start dozens of runs
for one user within a second. tests/test_quotas.py turns it back on with override_settings,
which applies after this fixture.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _run_start_rate_off(settings: Any) -> None:
    settings.RUN_START_RATE = 0
