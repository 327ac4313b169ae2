"""What one test run may store: step records, events and bytes (DESIGN §4).

A 1,000-item loop with 20 body nodes writes 20,000 step records and 40,000 events; without
a bound, one run can hold a worker for minutes and fill the database. The driver charges a
`RunBudget` as it goes (each engine event, each step and loop item it stores); once one
limit is passed the engine's `should_stop` answers yes, the step in flight stops at its
next check (a loop checks before every item), and the run ends `failed` with a message
naming the limit and its setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from testruns.models import TestRun


@dataclass
class RunBudget:
    max_step_records: int
    max_events: int
    max_stored_bytes: int
    step_records: int = 0
    events: int = 0
    stored_bytes: int = 0
    exceeded: str | None = None

    @classmethod
    def for_run(cls, run: TestRun) -> RunBudget:
        """The settings' limits, with what the run already holds (a resumed run)."""
        return cls(
            max_step_records=settings.RUN_MAX_STEP_RECORDS,
            max_events=settings.RUN_MAX_EVENTS,
            max_stored_bytes=settings.RUN_MAX_STORED_BYTES,
            step_records=run.total_steps,
            events=run.last_seq,
        )

    def charge(self, *, step_records: int = 0, events: int = 0, stored_bytes: int = 0) -> bool:
        """Count what is about to be stored; False once any limit is passed."""
        self.step_records += step_records
        self.events += events
        self.stored_bytes += stored_bytes
        if self.exceeded is None:
            for used, limit, what, setting in (
                (self.step_records, self.max_step_records, "step records", "RUN_MAX_STEP_RECORDS"),
                (self.events, self.max_events, "events", "RUN_MAX_EVENTS"),
                (self.stored_bytes, self.max_stored_bytes, "stored bytes", "RUN_MAX_STORED_BYTES"),
            ):
                if limit and used > limit:
                    self.exceeded = (
                        f"The run reached its limit of {limit:,} {what} ({setting}) and was "
                        "stopped."
                    )
                    break
        return self.exceeded is None
