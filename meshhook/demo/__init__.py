"""Demo data: the `demo` user, their environments and the demo workflows.

The workflow definitions live next to this file as `<slug>.json` (DESIGN §2 format) and
call only the built-in sandbox through `{{env.SANDBOX_URL}}`, so they run offline.
`samples.json` maps each slug to a payload and headers worth pasting into a test run; the
Test-run form starts from them (`sample_for`) until a workflow has a run of its own.

`load_demo()` is idempotent: a second call with the same port writes nothing, so
`make run` can call it on every start.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from meshhook.models import Environment, Project
from meshhook.services.environments import host_problem
from meshhook.services.projects import ensure_personal_project
from meshhook.services.workflows import save_definition

DEMO_DIR = Path(__file__).resolve().parent
SAMPLES_FILE = "samples.json"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # a public demo login: `make run` prints it
PRODUCTION_BASE_URL = "https://api.example.com"

Report = Callable[[str], None]


@dataclass(frozen=True)
class Sample:
    payload: Any
    headers: dict[str, str]


def demo_definitions() -> dict[str, dict[str, Any]]:
    """slug → definition, in file-name order. A fresh copy: callers may change it."""
    return copy.deepcopy(_read_definitions())


@cache
def _read_definitions() -> dict[str, dict[str, Any]]:
    definitions: dict[str, dict[str, Any]] = {}
    for path in sorted(DEMO_DIR.glob("*.json")):
        if path.name == SAMPLES_FILE:
            continue
        definition = json.loads(path.read_text(encoding="utf-8"))
        definitions[definition["slug"]] = definition
    return definitions


def demo_samples() -> dict[str, Sample]:
    """slug → a payload and headers worth pasting into a test run. A fresh copy."""
    return copy.deepcopy(_read_samples())


def sample_for(slug: str) -> Sample:
    """The sample for workflow `slug`, or an empty one (`{}`, no headers). A fresh copy."""
    sample = _read_samples().get(slug)
    return copy.deepcopy(sample) if sample is not None else Sample(payload={}, headers={})


@cache
def _read_samples() -> dict[str, Sample]:
    raw = json.loads((DEMO_DIR / SAMPLES_FILE).read_text(encoding="utf-8"))
    return {
        slug: Sample(payload=entry["payload"], headers=dict(entry.get("headers", {})))
        for slug, entry in raw.items()
    }


def sandbox_url(port: int | None = None) -> str:
    return f"http://{sandbox_host(port)}/sandbox"


def sandbox_host(port: int | None = None) -> str:
    """The sandbox's origin as an allowlist entry: this one port of loopback, no other."""
    return f"127.0.0.1:{port or settings.PORT}"


@dataclass(frozen=True)
class _EnvironmentSpec:
    name: str
    kind: str
    variables: dict[str, str]
    allowed_hosts: list[str]
    allow_private_network: bool
    description: str


def _environments(port: int | None) -> list[_EnvironmentSpec]:
    test_variables = {"SANDBOX_URL": sandbox_url(port)}
    sandbox_hosts = [sandbox_host(port)]
    return [
        # The sandbox is served on loopback, which test runs refuse unless allowed.
        _EnvironmentSpec(
            "local",
            Environment.Kind.TEST,
            test_variables,
            sandbox_hosts,
            True,
            "Runs against the built-in sandbox on this server.",
        ),
        _EnvironmentSpec(
            "staging",
            Environment.Kind.TEST,
            test_variables,
            sandbox_hosts,
            True,
            "A second test environment; it also points at the sandbox.",
        ),
        # Fake hosts on purpose: test runs must never be able to use this one.
        _EnvironmentSpec(
            "production",
            Environment.Kind.PRODUCTION,
            {"SANDBOX_URL": PRODUCTION_BASE_URL, "CRM_URL": f"{PRODUCTION_BASE_URL}/crm"},
            ["api.example.com"],
            False,
            "Live systems: test runs can never use it.",
        ),
    ]


def load_demo(port: int | None = None, *, report: Report | None = None) -> Project:
    """Create or bring up to date everything the demo needs; return the demo project."""
    say: Report = report or (lambda line: None)
    with transaction.atomic():
        user, user_state = _ensure_user()
        say(f"User {DEMO_USERNAME} / {DEMO_PASSWORD}: {user_state}")
        project = ensure_personal_project(user)
        say(f"Project {project.name!r} ({project.slug})")
        for spec in _environments(port):
            state = _ensure_environment(project, spec)
            say(f"Environment {spec.name} ({spec.kind}): {state}")
        for slug, definition in demo_definitions().items():
            saved = save_definition(project, definition, user=user)
            state = "created" if saved.created else "updated" if saved.changed else "unchanged"
            say(f"Workflow {slug} v{saved.version.number}: {state}")
    return project


def _ensure_user() -> tuple[Any, str]:
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        # create_superuser fires post_save, whose receiver creates the personal project.
        user = user_model.objects.create_superuser(
            username=DEMO_USERNAME, email="demo@example.com", password=DEMO_PASSWORD
        )
        return user, "created"
    changed: list[str] = []
    if not (user.is_staff and user.is_superuser and user.is_active):
        user.is_staff = user.is_superuser = user.is_active = True
        changed += ["is_staff", "is_superuser", "is_active"]
    # Only re-hash when needed: set_password salts afresh, so calling it blindly would make
    # every run "change" the user.
    if not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        changed.append("password")
    if changed:
        user.save(update_fields=changed)
        return user, "updated"
    return user, "unchanged"


def _ensure_environment(project: Project, spec: _EnvironmentSpec) -> str:
    """Create the environment or merge the demo's settings into it.

    Variables and hosts a user added by hand are kept; only what the demo relies on is
    forced. Nothing is saved when nothing differs, so `updated_at` stays put.
    """
    environment = Environment.objects.filter(project=project, name=spec.name).first()
    if environment is None:
        Environment.objects.create(
            project=project,
            name=spec.name,
            kind=spec.kind,
            description=spec.description,
            variables=dict(spec.variables),
            allowed_hosts=list(spec.allowed_hosts),
            allow_private_network=spec.allow_private_network,
        )
        return "created"
    # Entries the validator now refuses (`127.0.0.1` or `localhost` without a port opened
    # every loopback service) go; everything else a user added is kept.
    existing_hosts = [host for host in environment.allowed_hosts if host_problem(host) is None]
    wanted = {
        "kind": spec.kind,
        "variables": {**environment.variables, **spec.variables},
        "allowed_hosts": existing_hosts
        + [host for host in spec.allowed_hosts if host not in existing_hosts],
        "allow_private_network": spec.allow_private_network,
        "description": environment.description or spec.description,
    }
    changed = [field for field, value in wanted.items() if getattr(environment, field) != value]
    if not changed:
        return "unchanged"
    for field in changed:
        setattr(environment, field, wanted[field])
    environment.save(update_fields=[*changed, "updated_at"])
    return "updated"
