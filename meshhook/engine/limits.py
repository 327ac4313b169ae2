"""Size and count limits that keep one run (and one definition) bounded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 1_000_000
    max_definition_bytes: int = 512_000
    max_nodes: int = 200
    max_expression_length: int = 2_000
    # Hard cap over a loop's own `max_items`, so one definition cannot ask for a million iterations.
    max_loop_items: int = 1_000
    max_output_bytes: int = 1_000_000
    max_log_lines_per_step: int = 1_000
    max_response_bytes: int = 5_000_000


DEFAULT_LIMITS = Limits()


def describe_bytes(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} bytes"
