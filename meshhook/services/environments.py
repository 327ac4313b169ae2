"""Validation of environment fields, shared by the JSON API and the admin.

Each validator appends every problem it finds (with its JSON path) and returns what is valid.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from meshhook.engine import Problem
from meshhook.engine.problems import child_path as json_path

# Names are read in templates as `env.NAME` / `secrets.NAME`: JMESPath identifiers.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_VALUE_LENGTH = 10_000
MAX_ENTRIES = 200
# `host`, `*.domain` or either with `:port`; IPv6 in brackets.
HOST_PATTERN = re.compile(
    r"(?P<host>(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(:(?P<port>[0-9]{1,5}))?"
)


def validate_string_map(
    body: dict[str, Any], field: str, problems: list[Problem]
) -> dict[str, str]:
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


def validate_allowed_hosts(value: Any, problems: list[Problem]) -> list[str]:
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
        problem = host_problem(host)
        if problem:
            problems.append(Problem(path, f"'{item}': {problem}"))
        elif host not in hosts:
            hosts.append(host)
    return hosts


def host_problem(host: str) -> str | None:
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
