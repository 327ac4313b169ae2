"""The test-case and suite part of `/api/openapi.json` (DESIGN §8), in the shorthand of
`meshhook.api.openapi`; merged into `testruns.openapi.PART`."""

from __future__ import annotations

from meshhook.api.openapi import PROJECT, Schema, Spec, d, enum, extend, op, param, shape
from testruns.assertions import JSON_TYPES, OPS, TARGETS
from testruns.testcase_models import SuiteStatus

CASE = param("case_id", "path", "Test case id.", "uuid")
SUITE = param("suite_id", "path", "Suite id.", "uuid")
SOURCE = enum(["api", "ci", "cli"])

CASE_FIELDS: dict[str, Spec] = {
    "workflow": d("str", "Slug of the workflow it tests."),
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "str",
    "payload": d("any", "The webhook body the trigger receives."),
    "headers": "strmap",
    "environment": d("str", "A test environment's name; default `local`."),
    "mocks": d("object", "node id → the output used instead of running the node."),
    "assertions": "[Assertion]",
    "baseline_run": d("uuid?", "A finished run of the workflow every step must match."),
    "volatile_paths": d("[str]", "Left out of the baseline comparison, e.g. "
                        "`steps.*.output.headers.date` (`*` one segment, `**` any)."),
    "replay_from_run": d("uuid?", "A finished run whose recorded outputs answer every "
                         "http_call and webhook step: no request is sent."),
}  # fmt: skip
READ_ONLY: dict[str, Spec] = {
    "id": "uuid", "project": "str", "created_at": "time", "updated_at": "time",
    "created_by": "str?", "api_url": "str",
}  # fmt: skip

SCHEMAS: dict[str, Schema] = {
    "Assertion": shape(
        {"target": enum(TARGETS),
         "node": d("str", "The step's node id (step.* targets)."),
         "path": d("str", "JMESPath over the target's value."),
         "op": enum(OPS),
         "expected": d("any", "Not for exists/not_exists; type_is takes "
                       f"{', '.join(JSON_TYPES)}.")},
        "target op", closed=True,
    ),
    "AssertionResult": shape(
        {"target": enum([*TARGETS, "baseline"]), "node": "str?", "path": "str?", "op": "str",
         "expected": "any", "actual": "any",
         "passed": d("bool?", "null: not evaluated (yet)."), "message": "str"},
        "*",
    ),
    "TestCaseInput": shape({**CASE_FIELDS, "project": "str"}, "workflow name", closed=True),
    "TestCaseUpdate": shape({**CASE_FIELDS, **READ_ONLY}, closed=True),
    "TestCase": shape({**READ_ONLY, **CASE_FIELDS}, "*"),
    "TestCasePage": shape({"results": "[TestCase]"}, "*"),
    "SuiteStart": shape(
        {"workflow": d("str", "Only this workflow's test cases."),
         "project": d("str", "Default: your first project."),
         "environment": d("str", "Run every case on this test environment."),
         "source": SOURCE},
        closed=True,
    ),
    "SuiteStarted": shape(
        {"id": "uuid", "status": enum(SuiteStatus.values), "url": d("str", "The suite's JSON."),
         "junit_url": "str"},
        "*",
    ),
    "SuiteRun": extend("TestRunSummary", {
        "test_case": "uuid?", "test_case_name": "str?", "assertions": "[AssertionResult]"},
        "test_case assertions"),
    "Suite": extend("SuiteStarted", {
        "project": "str", "workflow": "str?", "environment": "str?", "source": "str",
        "triggered_by": "str", "created_at": "time", "started_at": "time?",
        "completed_at": "time?", "total": "int", "passed": "int", "failed": "int",
        "error": d("int", "Runs that ended in error or were cancelled, and cases that could "
                   "not start."),
        "cancelled": "int", "active": "int",
        "pass_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                      "description": "passed / total."},
        "duration_ms": "int?", "runs": "[SuiteRun]",
        "start_errors": d("[StartError]", "Test cases that could not start."),
    }, "total passed failed error pass_rate duration_ms runs"),
    "StartError": shape({"test_case": "uuid", "name": "str", "workflow": "str", "error": "str"},
                        "*"),
}  # fmt: skip

_delete = op("Delete the test case (its runs stay, without it).", "204 Deleted.", "any", CASE,
             errors="403")  # fmt: skip
_delete["responses"]["204"] = {"description": "Deleted."}
_junit = op("The suite as JUnit XML: a testsuite per workflow, a testcase per test case.",
            "200 JUnit XML.", "any", SUITE)  # fmt: skip
_junit["responses"]["200"] = {
    "description": "JUnit XML.",
    "content": {"application/xml": {"schema": {"type": "string"}}},
}

PATHS: Schema = {
    "/api/test-cases": {
        "get": op("Test cases of your projects (or of one), by workflow and name.",
                  "200 Test cases.", "TestCasePage", PROJECT,
                  param("workflow", "query", "Workflow slug.")),
        "post": op("Save a test case.", "201 Created.", "TestCase", PROJECT,
                   body="TestCaseInput", errors="403"),
    },
    "/api/test-cases/{case_id}": {
        "get": op("One test case.", "200 The test case.", "TestCase", CASE),
        "put": op("Change the fields given; the others keep their values.", "200 Saved.",
                  "TestCase", CASE, body="TestCaseUpdate", errors="403"),
        "delete": _delete,
    },
    "/api/suites": {
        "post": op("Run every test case of a workflow or a project, on the queue.",
                   "201 Queued.", "SuiteStarted", PROJECT, body="SuiteStart",
                   body_required=False, errors="403"),
    },
    "/api/suites/{suite_id}": {
        "get": op("A suite: counts, pass rate, duration and its runs.", "200 The suite.",
                  "Suite", SUITE),
    },
    "/api/suites/{suite_id}/junit": {"get": _junit},
}  # fmt: skip
