"""Who may do what, for every route the URL resolver knows.

The routes are read from `django.urls.get_resolver()` (and the websocket routes from
`meshhook.urls.websocket_urlpatterns`), so a new route fails `test_every_route_has_a_rule`
until it is given a rule below or exempted with a reason. Each rule fills the route's URL
kwargs from real objects (a team project with a workflow, a finished loop run with steps, a
test case, a suite, an environment, a token) and names who gets what for each method it
accepts: owner / editor / viewer / outsider (a user of another project) / anonymous.
Every method a rule does not list must be refused with 405.

Pages are requested with a session (CSRF enforced: the client sends the token as a browser
does, and every write is also tried without it: 403, pages and API); the JSON API with
`Authorization: Bearer <token>`. Outsiders get 404, viewers 403 on
writes, anonymous visitors the login page (pages) or 401 (API). Each request runs in a
savepoint that is rolled back, so a write by one role (a delete) cannot change what the next
role finds. django-rq's dashboard is checked to be staff-only, and the websocket routes to
close with 4403 for whoever may not watch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils.crypto import get_random_string
from rq import Queue

from meshhook.models import ApiToken, Membership
from meshhook.urls import websocket_urlpatterns
from testruns.case_files import FORMAT
from testruns.models import TestRun
from testruns.serializers import run_export
from testruns.suites import start_suite
from testruns.testcase_models import TestCase, TestSuiteRun
from testruns.testcases import start_case_run
from tests.factories import (
    Team,
    definition,
    finished,
    make_run,
    make_team,
    make_token,
    make_workflow,
    paused,
    run_form,
    start_run,
)
from tests.testcases.helpers import make_case
from tests.testruns.big_runs import finished_loop_run, loop_definition
from tests.testruns.sockets import session_cookie, socket_to

ROLES = ("owner", "editor", "viewer", "outsider", "anonymous")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# What a request may be answered with.
OK = "ok"  # let through: 2xx/3xx, not to a login page (every write below is a valid one)
DENIED = "403"
HIDDEN = "404"
LOGIN = "login"  # pages: a redirect to the login page; the API: 401
STAFF_ONLY = "staff"  # django-rq: the admin's login page
LOGIN_PAGE = "/login/?next="

# Prefixes left out of the matrix, each with its reason.
EXEMPT_PREFIXES = {
    # Django's admin: its own is_staff checks; tests/test_admin.py covers what it shows.
    "admin/": "Django admin",
    # The sandbox's fake APIs answer anyone where SANDBOX_ENABLED (meshhook/sandbox.py).
    "sandbox/": "public sandbox",
}
# Routes that are not project-scoped, each with its reason.
EXEMPT_ROUTES = {
    "": "redirects everyone to the workflow list (whose access is tested)",
    "login/": "the login page answers anyone",
    "logout/": "logging out needs no rights",
    "api/(?P<rest>.*)$": "the API's JSON catch-all answers 404 to everyone",
}


def walk(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    """(route, pattern) of every URL pattern, routes joined the way ResolverMatch.route is."""
    for pattern in patterns:
        route = str(pattern.pattern)
        joined = prefix + (route.removeprefix("^") if prefix else route)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, joined)
        else:
            yield joined, pattern


def all_routes() -> list[str]:
    return [route for route, _ in walk(get_resolver().url_patterns)]


def is_exempt(route: str) -> bool:
    return route in EXEMPT_ROUTES or any(route.startswith(p) for p in EXEMPT_PREFIXES)


# --- the world the rules fill their URLs from -----------------------------------------------


@dataclass
class World:
    team: Team
    run: TestRun  # a run of the team's workflow, paused before `map`
    other_run: TestRun  # another one, to compare with
    loop_run: TestRun  # a finished run with a loop and its iterations
    case: TestCase
    case_run: TestRun  # a finished run of `case`
    suite: TestSuiteRun
    token: ApiToken  # the owner's
    export: dict[str, Any] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.team.project.slug

    def step(self, node_id: str = "hook") -> int:
        pk: int = self.loop_run.steps.get(node_id=node_id, iteration__isnull=True).pk
        return pk


def build_world() -> World:
    team = make_team()
    loops = make_workflow(team.project, loop_definition(slug="loops"), team.owner)
    loop_run = finished_loop_run(loops, team.owner, count=2, events=3)
    run = paused(start_run(team.workflow, team.owner, mode="step"))
    other_run = start_run(team.workflow, team.owner)
    case = make_case(team.workflow, team.owner)
    case_run = finished(start_case_run(case, user=team.owner, source="console"))
    suite = start_suite(team.project, user=team.owner, source="api")
    token, _ = ApiToken.issue(team.owner, "matrix")
    world = World(
        team,
        run,
        other_run,
        loop_run,
        case,
        case_run,
        suite,
        token,
    )
    world.export = run_export(loop_run, RequestFactory().get("/"))
    return world


# --- the rules ------------------------------------------------------------------------------


def members_read() -> dict[str, str]:
    return {"owner": OK, "editor": OK, "viewer": OK, "outsider": HIDDEN, "anonymous": LOGIN}


def editors_write() -> dict[str, str]:
    return {"owner": OK, "editor": OK, "viewer": DENIED, "outsider": HIDDEN, "anonymous": LOGIN}


def owners_only() -> dict[str, str]:
    return {"owner": OK, "editor": DENIED, "viewer": DENIED, "outsider": HIDDEN, "anonymous": LOGIN}


def any_user() -> dict[str, str]:
    """Not project-scoped: each user sees their own (an outsider an empty list)."""
    return {"owner": OK, "editor": OK, "viewer": OK, "outsider": OK, "anonymous": LOGIN}


def holder_only() -> dict[str, str]:
    """The owner's own token: anyone else, whatever their role, cannot see it."""
    return {"owner": OK, "editor": HIDDEN, "viewer": HIDDEN, "outsider": HIDDEN, "anonymous": LOGIN}


def everyone() -> dict[str, str]:
    return dict.fromkeys(ROLES, OK)


Kwargs = Callable[[World], dict[str, Any]]
Body = Callable[[World], Any]


@dataclass
class Rule:
    methods: dict[str, dict[str, str]]
    kwargs: Kwargs = lambda w: {}
    query: Callable[[World], str] = lambda w: ""
    body: Body | None = None  # the form (pages) or JSON (API) body of writes
    variants: list[dict[str, Any]] = field(default_factory=lambda: [{}])  # extra kwargs


def in_project(w: World) -> str:
    return f"project={w.project}"


def run_kwargs(w: World) -> dict[str, Any]:
    return {"run_id": w.run.id}


def loop_kwargs(w: World) -> dict[str, Any]:
    return {"run_id": w.loop_run.id}


def new_definition(w: World) -> dict[str, Any]:
    return definition(slug="brand-new", name="Brand new")


PAGES: dict[str, Rule] = {
    "workflows/": Rule({"GET": any_user()}),
    "workflows/new/": Rule(
        {"GET": editors_write(), "POST": editors_write()},
        query=in_project,
        body=lambda w: {"definition": json.dumps(new_definition(w))},
    ),
    "workflows/<slug:slug>/": Rule(
        {"GET": members_read()}, lambda w: {"slug": "lead-flow"}, in_project
    ),
    "workflows/<slug:slug>/edit/": Rule(
        {"GET": editors_write(), "POST": editors_write()},
        lambda w: {"slug": "lead-flow"},
        in_project,
        body=lambda w: {"definition": json.dumps(definition(description="changed"))},
    ),
    "workflows/<slug:slug>/export/": Rule(
        {"GET": members_read()}, lambda w: {"slug": "lead-flow"}, in_project
    ),
    "workflows/<slug:slug>/test-run/": Rule(
        {"GET": members_read(), "POST": editors_write()},
        lambda w: {"slug": "lead-flow"},
        in_project,
        body=lambda w: run_form(),
    ),
    "environments/": Rule({"GET": any_user()}),
    # Only owners create and change environments, here and over the API.
    "environments/new/": Rule(
        {"GET": owners_only(), "POST": owners_only()},
        query=in_project,
        body=lambda w: {"project": w.project, "name": "qa", "kind": "test"},
    ),
    "environments/<slug:project>/<slug:name>/": Rule(
        {"GET": members_read(), "POST": owners_only()},
        lambda w: {"project": w.project, "name": "local"},
        body=lambda w: {"kind": "test", "description": "changed"},
    ),
    "environments/<slug:project>/<slug:name>/secrets/": Rule(
        {"POST": owners_only()},
        lambda w: {"project": w.project, "name": "local"},
        body=lambda w: {"secret_name": "API_KEY", "secret_value": "matrix-secret-value"},
    ),
    "tokens/": Rule({"GET": any_user(), "POST": any_user()}, body=lambda w: {"name": "ci"}),
    "tokens/<int:token_id>/revoke/": Rule(
        {"POST": holder_only()}, lambda w: {"token_id": w.token.pk}, body=lambda w: {}
    ),
    "test-runs/": Rule({"GET": any_user()}),
    "test-runs/new/": Rule({"GET": any_user()}),
    "test-runs/compare/": Rule(
        {"GET": members_read()}, query=lambda w: f"run={w.run.id}&run={w.other_run.id}"
    ),
    "test-runs/<uuid:run_id>/": Rule({"GET": members_read()}, loop_kwargs),
    "test-runs/<uuid:run_id>/updates/": Rule(
        {"GET": members_read()}, loop_kwargs, lambda w: "after=0"
    ),
    "test-runs/<uuid:run_id>/log/": Rule({"GET": members_read()}, loop_kwargs),
    "test-runs/<uuid:run_id>/values/<slug:part>/": Rule(
        {"GET": members_read()},
        loop_kwargs,
        variants=[{"part": "parameters"}, {"part": "result"}],
    ),
    "test-runs/<uuid:run_id>/steps/<int:step_id>/": Rule(
        {"GET": members_read()}, lambda w: {"run_id": w.loop_run.id, "step_id": w.step()}
    ),
    "test-runs/<uuid:run_id>/steps/<int:step_id>/<slug:part>/": Rule(
        {"GET": members_read()},
        lambda w: {"run_id": w.loop_run.id, "step_id": w.step()},
        variants=[{"part": "input"}, {"part": "output"}, {"part": "config"}],
    ),
    "test-runs/<uuid:run_id>/loops/<slug:loop_id>/": Rule(
        {"GET": members_read()}, lambda w: {"run_id": w.loop_run.id, "loop_id": "each"}
    ),
    "test-runs/<uuid:run_id>/<slug:action>/": Rule(
        {"POST": editors_write()},
        run_kwargs,
        body=lambda w: {"node": "map"},
        variants=[
            {"action": action}
            for action in (
                "keep",
                "unkeep",
                "cancel",
                "advance",
                "continue",
                "rerun",
                "toggle-breakpoint",
            )
        ],
    ),
    "test-cases/<uuid:case_id>/run/": Rule(
        {"POST": editors_write()}, lambda w: {"case_id": w.case.id}, body=lambda w: {}
    ),
    "test-cases/<uuid:case_id>/delete/": Rule(
        {"POST": editors_write()}, lambda w: {"case_id": w.case.id}, body=lambda w: {}
    ),
    "test-cases/from-run/<uuid:run_id>/": Rule(
        {"POST": editors_write()}, loop_kwargs, body=lambda w: {"name": "from the matrix"}
    ),
    "test-cases/checks/<uuid:run_id>/": Rule({"GET": members_read()}, loop_kwargs),
    "test-cases/assert/<uuid:run_id>/": Rule(
        {"POST": editors_write()},
        lambda w: {"run_id": w.case_run.id},
        body=lambda w: {
            "case": "new",
            "name": "map says map",
            "target": "step.output",
            "node": "map",
            "path": "node",
            "op": "equals",
            "expected": '"map"',
        },
    ),
    "test-cases/baseline/<uuid:run_id>/": Rule(
        {"POST": editors_write()}, lambda w: {"run_id": w.case_run.id}, body=lambda w: {}
    ),
}

API: dict[str, Rule] = {
    "api/openapi.json": Rule({"GET": everyone()}),
    "api/workflows": Rule(
        {"GET": members_read(), "POST": editors_write()}, query=in_project, body=new_definition
    ),
    "api/workflows/<str:slug>": Rule(
        {"GET": members_read(), "PUT": editors_write()},
        lambda w: {"slug": "lead-flow"},
        in_project,
        body=lambda w: definition(description="changed"),
    ),
    "api/environments": Rule({"GET": members_read()}, query=in_project),
    "api/environments/<str:name>": Rule(
        {"GET": members_read(), "PUT": owners_only()},
        lambda w: {"name": "local"},
        in_project,
        body=lambda w: {"description": "changed"},
    ),
    "api/test-runs": Rule(
        {"GET": members_read(), "POST": editors_write()},
        query=in_project,
        body=lambda w: {"workflow": "lead-flow", "payload": {"score": 1}},
    ),
    "api/test-runs/import": Rule(
        {"POST": editors_write()}, query=in_project, body=lambda w: w.export
    ),
    "api/test-runs/<uuid:run_id>": Rule(
        {"GET": members_read(), "PATCH": editors_write()}, run_kwargs, body=lambda w: {"kept": True}
    ),
    "api/test-runs/<uuid:run_id>/events": Rule({"GET": members_read()}, loop_kwargs),
    "api/test-runs/<uuid:run_id>/export": Rule({"GET": members_read()}, loop_kwargs),
    "api/test-runs/<uuid:run_id>/advance": Rule({"POST": editors_write()}, run_kwargs),
    "api/test-runs/<uuid:run_id>/continue": Rule({"POST": editors_write()}, run_kwargs),
    "api/test-runs/<uuid:run_id>/cancel": Rule({"POST": editors_write()}, run_kwargs),
    "api/test-runs/<uuid:run_id>/rerun": Rule({"POST": editors_write()}, loop_kwargs),
    "api/test-cases": Rule(
        {"GET": members_read(), "POST": editors_write()},
        query=in_project,
        body=lambda w: {"workflow": "lead-flow", "name": "matrix case", "payload": {}},
    ),
    "api/test-cases/<str:case_id>": Rule(
        {"GET": members_read(), "PUT": editors_write(), "DELETE": editors_write()},
        lambda w: {"case_id": w.case.id},
        body=lambda w: {"name": "renamed"},
    ),
    "api/workflows/<str:slug>/test-cases/export": Rule(
        {"GET": members_read()}, lambda w: {"slug": "lead-flow"}, in_project
    ),
    "api/workflows/<str:slug>/test-cases/import": Rule(
        {"POST": editors_write()},
        lambda w: {"slug": "lead-flow"},
        in_project,
        body=lambda w: {"format": FORMAT, "workflow": "lead-flow", "test_cases": []},
    ),
    "api/suites": Rule({"POST": editors_write()}, body=lambda w: {"project": w.project}),
    "api/suites/<str:suite_id>": Rule({"GET": members_read()}, lambda w: {"suite_id": w.suite.id}),
    "api/suites/<str:suite_id>/junit": Rule(
        {"GET": members_read()}, lambda w: {"suite_id": w.suite.id}
    ),
}

RULES: dict[str, Rule] = {**PAGES, **API}

# django-rq's dashboard: staff only (no user of the matrix is staff). Regex routes get their
# URL here; the others get a value per converter.
STAFF_PREFIX = "django-rq/"
STAFF_URLS = {
    "django-rq/stats.json/?$": "/django-rq/stats.json/",
    "django-rq/stats.json/(?P<token>[\\w]+)?/?$": "/django-rq/stats.json/notthetoken/",
}
CONVERTER_VALUES = {"int": "0", "str": "x", "path": "x/y", "slug": "x", "uuid": str(TestRun().id)}
_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def fill(route: str, kwargs: dict[str, Any]) -> str:
    return "/" + _PARAMETER.sub(lambda m: str(kwargs[m.group("name")]), route)


def staff_url(route: str) -> str:
    if route in STAFF_URLS:
        return STAFF_URLS[route]
    return "/" + _PARAMETER.sub(lambda m: CONVERTER_VALUES[m.group("converter") or "str"], route)


# --- requests -------------------------------------------------------------------------------


def client_for(world: World, who: str, *, api: bool) -> Client:
    if api:
        if who == "anonymous":
            return Client()
        return Client(headers={"Authorization": f"Bearer {make_token(world.team.user(who))}"})
    client = Client(enforce_csrf_checks=True)
    if who != "anonymous":
        client.force_login(world.team.user(who))
    return client


def request(client: Client, method: str, url: str, body: Any, *, api: bool) -> Any:
    kwargs: dict[str, Any] = {}
    if method != "GET":
        if api:
            kwargs = {"data": json.dumps(body if body is not None else {})}
            kwargs["content_type"] = "application/json"
        else:
            # What the browser sends: the CSRF cookie and the same token in the header htmx
            # sends (a form field would not be read from a PUT or DELETE).
            secret = get_random_string(32)
            client.cookies[settings.CSRF_COOKIE_NAME] = secret
            kwargs = {"data": body or {}, "headers": {"X-CSRFToken": secret}}
            if method != "POST":
                kwargs["data"] = urlencode(body or {}, doseq=True)
                kwargs["content_type"] = "application/x-www-form-urlencoded"
    return getattr(client, method.lower())(url, **kwargs)


def answer(response: Any, *, api: bool) -> str:
    status = response.status_code
    location = response.get("Location", "")
    if status == 302 and location.startswith(LOGIN_PAGE):
        return LOGIN
    if status == 401 and api:
        return LOGIN
    if status == 302 and location.startswith("/admin/login/"):
        return STAFF_ONLY
    if status < 400:
        return OK
    return str(status)


def url_for(route: str, rule: Rule, world: World, variant: dict[str, Any]) -> str:
    path = fill(route, {**rule.kwargs(world), **variant})
    assert resolve(path).route == route, (path, resolve(path).route)
    query = rule.query(world)
    return f"{path}?{query}" if query else path


@pytest.fixture
def world(db: None, run_queue: Queue) -> World:
    return build_world()


def test_every_route_has_a_rule() -> None:
    missing = [r for r in all_routes() if not is_exempt(r) and not r.startswith(STAFF_PREFIX)]
    missing = [route for route in missing if route not in RULES]
    assert missing == [], "give these routes a rule in RULES (or exempt them, with a reason)"
    stale = [route for route in RULES if route not in all_routes()]
    assert stale == [], "these rules name routes that no longer exist"


@pytest.mark.parametrize("route", [pytest.param(route, id=f"/{route}") for route in RULES])
def test_route_answers_each_role_as_its_rule_says(world: World, route: str) -> None:
    """Every method: the rule's answer per role; a method the rule does not list, 405; a
    write with a session but without the CSRF token, 403."""
    rule = RULES[route]
    api = route.startswith("api/")
    found: dict[str, dict[str, str]] = {}
    wanted: dict[str, dict[str, str]] = {}
    for method in METHODS:
        expected = rule.methods.get(method, {"owner": "405"})
        for variant in rule.variants:
            url = url_for(route, rule, world, variant)
            body = rule.body(world) if rule.body else None
            key = f"{method} {url}"
            found[key], wanted[key] = {}, expected
            for who in expected:
                # Rolled back: a write (a delete) cannot change what the next role finds.
                with transaction.atomic():
                    client = client_for(world, who, api=api)
                    response = request(client, method, url, body, api=api)
                    found[key][who] = answer(response, api=api)
                    if found[key][who] != expected[who]:
                        found[key][who] += f" ({response.status_code})"
                    transaction.set_rollback(True)
            if method != "GET" and method in rule.methods:
                # The owner's own session, but a forged request: no CSRF token.
                key = f"{method} {url} with the owner's session and no CSRF token"
                wanted[key] = {"owner": DENIED}
                with transaction.atomic():
                    client = Client(enforce_csrf_checks=True)
                    client.force_login(world.team.owner)
                    data = json.dumps(body or {}) if api else urlencode(body or {}, doseq=True)
                    kind = "application/json" if api else "application/x-www-form-urlencoded"
                    response = getattr(client, method.lower())(url, data, content_type=kind)
                    found[key] = {"owner": str(response.status_code)}
                    transaction.set_rollback(True)
    assert found == wanted


def staff_routes() -> list[Any]:
    return [
        pytest.param(route, id=f"/{route}")
        for route in all_routes()
        if route.startswith(STAFF_PREFIX)
    ]


@pytest.mark.parametrize("route", staff_routes())
def test_the_queue_dashboard_is_for_staff_only(world: World, route: str) -> None:
    url = staff_url(route)
    assert resolve(url).route == route
    for who in ROLES:
        response = client_for(world, who, api=False).get(url)
        kind = answer(response, api=False)
        # stats.json answers its own JSON refusal instead of the admin's login page.
        assert kind == STAFF_ONLY or response.status_code in (401, 403, 404), (who, url)


# --- websockets -----------------------------------------------------------------------------

FORBIDDEN = 4403
SOCKET_RULES: dict[str, dict[str, bool]] = {
    # The history socket pushes the user's own projects' runs: every user may open it.
    "ws/test-runs/": {"owner": True, "editor": True, "viewer": True, "outsider": True},
    "ws/test-runs/<uuid:run_id>/": {"owner": True, "editor": True, "viewer": True},
}


def socket_routes() -> list[str]:
    return [str(pattern.pattern) for pattern in websocket_urlpatterns]


def test_every_socket_route_has_a_rule() -> None:
    assert sorted(socket_routes()) == sorted(SOCKET_RULES)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", socket_routes())
def test_socket_closes_with_4403_for_whoever_may_not_watch(run_queue: Queue, route: str) -> None:
    team = make_team()
    assert not Membership.objects.filter(project=team.project, user=team.outsider).exists()
    run = make_run(team.workflow, team.owner)
    path = fill(route, {"run_id": run.id})
    cookies = {who: session_cookie(team.user(who)) for who in ROLES if who != "anonymous"}

    async def scenario() -> dict[str, bool]:
        allowed: dict[str, bool] = {}
        for who in ROLES:
            socket = socket_to(path, cookies.get(who))
            connected, _ = await socket.connect()
            assert connected  # the consumer accepts, then closes with its reason
            if route == "ws/test-runs/<uuid:run_id>/":
                await socket.send_json_to({"after": 0})
            output = await socket.receive_output(timeout=5) if route != "ws/test-runs/" else None
            if output is None:
                # The history socket sends nothing until a run changes: only a close comes.
                closed = not await socket.receive_nothing(timeout=0.3)
                output = await socket.receive_output(timeout=1) if closed else {}
            refused = output == {"type": "websocket.close", "code": FORBIDDEN}
            allowed[who] = not refused
            if not refused:
                await socket.disconnect()
        return allowed

    allowed = async_to_sync(scenario)()
    expected = {who: SOCKET_RULES[route].get(who, False) for who in ROLES}
    assert allowed == expected
