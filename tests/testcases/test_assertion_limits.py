"""An assertion's path is evaluated like a transform's expression: bounded in bytes, so a
path that multiplies a large output fails the assertion with the limit instead of taking
the worker's memory."""

from __future__ import annotations

import tracemalloc

from testruns.assertions import RunFacts, StepFacts, evaluate

AMPLIFIER = "[@,@,@,@,@,@,@,@] | [@,@,@,@,@,@,@,@] | [@,@,@,@,@,@,@,@] | [@,@,@,@,@,@,@,@]"


def test_an_amplifying_path_fails_the_assertion_naming_the_limit() -> None:
    output = {"rows": [{"id": n, "name": "x" * 90} for n in range(2_000)]}  # about 200 KB
    run = RunFacts(status="passed", steps=[StepFacts(node_id="load", status="succeeded",
                                                     output=output)])  # fmt: skip
    assertion = {"target": "step.output", "node": "load", "path": f"rows.{AMPLIFIER}",
                 "op": "exists"}  # fmt: skip
    tracemalloc.start()
    try:
        [result] = evaluate([assertion], run)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["passed"] is False
    assert "limit" in result["message"]
    assert peak < 60_000_000  # unbounded, 8**4 copies of 200 KB would be 800 MB


def test_an_ordinary_path_still_reads_the_value() -> None:
    run = RunFacts(status="passed", steps=[StepFacts(node_id="load", status="succeeded",
                                                     output={"rows": [{"id": 7}]})])  # fmt: skip
    assertion = {"target": "step.output", "node": "load", "path": "rows[0].id", "op": "equals",
                 "expected": 7}  # fmt: skip
    [result] = evaluate([assertion], run)
    assert result["passed"] is True
