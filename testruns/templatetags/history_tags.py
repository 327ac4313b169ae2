"""Filters of the history page."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def first_line(text: str) -> str:
    """The first non-blank line: what a table cell has room for."""
    for line in (text or "")[:2000].splitlines():  # an error can be megabytes long
        if line.strip():
            return line.strip()
    return ""
