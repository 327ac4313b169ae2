"""Browser tests: a real daphne server and a real test-run worker on the test database,
driven by Debian's Chromium through Playwright.

The server and worker are *spawned*, not forked: a forked child inherits the test
process's database sockets, and when it exits it can close them under the test process.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = f"Chromium is missing at {CHROMIUM}: install Debian's `chromium` package."
        if os.environ.get("CI"):
            pytest.fail(message + " Browser tests must run in CI.")
        pytest.skip(message)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _use_database(name: str) -> None:
    """In a spawned child: set Django up on the test database the parent created."""
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = name


def _serve(port: int, ready: Any, database: str) -> None:
    _use_database(database)
    from daphne.server import Server

    from meshhook.asgi import application

    server = Server(
        application=application,
        endpoints=[f"tcp:port={port}:interface=127.0.0.1"],
        signal_handlers=False,
        ready_callable=ready.set,
    )
    server.run()


def _work(database: str) -> None:
    _use_database(database)
    import django_rq
    from rq.worker import SimpleWorker

    queue = django_rq.get_queue("testruns")
    SimpleWorker([queue], connection=queue.connection).work(with_scheduler=False)


# Package scope: the server and its worker stop when the browser tests are done, so the
# worker cannot take jobs meant for other tests' burst workers.
@pytest.fixture(scope="package")
def console_server(django_db_setup: Any) -> Iterator[str]:
    """http://127.0.0.1:<port> of a daphne + worker pair on the test database."""
    context = multiprocessing.get_context("spawn")
    database = str(connections["default"].settings_dict["NAME"])
    port = _free_port()
    ready = context.Event()
    server = context.Process(target=_serve, args=(port, ready, database), daemon=True)
    worker = context.Process(target=_work, args=(database,), daemon=True)
    server.start()
    worker.start()
    if not ready.wait(timeout=60):
        server.kill()
        worker.kill()
        raise RuntimeError("The test server did not start.")
    yield f"http://127.0.0.1:{port}"
    for process in (worker, server):
        process.terminate()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


@pytest.fixture
def console(console_server: str, transactional_db: Any, run_queue: Any) -> str:
    """The server URL, with the demo user, project, environments and workflows loaded."""
    from meshhook.demo import load_demo

    port = int(console_server.rsplit(":", 1)[1])
    load_demo(port=port)
    return console_server


@pytest.fixture(scope="package")
def browser(chromium_path: Path) -> Iterator[Any]:
    """Package scope: Playwright's sync API runs an event loop on the main thread, which
    must be gone before other tests use async_to_sync."""
    from playwright.sync_api import sync_playwright

    # While that loop runs, Django would refuse the tests' own (synchronous) ORM calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(chromium_path, sync_playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(chromium_path: Path, sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, console: str) -> Iterator[Any]:
    from playwright.sync_api import expect

    # Generous: a loaded 2-core CI machine, not slowness, is what the default 5 s catches.
    expect.set_options(timeout=15_000)
    context = browser.new_context(base_url=console, viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def login(page: Any) -> Callable[..., Any]:
    def log_in(username: str = "demo", password: str = "demo") -> Any:
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/workflows/")
        return page

    return log_in


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], None]:
    """Save a full-page screenshot under test-artifacts/ for people to look at."""
    folder = Path(__file__).resolve().parents[2] / "test-artifacts"

    def take(page: Any, name: str) -> None:
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return take
