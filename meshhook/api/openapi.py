"""The OpenAPI 3.1 document of the JSON API, served at `/api/openapi.json`.

Built once at import; tests check that it validates and lists exactly the routes of
`urls.py` with exactly their methods, so it cannot silently drift from the code.

Schemas are written in a small shorthand so the whole API reads on a few screens:
`"str"`, `"int"`, `"bool"`, `"object"`, `"any"`, `"time"` (date-time), `"uuid"`,
`"strmap"` (object of strings), a trailing `?` for nullable, `[x]` for an array of x,
and a capitalised name for a reference to a component schema.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

from meshhook import extensions
from meshhook.api.base import ApiRequest, api_endpoint, json_response

Schema = dict[str, Any]
Spec = str | Schema

_BASIC: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "object": {"type": "object"},
    "time": {"type": "string", "format": "date-time"},
    "uuid": {"type": "string", "format": "uuid"},
    "strmap": {"type": "object", "additionalProperties": {"type": "string"}},
}


def s(spec: Spec) -> Schema:
    if isinstance(spec, dict):
        return spec
    if spec.endswith("?"):
        inner = s(spec[:-1])
        return {"oneOf": [inner, {"type": "null"}]} if "$ref" in inner else {
            **inner, "type": [inner["type"], "null"]}  # fmt: skip
    if spec.startswith("["):
        return {"type": "array", "items": s(spec[1:-1])}
    if spec == "any":
        return {}
    if spec[0].isupper():
        return {"$ref": f"#/components/schemas/{spec}"}
    return dict(_BASIC[spec])


def d(spec: Spec, description: str, **more: Any) -> Schema:
    return {**s(spec), "description": description, **more}


def enum(values: Any, nullable: bool = False) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "enum": [*values]}


def shape(fields: dict[str, Spec], required: str = "", *, closed: bool = False) -> Schema:
    """An object; `required` is space-separated names, or `*` for all of them."""
    schema: Schema = {"type": "object", "properties": {k: s(v) for k, v in fields.items()}}
    names = list(fields) if required == "*" else required.split()
    if names:
        schema["required"] = names
    if closed:
        schema["additionalProperties"] = False
    return schema


def extend(base: str, fields: dict[str, Spec], required: str = "") -> Schema:
    return {"allOf": [s(base), shape(fields, required)]}


ENVIRONMENT: dict[str, Spec] = {
    "kind": enum(["test", "production"]),
    "description": {"type": "string", "maxLength": 200},
    "variables": "strmap",
    "allowed_hosts": d("[str]", "`host`, `*.domain` or `host:port`."),
    "allow_private_network": "bool",
}
SCHEMAS: dict[str, Schema] = {
    "Problem": shape({"path": "str", "message": "str"}, "*"),
    "Error": shape({"error": "str", "errors": {**s("[Problem]"), "minItems": 1}}, "*"),
    "WorkflowDefinition": shape(
        {"schema_version": {"const": 1}, "name": "str",
         "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
         "description": "str", "settings": "object", "nodes": "[object]", "edges": "[object]"},
        "schema_version name slug nodes edges",
    ),
    "Workflow": shape(
        {"slug": "str", "name": "str", "description": "str", "project": "str", "version": "int",
         "created_at": "time", "updated_at": "time", "api_url": "str"},
        "slug name project version",
    ),
    "WorkflowSaved": extend("Workflow", {
        "created": "bool", "changed": d("bool", "False when identical to the latest version.")},
        "created changed"),
    "WorkflowDetail": extend("Workflow", {
        "definition": "WorkflowDefinition",
        "versions": s("[Version]"),
        "stats": "WorkflowStats",
    }, "definition versions stats"),
    # Filled in by the feature that keeps runs (see meshhook.extensions).
    "WorkflowStats": {"type": "object"},
    "Version": shape({"number": "int", "created_at": "time", "created_by": "str?"}, "*"),
    "EnvironmentInput": shape(
        {**ENVIRONMENT, "secrets": d("strmap", "Replaces all secrets; omit to keep them.")},
        closed=True,
    ),
    "Environment": shape(
        {"name": "str", "project": "str", **ENVIRONMENT, "secrets": d("[str]", "Names only."),
         "created_at": "time", "updated_at": "time", "created": "bool"},
        "name kind variables secrets allowed_hosts allow_private_network",
    ),
}  # fmt: skip

ERRORS = {
    "400": "Invalid input; `errors[].path` points at each problem.",
    "401": "No session and no valid bearer token.",
    "403": "Your role cannot do this, or a session request failed its CSRF check.",
    "404": "No such object, or not in one of your projects.",
    "405": "Method not allowed.",
    "409": "The object is not in a state that allows this.",
    "413": "The body is over the size limit.",
}


def param(name: str, where: str, description: str, spec: Spec = "str") -> Schema:
    return {"name": name, "in": where, "required": where == "path",
            "description": description, "schema": s(spec)}  # fmt: skip


def json_content(spec: Spec) -> Schema:
    return {"content": {"application/json": {"schema": s(spec)}}}


def op(
    summary: str,
    ok: str,
    response: Spec,
    *params: Schema,
    body: Spec | None = None,
    body_required: bool = True,
    errors: str = "",
) -> Schema:
    """An operation; `ok` is "<status> <description>", `errors` the extra statuses it returns."""
    code, _, description = ok.partition(" ")
    responses: Schema = {code: {"description": description, **json_content(response)}}
    statuses = ["401", "404", "405", *errors.split()]
    if body is not None:
        statuses += ["400", "413"]
    for status in sorted(set(statuses)):
        responses[status] = {"$ref": f"#/components/responses/E{status}"}
    operation: Schema = {"summary": summary, "parameters": list(params), "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": body_required, **json_content(body)}
    return operation


PROJECT = param("project", "query", "Project slug; default: your first project.")
SLUG = param("slug", "path", "Workflow slug.")
NAME = param("name", "path", "Environment name.")
PATHS: Schema = {
    "/api/openapi.json": {"get": {"summary": "This document.", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1."}}}},
    "/api/workflows": {
        "get": op("The project's workflows.", "200 Workflows.",
                  shape({"results": "[Workflow]"}), PROJECT),
        "post": op("Create a workflow from a definition (its version 1); 409 if the slug exists.",
                   "201 Created.", "WorkflowSaved", PROJECT, body="WorkflowDefinition",
                   errors="403 409"),
    },
    "/api/workflows/{slug}": {
        "get": op("The latest definition, its version, all versions and run stats.",
                  "200 The workflow.", "WorkflowDetail", SLUG, PROJECT),
        "put": op("Store a new version (none if identical); 404 if the workflow does not exist.",
                  "200 Saved.", "WorkflowSaved", SLUG, PROJECT, body="WorkflowDefinition",
                  errors="403"),
    },
    "/api/environments": {
        "get": op("The project's environments (secret names only).", "200 Environments.",
                  shape({"results": "[Environment]"}), PROJECT),
    },
    "/api/environments/{name}": {
        "get": op("One environment (secret names only).", "200 The environment.",
                  "Environment", NAME, PROJECT),
        "put": op("Create or update; fields left out keep their stored values.", "200 Saved.",
                  "Environment", NAME, PROJECT, body="EnvironmentInput", errors="403"),
    },
}  # fmt: skip


def document() -> Schema:
    """The whole document: the core's paths and schemas plus each feature's part."""
    paths, schemas = dict(PATHS), dict(SCHEMAS)
    for part in extensions.openapi_parts:
        paths.update(part.paths)
        schemas.update(part.schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MeshHook test runs API",
            "version": "1",
            "description": 'Errors are always `{"error", "errors": [{"path", "message"}]}`. '
            "Authenticate with a session (plus X-CSRFToken on writes) or with "
            "`Authorization: Bearer <token>` (`manage.py create_api_token <username>`).",
        },
        "security": [{"bearerAuth": []}, {"sessionAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                f"E{code}": {"description": description, **json_content("Error")}
                for code, description in ERRORS.items()
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }


@api_endpoint(methods=["GET"], auth=False)
def openapi_document(request: ApiRequest) -> HttpResponse:
    return json_response(document())
