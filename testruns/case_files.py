"""A workflow's test cases as one JSON file, to keep in git beside the workflow (DESIGN §8).

```json
{"format": "meshhook.test-cases/1", "workflow": "lead-to-crm",
 "test_cases": [{"name": "…", "description": "", "payload": {}, "headers": {},
                 "environment": "local", "mocks": {}, "assertions": [], "baseline_run": null,
                 "volatile_paths": [], "replay_from_run": null}]}
```

The file is stable, so exporting twice gives the same bytes: cases by name, no ids or
timestamps. Credential headers (Authorization, Cookie, API keys…) never appear in clear:
exported as the mask `••••••` by default, or with `credentials="encrypted"` as
`meshhook-encrypted:<token>` (Fernet, the key of environment secrets, so only a deployment
with the same SECRETS_ENCRYPTION_KEY can read them).

Importing updates the cases of the same name and creates the others; cases not in the file
stay. All or nothing: every case is checked first, and any problem (with its path, like
`test_cases[2].assertions[0].op`) means nothing is written. A masked credential keeps the
value stored in the case of the same name; a baseline or replay run this deployment does
not have is dropped with a warning (run ids belong to the deployment that recorded them).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import transaction

from meshhook.crypto import decrypt, encrypt
from meshhook.engine import MASK, Problem
from meshhook.engine.masking import is_sensitive_header
from meshhook.engine.problems import child_path
from meshhook.models import Workflow
from meshhook.problems import ProblemError
from testruns.models import TestRun
from testruns.parameters import SEALED  # the marker of a credential stored encrypted
from testruns.testcase_models import TestCase
from testruns.testcases import TestCaseError, clean_test_case, save_test_case

FORMAT = "meshhook.test-cases/1"
CASE_FIELDS = (
    "name", "description", "payload", "headers", "environment", "mocks", "assertions",
    "baseline_run", "volatile_paths", "replay_from_run",
)  # fmt: skip
MAX_CASES = 1000
Credentials = Literal["masked", "encrypted"]


class CaseFileError(ProblemError):
    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"The test-case file cannot be imported ({count} {noun}); nothing was written.",
            problems,
        )


# --- export -----------------------------------------------------------------------------


def export_cases(workflow: Workflow, *, credentials: Credentials = "masked") -> dict[str, Any]:
    cases = workflow.test_cases.order_by("name")
    return {
        "format": FORMAT,
        "workflow": workflow.slug,
        "test_cases": [_case_entry(case, credentials) for case in cases],
    }


def export_text(workflow: Workflow, *, credentials: Credentials = "masked") -> str:
    """The file's text: indented, key order as written, a final newline (git-friendly)."""
    document = export_cases(workflow, credentials=credentials)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _case_entry(case: TestCase, credentials: Credentials) -> dict[str, Any]:
    fields = case.editable_fields()
    fields["headers"] = {
        name: _exported_credential(value, credentials) if is_sensitive_header(name) else value
        for name, value in case.headers.items()
    }
    return {name: fields[name] for name in CASE_FIELDS}


def _exported_credential(value: Any, credentials: Credentials) -> str:
    if credentials == "masked" or not isinstance(value, str):
        return MASK
    return value if value.startswith(SEALED) else SEALED + encrypt(value)


# --- import -----------------------------------------------------------------------------


@dataclass
class ImportReport:
    workflow: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "warnings": [{"path": w.path, "message": w.message} for w in self.warnings],
            "dry_run": self.dry_run,
        }


def import_cases(
    workflow: Workflow, document: Any, *, user: Any = None, dry_run: bool = False
) -> ImportReport:
    """Check every case of `document`, then write them all in one transaction (or none)."""
    report = ImportReport(workflow=workflow.slug, dry_run=dry_run)
    entries = _entries(workflow, document)
    existing = {case.name: case for case in workflow.test_cases.all()}
    problems: list[Problem] = []
    cleaned: list[tuple[dict[str, Any], dict[str, Any], TestCase | None]] = []
    names: dict[str, int] = {}
    for index, entry in enumerate(entries):
        path = f"test_cases[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(path, "A test case must be an object."))
            continue
        unknown = [key for key in entry if key not in CASE_FIELDS]
        problems += [Problem(f"{path}.{key}", "Unknown field.") for key in unknown]
        name = entry.get("name")
        key = name.strip() if isinstance(name, str) else None
        if key is not None and key in names:
            message = f"'{key}' is also test_cases[{names[key]}]; names are unique."
            problems.append(Problem(f"{path}.name", message))
        elif key is not None:
            names[key] = index
        current = existing.get(key) if key is not None else None
        data = _with_defaults(entry)
        headers, header_problems = _imported_headers(data["headers"], current, f"{path}.headers")
        problems += header_problems
        data["headers"] = headers
        for run_key in ("baseline_run", "replay_from_run"):
            if _unknown_run(workflow, data[run_key]):
                report.warnings.append(
                    Problem(
                        f"{path}.{run_key}",
                        f"Run {data[run_key]} is not in this deployment; imported without it.",
                    )
                )
                data[run_key] = None
        try:
            fields = clean_test_case(workflow, data, existing=current)
        except TestCaseError as error:
            problems += [Problem(_prefixed(path, p.path), p.message) for p in error.problems]
            continue
        cleaned.append((data, fields, current))
    if problems:
        raise CaseFileError(problems)
    with transaction.atomic():
        # Through the one way cases are saved (checked again: it is cheap, and the rules
        # stay in one place).
        for data, fields, current in cleaned:
            name = fields["name"]
            if current is not None and _same(current, fields):
                report.unchanged.append(name)
                continue
            (report.created if current is None else report.updated).append(name)
            if not dry_run:
                save_test_case(workflow, data, user=user, existing=current)
    return report


def _entries(workflow: Workflow, document: Any) -> list[Any]:
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise CaseFileError([Problem("$", "The file must be a JSON object.")])
    unknown = [key for key in document if key not in ("format", "workflow", "test_cases")]
    problems += [Problem(key, "Unknown field.") for key in unknown]
    if document.get("format") != FORMAT:
        problems.append(Problem("format", f"Not a test-case file: the format must be '{FORMAT}'."))
    if document.get("workflow") != workflow.slug:
        message = f"The file is for workflow {document.get('workflow')!r}, not '{workflow.slug}'."
        problems.append(Problem("workflow", message))
    entries = document.get("test_cases")
    if not isinstance(entries, list):
        problems.append(Problem("test_cases", "Must be an array of test cases."))
    elif len(entries) > MAX_CASES:
        problems.append(Problem("test_cases", f"More than {MAX_CASES} test cases."))
    if problems:
        raise CaseFileError(problems)
    assert isinstance(entries, list)
    return entries


def _with_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """The file is the whole truth: a field it leaves out takes its default, not the value
    stored in the case of the same name."""
    defaults: dict[str, Any] = {
        "description": "", "payload": {}, "headers": {}, "environment": "local", "mocks": {},
        "assertions": [], "baseline_run": None, "volatile_paths": [], "replay_from_run": None,
    }  # fmt: skip
    return {**defaults, **{key: value for key, value in entry.items() if key in CASE_FIELDS}}


def _imported_headers(
    headers: Any, current: TestCase | None, path: str
) -> tuple[Any, list[Problem]]:
    if not isinstance(headers, dict):
        return headers, []  # clean_test_case says what is wrong
    opened = current.headers_for_engine() if current else {}
    stored = {name.lower(): value for name, value in opened.items()}
    result: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in headers.items():
        where = child_path(path, name)
        if not (isinstance(value, str) and is_sensitive_header(name)):
            result[name] = value
        elif value == MASK:
            if name.lower() in stored:
                result[name] = stored[name.lower()]
            else:
                problems.append(
                    Problem(where, "Masked, and no stored value to keep: give the value.")
                )
        elif value.startswith(SEALED):
            try:
                result[name] = decrypt(value.removeprefix(SEALED))
            except ValueError:
                problems.append(
                    Problem(where, "Encrypted with another deployment's key; give the value.")
                )
        else:
            result[name] = value
    return result, problems


def _unknown_run(workflow: Workflow, value: Any) -> bool:
    try:
        run_id = uuid.UUID(str(value))
    except ValueError:
        return False  # not an id at all: clean_test_case says so
    return value is not None and not TestRun.objects.filter(pk=run_id, workflow=workflow).exists()


def _prefixed(path: str, inner: str) -> str:
    if inner in ("", "$"):
        return path
    return f"{path}{inner}" if inner.startswith("[") else f"{path}.{inner}"


def _same(case: TestCase, fields: dict[str, Any]) -> bool:
    return all(getattr(case, name) == value for name, value in fields.items())
