"""The test-run part of `/api/openapi.json` (DESIGN §7), in the shorthand of
`meshhook.api.openapi`; added to the document by `TestRunsConfig.ready`."""

from __future__ import annotations

from meshhook.api.openapi import (
    PROJECT,
    SLUG,
    Schema,
    Spec,
    d,
    enum,
    extend,
    op,
    param,
    s,
    shape,
)
from meshhook.extensions import OpenApiPart
from testruns import testcase_openapi
from testruns.case_files import FORMAT as CASE_FILE_FORMAT
from testruns.models import RunEvent, RunStatus, StepStatus, TestRun
from testruns.serializers import EXPORT_FORMAT

PARAMETERS: dict[str, Spec] = {
    "payload": d("any", "The webhook body the trigger receives."),
    "headers": d("strmap", "Request headers the trigger receives."),
    "environment": d("str", "A test environment's name; default `local`."),
    "mode": {**enum(TestRun.Mode.values), "default": "auto"},
    "breakpoints": d("[str]", "Node ids to pause before."),
    "mocks": d("object", "node id → the output used instead of running the node."),
    "honor_delays": {"type": "boolean", "default": False},
}
RUN_STATUS = enum(RunStatus.values)
RUN = param("run_id", "path", "Test run id.", "uuid")
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


SCHEMAS: dict[str, Schema] = {
    "WorkflowStats": shape(
        {"runs": "int", "by_status": {"type": "object", "additionalProperties": s("int")},
         "last_run": "TestRunSummary?",
         "window": d(shape({"limit": "int", "runs": "int"}, "*"),
                     "The figures below cover the workflow's last `limit` runs."),
         "pass_rate": {"type": ["number", "null"],
                       "description": "passed / (passed + failed + error); null without any."},
         "passed": "int", "counted": d("int", "Passed, failed and error runs."),
         "avg_duration_ms": "int?", "p95_duration_ms": "int?",
         "last_24h": shape({"passed": "int", "counted": "int"}, "*"),
         "recent": d({"type": "array", "items": shape(
                         {"id": "uuid", "status": RUN_STATUS, "duration_ms": "int?",
                          "created_at": "time"}, "*")}, "The last 30 runs, newest first.")},
        "*"),
    "TestRunStart": {**shape(
        {"workflow": "str", "project": "str", **PARAMETERS,
         "test_case": d("uuid", "Run this saved test case; the other fields override its own."),
         "source": enum(["api", "ci", "cli"])},
        closed=True,
    ), "anyOf": [{"required": ["workflow"]}, {"required": ["test_case"]}]},
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
        "test_case": d("uuid?", "The test case this run checks."),
        "assertions": d("[AssertionResult]", "The test case's assertions and baseline "
                        "differences, failed ones first (`passed` null until evaluated)."),
    }, "parameters result steps test_case assertions"),
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
    "TestRunItem": extend("TestRunDetail", {
        "kept": d("bool", "Pinned with Keep: the retention of old runs never deletes it."),
        "imported_at": d("time?", "Set on a run imported from an export: it is read-only."),
        "imported_from": d("uuid?", "The imported run's id where it was exported from."),
    }, "kept imported_at imported_from"),
    "Keep": shape({"kept": "bool"}, "kept", closed=True),
    "TestCaseFile": shape(
        {"format": {"const": CASE_FILE_FORMAT}, "workflow": "str",
         "test_cases": d("[object]", "The test cases' writable fields, by name; credential "
                         "headers masked or `meshhook-encrypted:…`.")},
        "*", closed=True,
    ),
    "TestCaseImport": shape(
        {"workflow": "str", "created": "[str]", "updated": "[str]", "unchanged": "[str]",
         "warnings": "[Problem]", "dry_run": "bool"}, "*"),
    "Export": extend("TestRunDetail", {
        "format": {"const": EXPORT_FORMAT}, "exported_at": "time", "events": "[Event]",
        "definition": "WorkflowDefinition"}, "format events definition"),
}  # fmt: skip

PATHS: Schema = {
    "/api/test-runs": {
        "get": op("Runs, newest first, keyset-paginated.", "200 A page.", "TestRunPage",
                  *FILTERS, errors="400"),
        "post": op("Start a test run.", "201 Queued.", "TestRunStarted", PROJECT, SOURCE_HEADER,
                   body="TestRunStart", errors="403"),
    },
    "/api/test-runs/{run_id}": {
        "get": op("A run with its parameters and every step.", "200 The run.",
                  "TestRunItem", RUN),
        "patch": op("Keep (pin) the run past the retention of old runs, or let it go.",
                    "200 The run.", "TestRunItem", RUN, body="Keep", errors="403"),
    },
    "/api/test-runs/import": {
        "post": op("Import a run exported elsewhere, read-only, to view it here; its "
                   "workflow is created from the definition if the project has none.",
                   "201 Imported.", "TestRunItem", PROJECT, body="Export", errors="403 409"),
    },
    "/api/workflows/{slug}/test-cases/export": {
        "get": op("The workflow's test cases as one file to keep in git.", "200 The file.",
                  "TestCaseFile", SLUG, PROJECT,
                  param("credentials", "query", "masked (default) or encrypted.",
                        enum(["masked", "encrypted"]))),
    },
    "/api/workflows/{slug}/test-cases/import": {
        "post": op("Create or update test cases from such a file; all or nothing.",
                   "200 What changed.", "TestCaseImport", SLUG, PROJECT,
                   param("dry_run", "query", "Check and report only; write nothing."),
                   body="TestCaseFile", errors="403"),
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

SCHEMAS.update(testcase_openapi.SCHEMAS)
PATHS.update(testcase_openapi.PATHS)

PART = OpenApiPart(schemas=SCHEMAS, paths=PATHS)
