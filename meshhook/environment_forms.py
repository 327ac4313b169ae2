"""The console's environment forms: what the pages post, read into the same changes that
`PUT /api/environments/<name>` takes and checked by the same rules
(`meshhook.services.environments`), then saved whole or not at all.

Only the reading of form text (`NAME=value` lines, one host per line, secret rows) lives
here; every rule about what a valid environment is stays in the service module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict

from meshhook.crypto import encrypt
from meshhook.engine import Problem
from meshhook.models import Environment, Membership, Project, slug_validator
from meshhook.services.environments import (
    MAX_ENTRIES,
    keeps_production_secrets,
    validate_fields,
)
from meshhook.services.projects import AnyUser, membership_for, projects_for

NAME_MESSAGE = "Environment names use lower-case letters, digits and dashes (max 64)."


class EnvironmentFormError(ValueError):
    """What was posted is invalid; nothing was saved. `problems` name the field of each."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


def is_owner(user: AnyUser, project: Project) -> bool:
    """Environments hold the secrets and the allowlist of every test run, so in the
    console only a project's owners change them; other members read them."""
    membership = membership_for(user, project)
    return membership is not None and membership.role == Membership.Role.OWNER


def owned_projects(user: AnyUser) -> list[Project]:
    return list(projects_for(user).filter(memberships__role=Membership.Role.OWNER))


def field_of(problem: Problem) -> str:
    """`allowed_hosts[2]` → `allowed_hosts`, `variables.URL` → `variables`."""
    return problem.path.split(".")[0].split("[")[0]


def errors_by_field(problems: list[Problem]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for problem in problems:
        fields.setdefault(field_of(problem), []).append(str(problem))
    return fields


# --- reading the posted text ----------------------------------------------------------------


def parse_pairs(text: str, field: str, problems: list[Problem]) -> dict[str, str]:
    """`NAME=value` lines (as in a .env file); blank lines and `#` comments are skipped.
    Names and values are checked afterwards, by validate_fields."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, equals, value = stripped.partition("=")
        name = name.strip()
        if not equals or not name:
            problems.append(Problem(field, f"line {number}: expected NAME=value."))
        elif name in pairs:
            problems.append(Problem(field, f"line {number}: {name} is given twice."))
        else:
            pairs[name] = value.strip()
    return pairs


def parse_hosts(text: str) -> list[str]:
    """One entry per line (commas also separate); blank lines are skipped."""
    entries = (entry.strip() for line in text.splitlines() for entry in line.split(","))
    return [entry for entry in entries if entry]


def pairs_text(values: Mapping[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in values.items())


def parse_secret_rows(post: QueryDict, problems: list[Problem]) -> dict[str, str]:
    """The new-environment form's `secret_name` / `secret_value` rows; empty rows are skipped."""
    secrets: dict[str, str] = {}
    for name, value in zip(post.getlist("secret_name"), post.getlist("secret_value"), strict=False):
        name = name.strip()
        if not name and not value:
            continue
        if not name:
            problems.append(Problem("secrets", "A secret value needs a name."))
        elif name in secrets:
            problems.append(Problem("secrets", f"{name} is given twice."))
        else:
            secrets[name] = value
    return secrets


def settings_changes(post: QueryDict, problems: list[Problem]) -> dict[str, Any]:
    """The settings form as the API's body: every field is given (the form shows them all)."""
    return {
        "kind": post.get("kind", ""),
        "description": post.get("description", "").strip(),
        "variables": parse_pairs(post.get("variables", ""), "variables", problems),
        "allowed_hosts": parse_hosts(post.get("allowed_hosts", "")),
        "allow_private_network": post.get("allow_private_network") == "on",
    }


def form_values(post: QueryDict) -> dict[str, Any]:
    """What the form shows again after a refused post: the text as typed, never a secret."""
    return {
        "name": post.get("name", "").strip(),
        "project": post.get("project", ""),
        "kind": post.get("kind", Environment.Kind.TEST),
        "description": post.get("description", ""),
        "variables": post.get("variables", ""),
        "allowed_hosts": post.get("allowed_hosts", ""),
        "allow_private_network": post.get("allow_private_network") == "on",
        "secret_names": [name.strip() for name in post.getlist("secret_name")],
    }


def stored_values(environment: Environment) -> dict[str, Any]:
    return {
        "name": environment.name,
        "project": environment.project.slug,
        "kind": environment.kind,
        "description": environment.description,
        "variables": pairs_text(environment.variables),
        "allowed_hosts": "\n".join(environment.allowed_hosts),
        "allow_private_network": environment.allow_private_network,
        "secret_names": [],
    }


# --- saving ---------------------------------------------------------------------------------


def create_environment(project: Project, post: QueryDict) -> Environment:
    problems: list[Problem] = []
    name = post.get("name", "").strip()
    try:
        slug_validator(name)
    except ValidationError:
        problems.append(Problem("name", NAME_MESSAGE))
    else:
        if project.environments.filter(name=name).exists():
            problems.append(Problem("name", f"'{name}' already exists in {project.name}."))
    changes = settings_changes(post, problems)
    changes["secrets"] = parse_secret_rows(post, problems)
    values = validate_fields(changes, problems)
    if problems:
        raise EnvironmentFormError(problems)
    environment = Environment(project=project, name=name)
    _assign(environment, values)
    try:
        with transaction.atomic():
            environment.save()
    except IntegrityError:  # created by someone else since the check above
        raise EnvironmentFormError(
            [Problem("name", f"'{name}' already exists in {project.name}.")]
        ) from None
    return environment


def update_environment(environment: Environment, post: QueryDict) -> Environment:
    """Settings only: secrets are kept unless the change must drop them (see below)."""
    problems: list[Problem] = []
    changes = settings_changes(post, problems)
    clear_secrets = post.get("clear_secrets") == "on"
    values = validate_fields(changes, problems)
    with transaction.atomic():
        stored = Environment.objects.select_for_update().get(pk=environment.pk)
        kind = values.get("kind", stored.kind)
        if keeps_production_secrets(stored, kind, replaces_secrets=clear_secrets):
            problems.append(
                Problem(
                    "secrets",
                    "A production environment becomes a test one only without its secrets: "
                    "tick 'Delete its secrets', then set test secrets.",
                )
            )
        if problems:
            raise EnvironmentFormError(problems)
        _assign(stored, values)
        if clear_secrets:
            stored.encrypted_secrets = {}
        stored.save()
    return stored


def set_secret(environment: Environment, name: str, value: str) -> bool:
    """Set or replace one secret; True when it replaced one."""
    problems: list[Problem] = []
    name = name.strip()
    if not name:
        problems.append(Problem("secrets", "Give the secret a name, e.g. CRM_TOKEN."))
    elif not value:
        problems.append(Problem(f"secrets.{name}", "Type the secret's value."))
    else:
        validate_fields({"secrets": {name: value}}, problems)
    with transaction.atomic():
        stored = Environment.objects.select_for_update().get(pk=environment.pk)
        replaced = name in stored.encrypted_secrets
        if not problems and not replaced and len(stored.encrypted_secrets) >= MAX_ENTRIES:
            problems.append(Problem("secrets", f"At most {MAX_ENTRIES} entries."))
        if problems:
            raise EnvironmentFormError(problems)
        stored.encrypted_secrets = {**stored.encrypted_secrets, name: encrypt(value)}
        stored.save(update_fields=["encrypted_secrets", "updated_at"])
    environment.encrypted_secrets = stored.encrypted_secrets
    return replaced


def delete_secret(environment: Environment, name: str) -> bool:
    """Delete one secret by name; False when there was none of that name."""
    with transaction.atomic():
        stored = Environment.objects.select_for_update().get(pk=environment.pk)
        if name not in stored.encrypted_secrets:
            return False
        stored.encrypted_secrets = {
            key: token for key, token in stored.encrypted_secrets.items() if key != name
        }
        stored.save(update_fields=["encrypted_secrets", "updated_at"])
    environment.encrypted_secrets = stored.encrypted_secrets
    return True


def _assign(environment: Environment, values: dict[str, Any]) -> None:
    secrets = values.pop("secrets", None)
    for field, value in values.items():
        setattr(environment, field, value)
    if secrets is not None:
        environment.set_secrets(secrets)
