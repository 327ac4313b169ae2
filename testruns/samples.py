"""Sample payloads offered in the Test-run form before a workflow has ever run."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SAMPLES_FILE = Path(__file__).resolve().parent.parent / "meshhook" / "demo" / "samples.json"


@lru_cache(maxsize=1)
def _samples() -> dict[str, Any]:
    if not SAMPLES_FILE.exists():
        return {}
    loaded = json.loads(SAMPLES_FILE.read_text())
    return loaded if isinstance(loaded, dict) else {}


def sample_for(slug: str) -> dict[str, Any]:
    sample = _samples().get(slug)
    return sample if isinstance(sample, dict) else {"payload": {}, "headers": {}}
