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

from meshhook.api.base import ApiRequest, api_endpoint, json_response
from testruns.models import RunEvent, RunStatus, StepStatus, TestRun
from testruns.serializers import EXPORT_FORMAT

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


PARAMETERS: dict[str, Spec] = {
    "payload": d("any", "The webhook body the trigger receives."),
    "headers": d("strmap", "Request headers the trigger receives."),
    "environment": d("str", "A test environment's name; default `local`."),
    "mode": {**enum(TestRun.Mode.values), "default": "auto"},
    "breakpoints": d("[str]", "Node ids to pause before."),
    "mocks": d("object", "node id → the output used instead of running the node."),
    "honor_delays": {"type": "boolean", "default": False},
}
ENVIRONMENT: dict[str, Spec] = {
    "kind": enum(["test", "production"]),
    "description": {"type": "string", "maxLength": 200},
    "variables": "strmap",
    "allowed_hosts": d("[str]", "`host`, `*.domain` or `host:port`."),
    "allow_private_network": "bool",
}
RUN_STATUS = enum(RunStatus.values)

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
        "stats": shape({"runs": "int", "by_status": {"type": "object",
                        "additionalProperties": s("int")}, "last_run": "TestRunSummary?"}, "*"),
    }, "definition versions stats"),
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
    "TestRunStart": shape(
        {"workflow": "str", "project": "str", **PARAMETERS,
         "test_case": d("any", "Accepted and ignored for now."),
         "source": enum(["api", "ci", "cli"])},
        "workflow", closed=True,
    ),
    "TestRunStarted": shape(
        {"id": "uuid", "status": RUN_STATUS, "url": d("str", "The run's console page."),
         "ws_url": d("str", "The page's live socket."), "workflow": "str",
         "workflow_version": "int", "api_url": "str"},
        "id status url ws_url",
    ),
    "StepCounts": shape(dict.fromkeys(("total", "succeeded", "failed", "skipped"), "int"), "*"),
    "TestRunSummary": shape(
        {"id": "uuid", "project": "str", "workflow": "str", "workflow_name": "str",
         "workflow_version": "int", "status": RUN_STATUS, "environment": "str",
         "mode": enum(TestRun.Mode.values),
         "triggered_by": d("str", "The username for console runs, else the source."),
         "source": enum(TestRun.Source.values), "user": "str?", "source_run": "str?",
         "from_step": "str?", "created_at": "time", "started_at": "time?",
         "completed_at": "time?", "duration_ms": "int?", "paused_before": "str?",
         "error": "str?", "summary": "StepCounts", "url": "str", "ws_url": "str"},
        "id workflow workflow_version status environment mode triggered_by created_at "
        "started_at completed_at duration_ms summary url ws_url",
    ),
    "TestRunDetail": extend("TestRunSummary", {
        "parameters": shape(PARAMETERS), "result": "any",
        "steps": d("[Step]", "Every node: those that ran in execution order, then the rest in "
                   "definition order; a loop's body steps once per iteration."),
    }, "parameters result steps"),
    "Step": shape(
        {"node_id": "str", "type": "str", "label": "str", "status": enum(StepStatus.values),
         "mocked": "bool", "attempts": "int", "started_at": "time?", "completed_at": "time?",
         "duration_ms": "int?", "input": "any", "output": "any", "error": "str?",
         "iteration": d("int?", "Loop body steps: the item's index."),
         "parent": d("str?", "Loop body steps: the loop's node id."),
         "reused": d("bool", "Copied from the source run of a re-run."),
         "input_overridden": "bool", "branch": "bool?"},
        "node_id type label status mocked attempts started_at completed_at duration_ms input "
        "output error",
    ),
    "TestRunPage": shape({"results": "[TestRunSummary]", "next_cursor": "str?"}, "*"),
    "Event": shape(
        {"seq": "int", "ts": "time", "type": enum(RunEvent.Type.values), "node_id": "str?",
         "iteration": "int?", "level": enum(RunEvent.Level.values), "message": "str",
         "data": "object"},
        "seq ts type node_id level message data",
    ),
    "EventPage": shape(
        {"events": "[Event]", "next_after": d("int", "Pass as `after` for the next page."),
         "has_more": "bool", "run_status": RUN_STATUS},
        "events next_after",
    ),
    "Continue": shape({"until": d("str", "Pause again before this node.")}, closed=True),
    "Rerun": shape(
        {"from_step": d("str", "Reuse the outputs of the steps that ran before it."),
         "use_current_version": "bool", **PARAMETERS, "source": enum(["api", "ci", "cli"])},
        closed=True,
    ),
    "Export": extend("TestRunDetail", {
        "format": {"const": EXPORT_FORMAT}, "exported_at": "time", "events": "[Event]",
        "definition": "WorkflowDefinition"}, "format events definition"),
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
RUN = param("run_id", "path", "Test run id.", "uuid")
SLUG = param("slug", "path", "Workflow slug.")
NAME = param("name", "path", "Environment name.")
SOURCE_HEADER = param("X-MeshHook-Source", "header", "api (default), ci or cli.",
                      enum(["api", "ci", "cli"]))  # fmt: skip
FILTERS = (
    PROJECT,
    param("workflow", "query", "Workflow slug."),
    param("status", "query", "A status, or several separated by commas."),
    param("environment", "query", "Environment name."),
    param("triggered_by", "query", "A source (console, api, cli, ci) or a username."),
    param("limit", "query", "Page size.", {"type": "integer", "minimum": 1, "maximum": 200,
                                            "default": 50}),
    param("cursor", "query", "`next_cursor` of the previous page."),
)  # fmt: skip
EVENT_PAGING = (
    param("after", "query", "Events with seq > after.", {"type": "integer", "minimum": 0}),
    param("limit", "query", "Page size.", {"type": "integer", "minimum": 1, "maximum": 1000}),
)


def control(summary: str, body: Spec | None = None) -> Schema:
    return {"post": op(summary, "200 The run, now.", "TestRunSummary", RUN, body=body,
                       body_required=False, errors="403 409")}  # fmt: skip


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
    "/api/test-runs": {
        "get": op("Runs, newest first, keyset-paginated.", "200 A page.", "TestRunPage",
                  *FILTERS, errors="400"),
        "post": op("Start a test run.", "201 Queued.", "TestRunStarted", PROJECT, SOURCE_HEADER,
                   body="TestRunStart", errors="403"),
    },
    "/api/test-runs/{run_id}": {
        "get": op("A run with its parameters and every step.", "200 The run.",
                  "TestRunDetail", RUN),
    },
    "/api/test-runs/{run_id}/events": {
        "get": op("The run's event log after a sequence number, 1000 per page.", "200 Events.",
                  "EventPage", RUN, *EVENT_PAGING, errors="400"),
    },
    "/api/test-runs/{run_id}/advance": control("Step mode: run exactly the next step, pause."),
    "/api/test-runs/{run_id}/continue": control("Run to the end or the next breakpoint.",
                                                "Continue"),
    "/api/test-runs/{run_id}/cancel": control("Cancel the run; no further step starts."),
    "/api/test-runs/{run_id}/rerun": {
        "post": op("Start a new run with this one's parameters, overridable.", "201 Queued.",
                   "TestRunStarted", RUN, SOURCE_HEADER, body="Rerun", body_required=False,
                   errors="403"),
    },
    "/api/test-runs/{run_id}/export": {
        "get": op("The whole run, events and definition included, as a download.",
                  "200 The export.", "Export", RUN),
    },
}  # fmt: skip

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "MeshHook test runs API",
        "version": "1",
        "description": 'Errors are always `{"error", "errors": [{"path", "message"}]}`. '
        "Authenticate with a session (plus X-CSRFToken on writes) or with "
        "`Authorization: Bearer <token>` (`manage.py create_api_token <username>`).",
    },
    "security": [{"bearerAuth": []}, {"sessionAuth": []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
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
    return json_response(DOCUMENT)
