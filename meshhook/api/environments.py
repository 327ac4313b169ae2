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
    require_owner,
)
from meshhook.engine import Problem
from meshhook.models import Environment, slug_validator
from meshhook.services.environments import FIELDS, keeps_production_secrets, validate_fields
from meshhook.timefmt import iso


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

    require_owner(request, project)
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
        _apply(environment, body)
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


def _apply(environment: Environment, body: dict[str, Any]) -> None:
    """Validate every given field (collecting all problems) and set them on `environment`."""
    problems: list[Problem] = []
    values = validate_fields(body, problems)
    kind = values.get("kind", environment.kind)
    if keeps_production_secrets(environment, kind, replaces_secrets="secrets" in body):
        problems.append(
            Problem(
                "secrets",
                "Turning a production environment into a test one does not carry its secrets "
                "over; send the test secrets (or {}) with the change.",
            )
        )
    if problems:
        raise ApiError(400, "The environment is invalid.", problems=problems)
    secrets = values.pop("secrets", None)
    for field, value in values.items():
        setattr(environment, field, value)
    if secrets is not None:
        environment.set_secrets(secrets)
