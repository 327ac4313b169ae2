"""`/api/environments`: create or update an environment, and read it without its secrets.

PUT merges at the top level: a field you send replaces that whole value, a field you leave
out keeps what is stored (on creation: a test environment with nothing in it). That is what
lets a script update `allowed_hosts` without having to send the secrets again.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse

from meshhook.api.base import (
    ApiError,
    ApiRequest,
    api_endpoint,
    body_object,
    json_response,
    reject_unknown_keys,
    request_project,
    require_editor,
)
from meshhook.engine import Problem
from meshhook.models import Environment, slug_validator
from meshhook.services.environments import validate_allowed_hosts, validate_string_map
from meshhook.timefmt import iso

FIELDS = (
    "kind",
    "description",
    "variables",
    "secrets",
    "allowed_hosts",
    "allow_private_network",
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
    variables = validate_string_map(body, "variables", problems) if "variables" in body else None
    secrets = validate_string_map(body, "secrets", problems) if "secrets" in body else None
    hosts = (
        validate_allowed_hosts(body["allowed_hosts"], problems) if "allowed_hosts" in body else None
    )
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
