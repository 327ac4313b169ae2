"""The engine must stay importable without Django (DESIGN §1)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_engine_loads_no_django_module() -> None:
    script = (
        "import sys, meshhook.engine\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(loaded))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert completed.stdout.strip() == ""


def test_meshhook_package_init_stays_empty() -> None:
    assert (ROOT / "meshhook" / "__init__.py").read_text() == ""


def test_no_engine_source_mentions_django_imports() -> None:
    engine = ROOT / "meshhook" / "engine"
    offenders = [
        path.name
        for path in engine.rglob("*.py")
        if "import django" in path.read_text() or "from django" in path.read_text()
    ]
    assert offenders == []
