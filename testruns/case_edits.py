"""What the run page changes in a test case: "Assert this value" (one assertion from a node
of a step's output, or of the run's result) and "Accept as new baseline".

An asserted value goes into the test case the user picks — by default the run's own — or
into a new test case made from the run the way "Save as test case" makes it
(`testcases.case_from_run`). An assertion with the same target, node, path and op as one the
case has already replaces it, so asserting the actual value of a failed check fixes it
instead of adding a second, contradicting one. Problems are reported with the form field
they are about (`expected`, `op`, `path`, `case`, `name`…) and nothing is saved.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from meshhook.engine import Problem
from meshhook.strictjson import JsonInputError, loads
from testruns import assertions
from testruns.models import TestRun
from testruns.testcase_models import TestCase
from testruns.testcases import TestCaseError, case_from_run, save_test_case

NEW_CASE = "new"
FORM_FIELDS = ("case", "name", "target", "node", "path", "op", "expected")
SAME = ("target", "node", "path", "op")
# `assertions[3].expected` → `expected`: the field of the form the problem is about.
_ASSERTION_FIELD = re.compile(r"^assertions\[(\d+)\](?:\.(\w+))?")


@dataclass(frozen=True)
class AssertionForm:
    """The form as posted: text, as the user left it (a 400 shows it again)."""

    case: str = NEW_CASE
    name: str = ""
    target: str = "step.output"
    node: str = ""
    path: str = ""
    op: str = "equals"
    expected: str = ""

    @classmethod
    def from_post(cls, data: Mapping[str, Any]) -> AssertionForm:
        values = {key: str(data.get(key, "")) for key in FORM_FIELDS}
        values["case"] = values["case"].strip() or NEW_CASE
        return cls(**values)

    @property
    def subject(self) -> str:
        return subject_of({"target": self.target, "node": self.node, "path": self.path.strip()})


def subject_of(item: Mapping[str, Any]) -> str:
    """`step.output of 'map' at score`: what an assertion looks at."""
    text = str(item.get("target") or "")
    if item.get("node"):
        text += f" of '{item['node']}'"
    if item.get("path"):
        text += f" at {item['path']}"
    return text


@dataclass(frozen=True)
class SavedAssertion:
    case: TestCase
    assertion: dict[str, Any]
    created: bool
    replaced: dict[str, Any] | None

    @property
    def subject(self) -> str:
        return subject_of(self.assertion)

    @property
    def expected_text(self) -> str:
        if self.assertion["op"] in assertions.NO_EXPECTED:
            return ""
        return assertions.compact(self.assertion.get("expected"))

    @property
    def replaced_text(self) -> str:
        if self.replaced is None or self.replaced.get("op") in assertions.NO_EXPECTED:
            return ""
        return assertions.compact(self.replaced.get("expected"))


def parse_assertion(form: AssertionForm) -> dict[str, Any]:
    """The assertion the form describes, or TestCaseError naming the fields at fault."""
    problems: list[Problem] = []
    item: dict[str, Any] = {"target": form.target.strip(), "op": form.op.strip()}
    if item["target"] in assertions.STEP_TARGETS or form.node.strip():
        item["node"] = form.node.strip()
    if form.path.strip():
        item["path"] = form.path.strip()
    if item["op"] not in assertions.NO_EXPECTED:
        if not form.expected.strip():
            problems.append(
                Problem("expected", "Give the expected value as JSON (text in double quotes).")
            )
        else:
            try:
                item["expected"] = loads(form.expected)
            except JsonInputError as error:
                problems.append(Problem("expected", str(error)))
    named = {problem.path for problem in problems}
    problems += [
        problem for problem in assertions.validate_one(item, None, "") if problem.path not in named
    ]
    if problems:
        raise TestCaseError(problems)
    return item


def _on_fields(error: TestCaseError, index: int) -> TestCaseError:
    """The problems of saving the case, said about the form's fields where they are about
    the new assertion (`assertions[index].node` → `node`)."""
    problems = []
    for problem in error.problems:
        match = _ASSERTION_FIELD.match(problem.path)
        if match and int(match.group(1)) == index:
            problems.append(Problem(match.group(2) or "expected", problem.message))
        else:
            problems.append(problem)
    return TestCaseError(problems)


def _same(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    return all(left.get(key) == right.get(key) for key in SAME)


@transaction.atomic
def assert_value(run: TestRun, form: AssertionForm, *, user: Any) -> SavedAssertion:
    """Save the form's assertion into its test case (see the module doc)."""
    item = parse_assertion(form)
    workflow = run.workflow
    if form.case == NEW_CASE:
        try:
            case = case_from_run(run, form.name.strip(), user=user, extra_assertions=[item])
        except TestCaseError as error:
            # The new case's assertions: "the run passes", then this one.
            raise _on_fields(error, 1) from None
        return SavedAssertion(case, item, created=True, replaced=None)
    try:
        case_id = uuid.UUID(form.case)
    except ValueError:
        raise TestCaseError([Problem("case", "Pick a test case, or a new one.")]) from None
    found = TestCase.objects.select_for_update().filter(pk=case_id, workflow=workflow).first()
    if found is None:
        raise TestCaseError(
            [Problem("case", f"Workflow '{workflow.slug}' has no test case {case_id}.")]
        )
    checks = list(found.assertions)
    index = next((at for at, check in enumerate(checks) if _same(check, item)), None)
    replaced = None
    if index is None:
        index = len(checks)
        checks.append(item)
    else:
        replaced, checks[index] = checks[index], item
    try:
        save_test_case(workflow, {"assertions": checks}, user=user, existing=found)
    except TestCaseError as error:
        raise _on_fields(error, index) from None
    return SavedAssertion(found, item, created=False, replaced=replaced)


@transaction.atomic
def accept_baseline(run: TestRun, *, user: Any) -> TestCase:
    """Make `run` the baseline of the test case it is a run of."""
    if run.test_case_id is None:
        raise TestCaseError([Problem("baseline_run", "This run is not a run of a test case.")])
    case = TestCase.objects.select_for_update().get(pk=run.test_case_id)
    return save_test_case(case.workflow, {"baseline_run": str(run.id)}, user=user, existing=case)
