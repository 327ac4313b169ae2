"""Template filters for test-case results on the console's pages."""

from __future__ import annotations

from typing import Any

from django import template

from testruns import assertions

register = template.Library()


@register.filter
def failed_first(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return assertions.failed_first(results or [])


@register.filter
def check_counts(results: list[dict[str, Any]]) -> dict[str, int]:
    """How many checks held, failed and are still to be evaluated."""
    outcomes = [item.get("passed") for item in results or []]
    return {
        "total": len(outcomes),
        "passed": outcomes.count(True),
        "failed": outcomes.count(False),
        "pending": outcomes.count(None),
    }
