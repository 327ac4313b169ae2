"""The rules for environments, shared by the JSON API and the admin.

`validate_fields` checks whichever fields a change gives (each validator appends every
problem it finds, with its JSON path, and returns what is valid); `keeps_production_secrets`
is the one rule that depends on what is stored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from meshhook.engine import Problem
from meshhook.engine.addresses import ip_literal, is_loopback_name, is_private_address
from meshhook.engine.problems import child_path as json_path
from meshhook.models import Environment

# Names are read in templates as `env.NAME` / `secrets.NAME`: JMESPath identifiers.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_VALUE_LENGTH = 10_000
MAX_ENTRIES = 200
# `host`, `*.domain` or either with `:port`; IPv6 in brackets.
HOST_PATTERN = re.compile(
    r"(?P<host>(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(:(?P<port>[0-9]{1,5}))?"
)
MAX_DESCRIPTION_LENGTH = 200  # Environment.description
# Names that only ever lead to this machine or a private network: a wildcard under them
# would open every such host (e.g. metadata.google.internal).
PRIVATE_SUFFIXES = ("localhost", "local", "localdomain", "internal", "lan", "home.arpa")
FIELDS = ("kind", "description", "variables", "secrets", "allowed_hosts", "allow_private_network")


def validate_fields(changes: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """The valid values of the FIELDS present in `changes`; a field left out is not checked
    (it keeps its stored value). `secrets` are plain values here, to be encrypted on save."""
    values: dict[str, Any] = {}
    if "kind" in changes:
        if changes["kind"] in Environment.Kind.values:
            values["kind"] = changes["kind"]
        else:
            problems.append(Problem("kind", "kind must be 'test' or 'production'."))
    if "description" in changes:
        description = changes["description"]
        if isinstance(description, str) and len(description) <= MAX_DESCRIPTION_LENGTH:
            values["description"] = description
        else:
            message = f"description must be a string of at most {MAX_DESCRIPTION_LENGTH}."
            problems.append(Problem("description", message))
    for field in ("variables", "secrets"):
        if field in changes:
            values[field] = validate_string_map(changes, field, problems)
    if "allowed_hosts" in changes:
        values["allowed_hosts"] = validate_allowed_hosts(changes["allowed_hosts"], problems)
    if "allow_private_network" in changes:
        if isinstance(changes["allow_private_network"], bool):
            values["allow_private_network"] = changes["allow_private_network"]
        else:
            message = "allow_private_network must be true or false."
            problems.append(Problem("allow_private_network", message))
    return values


def keeps_production_secrets(
    environment: Environment, kind: str, *, replaces_secrets: bool
) -> bool:
    """Whether saving `environment` (as stored) with `kind` would turn a production
    environment into a test one that still has its secrets.

    Keeping them would hand production secrets to test runs (DESIGN §4), so such a change
    must replace or clear the secrets in the same save.
    """
    return (
        environment.pk is not None
        and environment.kind == Environment.Kind.PRODUCTION
        and kind == Environment.Kind.TEST
        and bool(environment.encrypted_secrets)
        and not replaces_secrets
    )


def validate_string_map(
    body: Mapping[str, Any], field: str, problems: list[Problem]
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
    return private_entry_problem(name, port)


def private_entry_problem(name: str, port: str | None) -> str | None:
    """Private and loopback destinations are opened one `host:port` at a time: a wildcard or
    a port-less entry would open every port (every service) of the machine or network."""
    if name.startswith("*."):
        domain = name[2:]
        last_label = domain.rsplit(".", 1)[-1]
        if last_label.isdigit() or ip_literal(domain) is not None:
            return "a wildcard cannot cover IP addresses; list each as 'address:port'."
        if any(domain == suffix or domain.endswith(f".{suffix}") for suffix in PRIVATE_SUFFIXES):
            return (
                f"a wildcard cannot cover the private names under '{domain}'; list each "
                "as 'host:port'."
            )
        return None
    address = ip_literal(name)
    if address is not None and not name.startswith("[") and str(address) != name:
        return f"write the address as '{address}' (another spelling of it is not accepted)."
    private = (address is not None and is_private_address(address)) or is_loopback_name(name)
    if private and port is None:
        example = f"{name}:8000"
        return (
            "a private or loopback address must name its port, as in "
            f"'{example}': without one it would open every service on that machine."
        )
    return None
