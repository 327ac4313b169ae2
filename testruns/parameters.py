"""Validation of test-run parameters, shared by the console form and the JSON API.

Every problem carries the JSON path of the field it is about, so the form can show it
next to the field and the API can return it in `errors[]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshhook.crypto import decrypt, encrypt
from meshhook.engine import MASK, Limits, Problem, is_sensitive_header
from meshhook.engine import Workflow as EngineWorkflow
from meshhook.engine.limits import payload_bytes
from meshhook.models import Environment, Project
from meshhook.problems import ProblemError

HEADER_NAME_CHARS = set(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
MODES = ("auto", "step")
# What the Test-run form starts from when a workflow has never run.
DEFAULT_PARAMETERS: dict[str, Any] = {
    "payload": {},
    "headers": {},
    "environment": "local",
    "mode": "auto",
    "breakpoints": [],
    "mocks": {},
    "honor_delays": False,
}
PAYLOAD_LIMIT = Limits().max_payload_bytes
# How a run stores a credential header's value (DESIGN §4: encrypted at rest): this marker,
# then the Fernet token of meshhook.crypto, the environment secrets' key and helper.
SEALED = "meshhook-encrypted:"


class ParameterError(ProblemError):
    """Test-run parameters that do not hold, each problem with its JSON path."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("The test-run parameters are invalid.", problems)

    def __str__(self) -> str:
        return "; ".join(f"{p.path}: {p.message}" for p in self.problems)


@dataclass(frozen=True)
class RunParameters:
    payload: Any
    headers: dict[str, str]
    environment: Environment
    mode: str = "auto"
    breakpoints: list[str] = field(default_factory=list)
    mocks: dict[str, Any] = field(default_factory=dict)
    honor_delays: bool = False


def seal_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as a run stores them: each credential header's value encrypted."""
    return {
        name: SEALED + encrypt(value)
        if is_sensitive_header(name) and isinstance(value, str) and not value.startswith(SEALED)
        else value
        for name, value in headers.items()
    }


def open_headers(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored headers with their real values, for the engine and re-runs only. A value
    stored before credentials were encrypted is read as it is."""
    return {
        name: decrypt(value.removeprefix(SEALED))
        if is_sensitive_header(name) and isinstance(value, str) and value.startswith(SEALED)
        else value
        for name, value in stored.items()
    }


def keep_stored_credentials(
    headers: Mapping[str, Any], stored: Mapping[str, Any]
) -> dict[str, Any]:
    """`headers` with each credential value left as the mask (the form and the API show
    stored credentials so) replaced by `stored`'s value of that header, in any case."""
    by_name = {name.lower(): value for name, value in stored.items()}
    return {
        name: by_name.get(name.lower(), value)
        if value == MASK and is_sensitive_header(name)
        else value
        for name, value in headers.items()
    }


def parse_headers_text(text: str) -> dict[str, str]:
    """`Name: value` lines, as copied from a browser or curl -v, into a dict."""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ">", "<")) or ":" not in line:
            continue
        name, _, value = line.partition(":")
        if name.strip():  # (static/js/app.js applies the same rule to "Add as rows")
            headers[name.strip()] = value.strip()
    return headers


def validate_parameters(
    project: Project, workflow: EngineWorkflow, raw: dict[str, Any]
) -> RunParameters:
    problems: list[Problem] = []

    payload = raw.get("payload", {})
    size = payload_bytes(payload)
    if size > PAYLOAD_LIMIT:
        problems.append(
            Problem(
                "payload",
                f"The payload is {size:,} bytes; the limit is {PAYLOAD_LIMIT:,} bytes.",
            )
        )

    headers_raw = raw.get("headers", {})
    headers: dict[str, str] = {}
    if headers_raw is None:
        headers_raw = {}
    if not isinstance(headers_raw, dict):
        problems.append(Problem("headers", "Headers must be an object of name → value."))
    else:
        for name, value in headers_raw.items():
            if not name or not set(name) <= HEADER_NAME_CHARS:
                problems.append(Problem(f"headers.{name}", f"'{name}' is not a valid header name."))
            elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
                problems.append(Problem(f"headers.{name}", "A header value must be a string."))
            elif "\n" in str(value) or "\r" in str(value):
                problems.append(Problem(f"headers.{name}", "A header value cannot span lines."))
            elif value == MASK and is_sensitive_header(name):
                # The mask stands for a stored value, and there is none to keep here.
                message = f"'{name}' has no stored value to keep; type its value."
                problems.append(Problem(f"headers.{name}", message))
            else:
                headers[name] = str(value)

    environment = None
    env_name = raw.get("environment") or "local"
    if not isinstance(env_name, str):
        problems.append(Problem("environment", "The environment must be a name."))
    else:
        environment = project.environments.filter(name=env_name).first()
        if environment is None:
            problems.append(
                Problem("environment", f"No environment '{env_name}' in project {project.slug}.")
            )
        elif not environment.is_test:
            problems.append(
                Problem(
                    "environment",
                    f"'{env_name}' is a production environment; test runs use test "
                    "environments only.",
                )
            )

    mode = raw.get("mode", "auto") or "auto"
    if mode not in MODES:
        problems.append(Problem("mode", "The mode must be 'auto' (run all) or 'step'."))

    node_ids = {node.id for node in workflow.nodes}
    breakpoints = raw.get("breakpoints") or []
    if not isinstance(breakpoints, list):
        problems.append(Problem("breakpoints", "Breakpoints must be a list of node ids."))
        breakpoints = []
    parents = {node.id: node.parent for node in workflow.nodes}
    for index, node_id in enumerate(breakpoints):
        path = f"breakpoints[{index}]"
        if not isinstance(node_id, str) or node_id not in node_ids:
            problems.append(Problem(path, f"No node {node_id!r} in the workflow."))
        elif parents[node_id]:
            # The run pauses between steps, and a whole loop is one step.
            message = f"'{node_id}' is inside loop '{parents[node_id]}'; break on the loop."
            problems.append(Problem(path, message))

    mocks = raw.get("mocks") or {}
    if not isinstance(mocks, dict):
        problems.append(Problem("mocks", "Mocks must be an object of node id → output."))
        mocks = {}
    for node_id in mocks:
        if node_id not in node_ids:
            problems.append(Problem(f"mocks.{node_id}", f"No node '{node_id}' in the workflow."))

    honor_delays = raw.get("honor_delays", False)
    if not isinstance(honor_delays, bool):
        problems.append(Problem("honor_delays", "honor_delays must be true or false."))

    if problems or environment is None:
        raise ParameterError(problems)
    return RunParameters(
        payload=payload,
        headers=headers,
        environment=environment,
        mode=mode,
        breakpoints=[str(node_id) for node_id in dict.fromkeys(breakpoints)],
        mocks=dict(mocks),
        honor_delays=bool(honor_delays),
    )
