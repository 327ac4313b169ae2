"""Operating the project as the README says: which settings the quick start gets, where the
sandbox is routed, the system checks, and the Makefile commands an operator types."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import NoReverseMatch, clear_url_caches, resolve, reverse

import meshhook.urls
from meshhook.checks import check_configuration

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# What an operator's shell would not have set for a quick start; a developer's or CI's
# values must not leak into the subprocesses (CI sets DATABASE_URL to PostgreSQL). MAKE*
# would make a nested `make` print "Entering directory" lines under `make test`.
CONFIGURED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "SANDBOX_ENABLED",
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
)


def quickstart_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONFIGURED}
    return {**env, "MESHHOOK_VAR_DIR": str(var_dir), **extra}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# --- SANDBOX_ENABLED --------------------------------------------------------------------


@contextmanager
def sandbox_routed(enabled: bool) -> Iterator[None]:
    """The root urlconf rebuilt as it would be at start-up with SANDBOX_ENABLED=`enabled`."""
    try:
        with override_settings(SANDBOX_ENABLED=enabled):
            importlib.reload(meshhook.urls)
            clear_url_caches()
            yield
    finally:
        importlib.reload(meshhook.urls)
        clear_url_caches()


def test_the_builder_routes_the_sandbox_only_when_enabled() -> None:
    assert meshhook.urls.sandbox_patterns(False) == []
    (route,) = meshhook.urls.sandbox_patterns(True)
    assert str(route.pattern) == "sandbox/"


def test_the_test_suite_runs_with_the_sandbox() -> None:
    assert resolve("/sandbox/echo").view_name == "sandbox:echo"


def test_sandbox_answers_when_enabled() -> None:
    with sandbox_routed(True):
        assert reverse("sandbox:echo") == "/sandbox/echo"
        assert Client().get("/sandbox/echo").status_code == 200
        assert Client().get("/sandbox/status/418").status_code == 418


def test_sandbox_is_404_when_disabled() -> None:
    with sandbox_routed(False):
        for url in ("/sandbox/echo", "/sandbox/status/200", "/sandbox/rss.xml"):
            assert Client().get(url).status_code == 404, url
        with pytest.raises(NoReverseMatch):
            reverse("sandbox:echo")
    assert Client().get("/sandbox/echo").status_code == 200  # back as it was


def warning_ids() -> list[str]:
    return [problem.id for problem in check_configuration()]


def test_check_warns_about_a_sandbox_without_debug() -> None:
    with override_settings(DEBUG=False, SANDBOX_ENABLED=True):
        (warning,) = [p for p in check_configuration() if p.id == "meshhook.W002"]
    assert warning.is_serious() is False  # a warning, not an error
    assert "SANDBOX_ENABLED" in warning.msg
    with override_settings(DEBUG=True, SANDBOX_ENABLED=True):
        assert "meshhook.W002" not in warning_ids()
    with override_settings(DEBUG=False, SANDBOX_ENABLED=False):
        assert "meshhook.W002" not in warning_ids()


def settings_of(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'DEBUG': settings.DEBUG, 'SANDBOX_ENABLED': settings.SANDBOX_ENABLED}))"
    )
    result = run([PYTHON, "-c", code], {**env, "DJANGO_SETTINGS_MODULE": "meshhook.settings"})
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_sandbox_defaults_follow_debug(tmp_path: Path) -> None:
    # `make run` sets DEBUG=1; `make deploy-check` and production set DEBUG=0 and a key.
    assert settings_of(quickstart_env(tmp_path, DEBUG="1")) == {
        "DEBUG": True,
        "SANDBOX_ENABLED": True,
    }
    production = quickstart_env(tmp_path, DEBUG="0", SECRET_KEY="k" * 50)
    assert settings_of(production) == {"DEBUG": False, "SANDBOX_ENABLED": False}


# --- make targets -------------------------------------------------------------------------


def make_dry_run(target: str, *variables: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MF"))}
    result = run(["make", "--dry-run", target, *variables], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_worker_runs_the_testrun_worker_with_its_sweeper() -> None:
    assert make_dry_run("worker").strip().splitlines()[-1].endswith("manage.py testrun_worker")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment like a terminal after `make run`: a fresh var/, migrated, with the
    demo user, and nothing configured. Shared by the tests below: each only adds tokens."""
    var_dir = tmp_path_factory.mktemp("quickstart") / "var"
    env = quickstart_env(var_dir)
    if run(["make", "--question", "install"], env).returncode != 0:
        pytest.fail("The virtualenv is not installed or is stale: run `make install`.")
    for command in (["migrate", "--noinput"], ["load_demo"]):
        result = run([PYTHON, "manage.py", *command], {**env, "DEBUG": "1"})
        assert result.returncode == 0, result.stderr
    return env


AUTHENTICATES = """
import sys
from django.test import Client
client = Client(HTTP_HOST="localhost")
for raw in (sys.argv[1], "mh_not-a-token"):
    response = client.get("/api/environments", HTTP_AUTHORIZATION=f"Bearer {raw}")
    print(response.status_code, response.json().get("results", [{}])[0].get("project", "-"))
"""


def api_statuses(env: dict[str, str], token: str) -> list[str]:
    """GET /api/environments with `token` and with a wrong one, against the var/ database."""
    script = [PYTHON, "-c", "import django; django.setup()\n" + AUTHENTICATES, token]
    result = run(script, {**env, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "meshhook.settings"})
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_make_token_prints_a_token_that_authenticates(quickstart: dict[str, str]) -> None:
    made = run(["make", "token", "USER=demo"], quickstart)
    assert made.returncode == 0, made.stderr
    # Alone on stdout, so that `TOKEN=$(make token USER=demo)` works.
    assert re.fullmatch(r"mh_[A-Za-z0-9_-]{20,}\n", made.stdout), made.stdout
    assert "for demo" in made.stderr
    assert api_statuses(quickstart, made.stdout.strip()) == ["200 demo", "401 -"]


def test_make_token_ignores_the_login_name_in_the_environment(
    quickstart: dict[str, str],
) -> None:
    # $USER is always set by the shell; only USER=... on the command line picks the user.
    made = run(["make", "token"], {**quickstart, "USER": "someone-else"})
    assert made.returncode == 0, made.stderr
    assert "for demo" in made.stderr
    unknown = run(["make", "token", "USER=nobody"], quickstart)
    assert unknown.returncode != 0
    assert "No user 'nobody'" in unknown.stderr


def test_plain_manage_py_needs_debug_or_a_secret_key(quickstart: dict[str, str]) -> None:
    # Why the README points at `make token`: without DEBUG there is no dev key fallback.
    bare = run([PYTHON, "manage.py", "create_api_token", "demo"], quickstart)
    assert bare.returncode != 0
    assert "SECRET_KEY is required" in bare.stderr
    with_debug = run(
        [PYTHON, "manage.py", "create_api_token", "demo"], {**quickstart, "DEBUG": "1"}
    )
    assert with_debug.returncode == 0, with_debug.stderr
    assert with_debug.stdout.startswith("mh_")
