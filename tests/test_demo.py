"""Demo data: `load_demo` and the demo workflows, run for real against the sandbox."""

from __future__ import annotations

import copy
import time
import uuid
from io import StringIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from meshhook.demo import demo_definitions, demo_samples, load_demo
from meshhook.engine import (
    NODE_TYPES,
    ExecutionContext,
    RunInput,
    RunResult,
    StepOutcome,
    StepRecord,
    parse_definition,
    run_workflow,
)
from meshhook.models import Environment, Project, Workflow, WorkflowVersion

DEMO_SLUGS = sorted(demo_definitions())
EXPECTED_STATUS = {
    "lead-to-crm": "passed",
    "rss-digest": "passed",
    "order-fulfilment": "passed",
    "failing-payment": "failed",
}

Ran = tuple[RunResult, dict[str, StepRecord], list[StepOutcome]]


def all_nodes() -> list[dict[str, Any]]:
    return [node for definition in demo_definitions().values() for node in definition["nodes"]]


def with_tiny_retries(definition: dict[str, Any]) -> dict[str, Any]:
    """The same workflow with 1 ms back-offs, so the suite does not wait on retries."""
    fast = copy.deepcopy(definition)
    settings = fast.setdefault("settings", {})
    settings["default_retry"] = {**settings.get("default_retry", {}), "initial_delay_ms": 1}
    for node in fast["nodes"]:
        if "retry" in node:
            node["retry"] = {**node["retry"], "initial_delay_ms": 1}
    return fast


def run_demo(
    slug: str, base_url: str, payload: Any = None, sleeps: list[float] | None = None
) -> Ran:
    sample = demo_samples()[slug]
    workflow = parse_definition(with_tiny_retries(demo_definitions()[slug]))
    run = RunInput(
        payload=sample.payload if payload is None else payload,
        headers=sample.headers,
        env={"SANDBOX_URL": f"{base_url}/sandbox"},
        # Unique per run: the flaky endpoint counts calls per key in Redis.
        run_id=f"demo-{uuid.uuid4().hex[:10]}",
        environment="local",
    )
    recorded = sleeps if sleeps is not None else []

    def sleep(seconds: float) -> None:
        recorded.append(seconds)
        time.sleep(seconds)

    return run_workflow(workflow, run, ExecutionContext(sleep=sleep))


def outcome(outcomes: list[StepOutcome], node_id: str) -> StepOutcome:
    return next(item for item in outcomes if item.node_id == node_id)


# --- the definitions --------------------------------------------------------------------


def test_there_are_the_four_demos() -> None:
    assert set(EXPECTED_STATUS) <= set(DEMO_SLUGS)


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_every_demo_validates_with_the_engine(slug: str) -> None:
    definition = demo_definitions()[slug]

    workflow = parse_definition(definition)

    assert definition["schema_version"] == 1
    assert workflow.slug == slug


def test_demos_use_every_node_type() -> None:
    used = {node["type"] for node in all_nodes()}

    assert used == set(NODE_TYPES)


def test_demos_use_transform_with_expression_and_with_template() -> None:
    transforms = [node["config"] for node in all_nodes() if node["type"] == "transform"]

    assert any("expression" in config for config in transforms)
    assert any("template" in config for config in transforms)


def test_every_node_has_a_human_label() -> None:
    for node in all_nodes():
        assert node.get("label", "").strip(), node["id"]
        assert node["label"] != node["id"]


def test_every_outbound_call_goes_to_the_sandbox() -> None:
    for node in all_nodes():
        if node["type"] in ("http_call", "webhook"):
            assert node["config"]["url"].startswith("{{env.SANDBOX_URL}}/"), node["id"]


def test_every_demo_has_a_sample_payload() -> None:
    samples = demo_samples()

    assert set(samples) == set(DEMO_SLUGS)
    for sample in samples.values():
        assert sample.payload
        assert all(isinstance(value, str) for value in sample.headers.values())


# --- load_demo ----------------------------------------------------------------------------


def snapshot(project: Project) -> dict[str, Any]:
    user = get_user_model().objects.get(username="demo")
    return {
        "password": user.password,
        "users": get_user_model().objects.count(),
        "projects": Project.objects.count(),
        "environments": list(
            Environment.objects.filter(project=project).values_list("name", "updated_at")
        ),
        "versions": list(
            WorkflowVersion.objects.filter(workflow__project=project).values_list("pk", flat=True)
        ),
        "workflows": list(Workflow.objects.filter(project=project).values_list("updated_at")),
    }


@pytest.mark.django_db
def test_load_demo_creates_user_environments_and_workflows(settings: Any) -> None:
    settings.PORT = 8123  # the server's own port: its sandbox is the one origin allowed
    project = load_demo(port=8123)

    user = get_user_model().objects.get(username="demo")
    assert user.check_password("demo")
    assert user.is_staff
    assert user.is_superuser
    assert project.personal_for == user
    assert project.memberships.filter(user=user, role="owner").exists()
    environments = {env.name: env for env in Environment.objects.filter(project=project)}
    assert set(environments) == {"local", "staging", "production"}
    local = environments["local"]
    assert local.kind == "test"
    assert local.variables == {"SANDBOX_URL": "http://127.0.0.1:8123/sandbox"}
    assert local.allowed_hosts == ["127.0.0.1:8123"]  # the sandbox origin, no other port
    assert local.allow_private_network is True
    assert environments["staging"].kind == "test"
    assert environments["staging"].variables["SANDBOX_URL"] == local.variables["SANDBOX_URL"]
    production = environments["production"]
    assert production.kind == "production"
    assert production.variables["SANDBOX_URL"].startswith("https://api.example.com")
    assert production.allow_private_network is False
    workflows = Workflow.objects.filter(project=project)
    assert sorted(workflows.values_list("slug", flat=True)) == DEMO_SLUGS
    for workflow in workflows:
        assert workflow.latest_version == 1
        assert workflow.current_version().definition == demo_definitions()[workflow.slug]


@pytest.mark.django_db
def test_load_demo_twice_changes_nothing() -> None:
    project = load_demo(port=8123)
    before = snapshot(project)

    again = load_demo(port=8123)

    assert again == project
    assert snapshot(project) == before


@pytest.mark.django_db
def test_load_demo_repairs_the_user_and_keeps_hand_made_settings() -> None:
    project = load_demo(port=8123)
    user = get_user_model().objects.get(username="demo")
    user.is_superuser = False
    user.set_password("changed")
    user.save()
    local = Environment.objects.get(project=project, name="local")
    local.variables = {"SANDBOX_URL": "http://elsewhere", "MINE": "kept"}
    local.allowed_hosts = ["api.internal"]
    local.save()

    load_demo(port=9000)

    user.refresh_from_db()
    assert user.is_superuser
    assert user.check_password("demo")
    local.refresh_from_db()
    assert local.variables == {"SANDBOX_URL": "http://127.0.0.1:9000/sandbox", "MINE": "kept"}
    assert local.allowed_hosts == ["api.internal", "127.0.0.1:9000"]
    assert WorkflowVersion.objects.filter(workflow__project=project).count() == len(DEMO_SLUGS)


@pytest.mark.django_db
def test_load_demo_command_prints_a_summary() -> None:
    out = StringIO()

    call_command("load_demo", "--port", "8555", stdout=out)
    call_command("load_demo", "--port", "8555", stdout=out)

    text = out.getvalue()
    assert "demo / demo" in text
    for slug in DEMO_SLUGS:
        assert f"Workflow {slug} v1: created" in text
        assert f"Workflow {slug} v1: unchanged" in text
    local = Environment.objects.get(project__slug="demo", name="local")
    assert local.variables["SANDBOX_URL"] == "http://127.0.0.1:8555/sandbox"


# --- running the demos against the sandbox over real HTTP ----------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_demo_ends_with_the_expected_status(slug: str, live_server: Any) -> None:
    sleeps: list[float] = []

    result, records, _ = run_demo(slug, live_server.url, sleeps=sleeps)

    assert result.status == EXPECTED_STATUS.get(slug, "passed"), result
    # Delays are not honoured in test runs; only retry back-offs may wait, and only briefly.
    assert sum(sleeps) < 1
    hard_failures = [
        node_id
        for node_id, record in records.items()
        if record.status == "failed" and not record.on_error_tolerated
    ]
    assert bool(hard_failures) == (result.status == "failed")


@pytest.mark.django_db(transaction=True)
def test_lead_to_crm_notifies_sales_about_a_hot_lead(live_server: Any) -> None:
    result, records, outcomes = run_demo("lead-to-crm", live_server.url)

    assert result.status == "passed"
    assert records["notify"].status == "succeeded"
    sent = records["notify"].output["data"]["json"]
    assert "Ada Lovelace" in sent["text"]
    assert sent["crm_id"] == records["create"].output["data"]["id"]
    assert outcome(outcomes, "create").output["status"] == 201
    assert result.output["contact_id"].startswith("ct_")


@pytest.mark.django_db(transaction=True)
def test_lead_to_crm_skips_the_notification_for_a_cold_lead(live_server: Any) -> None:
    cold = {**demo_samples()["lead-to-crm"].payload, "score": 40}

    result, records, _ = run_demo("lead-to-crm", live_server.url, payload=cold)

    assert result.status == "passed"
    assert records["hot"].branch is False
    assert records["notify"].status == "skipped"
    assert records["done"].status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_rss_digest_posts_every_headline(live_server: Any) -> None:
    result, records, outcomes = run_demo("rss-digest", live_server.url)

    assert result.status == "passed"
    posted = records["each"].output
    assert len(posted) == 3
    assert [message["data"]["json"]["channel"] for message in posted] == ["#engineering"] * 3
    assert "Retries without the pain" in posted[0]["data"]["json"]["text"]
    body_runs = outcome(outcomes, "each").iterations
    assert [(step.iteration, step.node_id, step.status) for step in body_runs] == [
        (index, node, "succeeded") for index in range(3) for node in ("format", "post")
    ]
    assert result.reason == "Posted 3 headlines to #engineering"


@pytest.mark.django_db(transaction=True)
def test_order_fulfilment_retries_the_flaky_api_and_tolerates_the_sms(live_server: Any) -> None:
    result, records, outcomes = run_demo("order-fulfilment", live_server.url)

    assert result.status == "passed"
    assert outcome(outcomes, "reserve").attempts == 3
    assert records["reserve"].output["data"]["calls"] == 3
    assert records["sms"].status == "failed"
    assert records["sms"].on_error_tolerated
    warehouse = records["warehouse"].output["data"]
    assert warehouse["body"].lstrip().startswith("<")
    assert "<sku>MUG-BLUE</sku>" in warehouse["body"]
    assert records["ship"].output["data"]["json"]["service"] == "express"
    assert result.output == {
        "order_id": "ORD-1042",
        "service": "express",
        "reserve_attempts": 3,
    }


@pytest.mark.django_db(transaction=True)
def test_failing_payment_fails_at_the_charge_and_skips_the_rest(live_server: Any) -> None:
    result, records, outcomes = run_demo("failing-payment", live_server.url)

    assert result.status == "failed"
    assert result.failed_node == "charge"
    assert records["charge"].status == "failed"
    assert "502" in (records["charge"].error or "")
    assert outcome(outcomes, "charge").attempts == 2
    assert records["receipt"].status == "skipped"
    assert records["done"].status == "skipped"


@pytest.mark.django_db(transaction=True)
def test_the_loaded_local_environment_reaches_the_sandbox(live_server: Any) -> None:
    """What `make run` sets up works: the stored definition with the stored variables."""
    port = urlsplit(live_server.url).port
    project = load_demo(port=port)
    local = Environment.objects.get(project=project, name="local")
    stored = Workflow.objects.get(project=project, slug="lead-to-crm").current_version()
    workflow = parse_definition(stored.definition)
    run = RunInput(
        payload=demo_samples()["lead-to-crm"].payload,
        env=local.variables,
        run_id="loaded-demo",
        environment=local.name,
    )

    result, _, _ = run_workflow(workflow, run, ExecutionContext())

    assert result.status == "passed"
