"""A stand-in for the old sample loader: samples are read once, by meshhook.demo.

Only testruns/views.py still imports this; once it calls `meshhook.demo.sample_for` itself
(using `.payload` and `.headers`), delete this module.
"""

from __future__ import annotations

from typing import Any

from meshhook import demo


def sample_for(slug: str) -> dict[str, Any]:
    sample = demo.sample_for(slug)
    return {"payload": sample.payload, "headers": sample.headers}
