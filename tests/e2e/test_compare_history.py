"""History and compare as a user in Chromium sees them: Compare enables once two runs are
ticked and opens a diff that reads old → new; Newer / Older walk the pages; the admin's
run list fits a 1440 px screen and links to the console."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from meshhook.demo import sample_for
from meshhook.models import Workflow
from testruns.models import RunStatus, TestRun
from tests.factories import make_workflow, personal_project, start_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def wait_for_end(*runs: TestRun, timeout: float = 30) -> None:
    # The worker is another process: its writes can only be polled from here.
    deadline = time.monotonic() + timeout
    for run in runs:
        while TestRun.objects.get(pk=run.pk).status in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not finish the run"
            time.sleep(0.05)


def shoot(page: Any, name: str, *, whole: bool = True) -> None:
    """Pictures at 1440 × 900 and 390 × 844 (the whole page, or what the screen shows),
    under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=whole)
    page.set_viewport_size({"width": 1440, "height": 1000})


def two_runs_one_output_apart() -> tuple[TestRun, TestRun]:
    user = User.objects.get(username="demo")
    lead = Workflow.objects.get(slug="lead-to-crm")
    sample = sample_for("lead-to-crm")
    older = start_run(lead, user, payload=sample.payload, headers=sample.headers)
    wait_for_end(older)
    newer = start_run(lead, user, payload=sample.payload, headers=sample.headers)
    wait_for_end(newer)
    # The same parameters: the second run's mapped lead differs in one value, as when a
    # transform was changed between the runs.
    step = newer.steps.get(node_id="map", iteration__isnull=True)
    assert isinstance(step.output, dict)
    output = dict(step.output)
    key = "name" if "name" in output else next(k for k, v in output.items() if isinstance(v, str))
    old_value = output[key]
    output[key] = "Grace Hopper"
    newer.steps.filter(pk=step.pk).update(output=output)
    assert old_value != "Grace Hopper"
    return older, newer


def test_compare_enables_with_two_ticked_runs_and_shows_the_diff(
    login: Callable[..., Any],
) -> None:
    older, newer = two_runs_one_output_apart()
    failing = start_run(
        Workflow.objects.get(slug="failing-payment"), User.objects.get(username="demo")
    )
    wait_for_end(failing)
    map_output = older.steps.get(node_id="map", iteration__isnull=True).output
    assert isinstance(map_output, dict)
    key = (
        "name"
        if "name" in map_output
        else next(k for k, v in map_output.items() if isinstance(v, str))
    )

    page = login()
    page.goto("/test-runs/")
    button = page.locator("#compare-button")
    expect(button).to_be_disabled()
    page.locator(f"#run-row-{older.id} input[name=run]").check()
    expect(button).to_be_disabled()
    expect(page.locator("#compare-status")).to_have_text("1 ticked: tick one more")
    page.locator(f"#run-row-{failing.id} input[name=run]").check()
    page.locator(f"#run-row-{newer.id} input[name=run]").check()
    expect(button).to_be_disabled()  # three
    page.locator(f"#run-row-{failing.id} input[name=run]").uncheck()
    expect(button).to_be_enabled()
    expect(page.locator("#compare-status")).to_have_text("2 ticked")
    # The failing run's error is in its row: the first line, the whole in the title.
    error_cell = page.locator(f"#run-row-{failing.id} .run-error")
    expect(error_cell).to_be_visible()
    assert error_cell.get_attribute("title") == TestRun.objects.get(pk=failing.pk).error[:2000]

    button.click()
    page.wait_for_url("**/test-runs/compare/**")
    expect(page.locator("#compare-summary")).to_contain_text("1 step and 0 parameters differ")
    changed = page.locator("#compare-steps tr.changed")
    expect(changed).to_have_count(1)
    expect(changed).to_have_attribute("data-step", "map")
    change = page.locator("#compare-steps .diff-row .d-changed").first
    expect(change.locator(".d-path")).to_have_text(key)
    expect(change.locator(".d-old")).to_have_text(f'− "{map_output[key]}"')
    expect(change.locator(".d-new")).to_have_text('+ "Grace Hopper"')
    # Unchanged steps are folded until asked for.
    same = page.locator("#compare-steps tbody.same").first
    expect(same).to_be_hidden()
    page.get_by_label("Show 5 unchanged steps").check()
    expect(same).to_be_visible()
    page.locator("#compare-steps tbody.same details.d-ign summary").first.click()
    page.screenshot(path=str(ARTIFACTS / "compare-all-steps-1440.png"), full_page=True)
    page.get_by_label("Show 5 unchanged steps").uncheck()
    page.locator("#compare-steps .diff-row details.diff-fold").first.locator("summary").click()
    shoot(page, "compare")


def test_ticks_survive_the_live_update_of_their_row(login: Callable[..., Any]) -> None:
    user = User.objects.get(username="demo")
    document = {
        "schema_version": 1,
        "name": "Slow lane",
        "slug": "slow-lane",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "wait", "type": "delay", "config": {"duration_ms": 4_000}},
            {"id": "done", "type": "terminate", "config": {"status": "success"}},
        ],
        "edges": [{"source": "hook", "target": "wait"}, {"source": "wait", "target": "done"}],
    }
    workflow = make_workflow(personal_project(user), document, user)
    finished_run = start_run(workflow, user)
    wait_for_end(finished_run)
    slow = start_run(workflow, user, honor_delays=True)

    page = login()
    page.goto("/test-runs/")
    row = page.locator(f"#run-row-{slow.id}")
    expect(row).to_have_attribute("data-status", "running")
    row.locator("input[name=run]").check()
    page.locator(f"#run-row-{finished_run.id} input[name=run]").check()
    expect(page.locator("#compare-button")).to_be_enabled()
    row.evaluate("element => { element.wasHere = true; }")
    # The run finishes: the socket replaces its row, and the tick is put back.
    expect(row).to_have_attribute("data-status", "passed", timeout=30_000)
    assert row.evaluate("element => !element.wasHere"), "the row was not replaced"
    expect(row.locator("input[name=run]")).to_be_checked()
    expect(page.locator("#compare-button")).to_be_enabled()


def test_newer_and_older_pages(login: Callable[..., Any]) -> None:
    user = User.objects.get(username="demo")
    lead = Workflow.objects.get(slug="lead-to-crm")
    failing = Workflow.objects.get(slug="failing-payment")
    real = start_run(failing, user)
    wait_for_end(real)
    real.refresh_from_db()
    # History rows written directly (no job): 40 older runs, some re-runs and step tests.
    now = timezone.now()
    version = lead.current_version()
    rows = []
    for n in range(40):
        rows.append(
            TestRun.objects.create(
                project=lead.project,
                workflow=lead,
                workflow_version=version,
                environment_name="local" if n % 3 else "staging",
                status=RunStatus.PASSED if n % 4 else RunStatus.FAILED,
                error="" if n % 4 else "Step create failed: HTTP 502 from the CRM\nretried 3 times",
                triggered_by=user,
                created_at=now - datetime.timedelta(minutes=5 + n),
                duration_ms=40 + n,
                source_run=real if n % 5 == 1 else None,
                from_step="create" if n % 10 == 1 else "",
                only_node="map" if n % 7 == 3 else "",
                total_steps=6,
                succeeded_count=5,
                failed_count=0 if n % 4 else 1,
            )
        )
    newest_first = [str(real.id)] + [str(run.id) for run in rows]

    def shown() -> list[str]:
        return [
            (row.get_attribute("id") or "").removeprefix("run-row-")
            for row in page.locator("#run-table tbody tr").all()
        ]

    page = login()
    page.goto("/test-runs/")
    expect(page.locator("#run-table tbody tr")).to_have_count(25)
    assert shown() == newest_first[:25]
    expect(page.get_by_role("link", name="← Newer runs")).to_have_count(0)
    page.locator("h1").click()
    shoot(page, "history", whole=False)

    page.get_by_role("link", name="Older runs →").click()
    expect(page.locator("#run-table tbody tr")).to_have_count(16)
    assert shown() == newest_first[25:]
    expect(page.get_by_role("link", name="Older runs →")).to_have_count(0)

    page.get_by_role("link", name="← Newer runs").click()
    expect(page.locator("#run-table tbody tr")).to_have_count(25)
    assert shown() == newest_first[:25]

    # With a filter: the links keep it, and so does the page they open.
    page.goto("/test-runs/?environment=local")
    expect(page.locator("#run-filters select[name=environment]")).to_have_value("local")
    page.get_by_role("link", name="Older runs →").click()
    expect(page).to_have_url(re.compile(r"environment=local&cursor="))
    expect(page.locator("#run-filters select[name=environment]")).to_have_value("local")
    expect(page.locator("#run-table tbody tr")).to_have_count(2)  # 27 local runs
    page.get_by_role("link", name="← Newer runs").click()
    expect(page).to_have_url(re.compile(r"environment=local&before="))
    expect(page.locator("#run-table tbody tr")).to_have_count(25)
    expect(page.locator("#run-table")).not_to_contain_text("staging")


def test_admin_run_list_fits_1440_and_links_to_the_console(login: Callable[..., Any]) -> None:
    older, _newer = two_runs_one_output_apart()
    page = login()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/admin/testruns/testrun/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    widths = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth,"
        " table: document.querySelector('#result_list').getBoundingClientRect().right,"
        " box: document.querySelector('.results').clientWidth,"
        " inner: document.querySelector('.results').scrollWidth})"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-runs-1440.png"), full_page=True)
    assert widths["page"] <= 1440, widths
    assert widths["inner"] <= widths["box"], widths
    page.locator(f"#result_list tr:has(a[href='/test-runs/{older.id}/'])").get_by_role(
        "link", name="View in console"
    ).click()
    page.wait_for_url(f"**/test-runs/{older.id}/")
    expect(page.locator("h1")).to_be_visible()
