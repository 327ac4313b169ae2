"""`/api/environments`: create or update an environment, and read it without its secrets.

PUT merges at the top level: a field you send replaces that whole value, a field you leave
out keeps what is stored (on creation: a test environment with nothing in it). That is what
lets a script update `allowed_hosts` without having to send the secrets again.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse

from meshhook.api.base import (
    ApiError,
    ApiRequest,
    api_endpoint,
    body_object,
    json_path,
    json_response,
    reject_unknown_keys,
    request_project,
    require_editor,
)
from meshhook.engine import Problem
from meshhook.models import Environment, slug_validator
from testruns.serializers import iso

FIELDS = (
    "kind",
    "description",
    "variables",
    "secrets",
    "allowed_hosts",
    "allow_private_network",
)
# Names are read in templates as `env.NAME` / `secrets.NAME`: JMESPath identifiers.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_VALUE_LENGTH = 10_000
MAX_ENTRIES = 200
# `host`, `*.domain` or either with `:port`; IPv6 in brackets.
HOST_PATTERN = re.compile(
    r"(?P<host>(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(:(?P<port>[0-9]{1,5}))?"
)


@api_endpoint(methods=["GET"])
def environment_collection(request: ApiRequest) -> HttpResponse:
    project = request_project(request)
    environments = project.environments.order_by("name")
    return json_response({"results": [environment_json(env) for env in environments]})


@api_endpoint(methods=["GET", "PUT"])
def environment_item(request: ApiRequest, name: str) -> HttpResponse:
    project = request_project(request)
    if request.method == "GET":
        environment = project.environments.filter(name=name).first()
        if environment is None:
            raise ApiError(
                404, f"No environment '{name}' in project '{project.slug}'.", path="name"
            )
        return json_response(environment_json(environment))

    require_editor(request, project)
    try:
        slug_validator(name)
    except ValidationError:
        raise ApiError(
            400,
            "Environment names use lower-case letters, digits and dashes (max 64).",
            path="name",
        ) from None
    body = body_object(request)
    reject_unknown_keys(body, FIELDS)
    with transaction.atomic():
        environment = (
            Environment.objects.select_for_update().filter(project=project, name=name).first()
        )
        created = environment is None
        if environment is None:
            environment = Environment(project=project, name=name)
        _apply(environment, body, created=created)
        environment.save()
    return json_response({**environment_json(environment), "created": created})


def environment_json(environment: Environment) -> dict[str, Any]:
    return {
        "name": environment.name,
        "project": environment.project.slug,
        "kind": environment.kind,
        "description": environment.description,
        "variables": environment.variables,
        # Names only: secret values never leave the server (DESIGN §4).
        "secrets": environment.secret_names,
        "allowed_hosts": environment.allowed_hosts,
        "allow_private_network": environment.allow_private_network,
        "created_at": iso(environment.created_at),
        "updated_at": iso(environment.updated_at),
    }


def _apply(environment: Environment, body: dict[str, Any], *, created: bool) -> None:
    """Validate every given field (collecting all problems) and set them on `environment`."""
    problems: list[Problem] = []
    kind = body.get("kind", environment.kind)
    if kind not in Environment.Kind.values:
        problems.append(Problem("kind", "kind must be 'test' or 'production'."))
    if (
        not created
        and environment.kind == Environment.Kind.PRODUCTION
        and kind == Environment.Kind.TEST
        and "secrets" not in body
        and environment.encrypted_secrets
    ):
        # Keeping them would hand production secrets to test runs (DESIGN §4).
        problems.append(
            Problem(
                "secrets",
                "Turning a production environment into a test one does not carry its secrets "
                "over; send the test secrets (or {}) with the change.",
            )
        )
    description = body.get("description", environment.description)
    if not isinstance(description, str) or len(description) > 200:
        problems.append(Problem("description", "description must be a string of at most 200."))
    variables = _string_map(body, "variables", problems) if "variables" in body else None
    secrets = _string_map(body, "secrets", problems) if "secrets" in body else None
    hosts = _allowed_hosts(body["allowed_hosts"], problems) if "allowed_hosts" in body else None
    private = body.get("allow_private_network", environment.allow_private_network)
    if not isinstance(private, bool):
        problems.append(
            Problem("allow_private_network", "allow_private_network must be true or false.")
        )
    if problems:
        raise ApiError(400, "The environment is invalid.", problems=problems)
    environment.kind = kind
    environment.description = description
    environment.allow_private_network = private
    if variables is not None:
        environment.variables = variables
    if secrets is not None:
        environment.set_secrets(secrets)
    if hosts is not None:
        environment.allowed_hosts = hosts


def _string_map(body: dict[str, Any], field: str, problems: list[Problem]) -> dict[str, str]:
    value = body[field]
    if not isinstance(value, dict):
        problems.append(Problem(field, f"{field} must be an object of name → string."))
        return {}
    if len(value) > MAX_ENTRIES:
        problems.append(Problem(field, f"At most {MAX_ENTRIES} entries."))
    result: dict[str, str] = {}
    for name, item in value.items():
        path = json_path(field, name)
        if not VARIABLE_NAME.fullmatch(name):
            problems.append(
                Problem(path, "Names are letters, digits and '_', not starting with a digit.")
            )
        elif not isinstance(item, str):
            problems.append(Problem(path, "The value must be a string."))
        elif len(item) > MAX_VALUE_LENGTH:
            problems.append(Problem(path, f"The value is longer than {MAX_VALUE_LENGTH:,}."))
        else:
            result[name] = item
    return result


def _allowed_hosts(value: Any, problems: list[Problem]) -> list[str]:
    if not isinstance(value, list):
        problems.append(Problem("allowed_hosts", "allowed_hosts must be an array of host names."))
        return []
    if len(value) > MAX_ENTRIES:
        problems.append(Problem("allowed_hosts", f"At most {MAX_ENTRIES} hosts."))
    hosts: list[str] = []
    for index, item in enumerate(value):
        path = f"allowed_hosts[{index}]"
        if not isinstance(item, str):
            problems.append(Problem(path, "A host must be a string."))
            continue
        host = item.strip().lower()
        problem = _host_problem(host)
        if problem:
            problems.append(Problem(path, f"'{item}': {problem}"))
        elif host not in hosts:
            hosts.append(host)
    return hosts


def _host_problem(host: str) -> str | None:
    match = HOST_PATTERN.fullmatch(host)
    if match is None or len(host) > 260:
        return "expected 'host', '*.domain' or 'host:port' (no scheme, path or spaces)."
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return "the port must be between 1 and 65535."
    name = match.group("host")
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return "not a valid IPv6 address."
    elif name == "*" or name.count("*") > 1:
        return "a wildcard must be followed by a domain, as in '*.example.org'."
    return None
