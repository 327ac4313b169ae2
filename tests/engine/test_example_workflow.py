"""The DESIGN §2 example, run against a real local server, on both branches."""

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from meshhook.engine import ExecutionContext, RunInput, parse_definition, run_workflow

from .helpers import statuses

EXAMPLE = json.loads((Path(__file__).parent / "example_workflow.json").read_text())


@pytest.fixture
def endpoints(httpserver: HTTPServer) -> dict[str, str]:
    def create_contact(request: Request) -> Response:
        assert request.headers["Authorization"] == "Bearer crm-secret-token"
        return Response(
            json.dumps({"id": 7, **request.get_json()}), 201, content_type="application/json"
        )

    httpserver.expect_request("/contacts", method="POST").respond_with_handler(create_contact)
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    return {
        "CRM_URL": httpserver.url_for("").rstrip("/"),
        "SLACK_URL": httpserver.url_for("/slack"),
    }


def run_example(env: dict[str, str], score: int) -> Any:
    workflow = parse_definition(EXAMPLE)
    run = RunInput(
        payload={"email": "ada@example.test", "score": score},
        headers={"Content-Type": "application/json"},
        env=env,
        secrets={"CRM_TOKEN": "crm-secret-token"},
        run_id="run-42",
        environment="ci",
    )
    return run_workflow(workflow, run, ExecutionContext())


def test_hot_lead_is_created_then_notified_then_done(
    endpoints: dict[str, str], httpserver: HTTPServer
) -> None:
    result, records, outcomes = run_example(endpoints, 95)
    assert result.status == "passed"
    assert result.reason == "processed"
    assert statuses(records) == {
        "hook": "succeeded",
        "map": "succeeded",
        "create": "succeeded",
        "hot": "succeeded",
        "notify": "succeeded",
        "done": "succeeded",
    }
    assert [o.node_id for o in outcomes] == ["hook", "map", "create", "hot", "notify", "done"]
    assert records["map"].output == {"email": "ada@example.test", "score": 95}
    assert records["create"].output["status"] == 201
    assert records["create"].output["data"] == {"id": 7, "email": "ada@example.test"}
    assert records["hot"].branch is True
    assert [request.path for request, _ in httpserver.log] == ["/contacts", "/slack"]
    assert json.loads(httpserver.log[1][0].get_data()) == {"text": "hot lead ada@example.test"}
    create = outcomes[2]
    assert create.resolved_config["headers"] == {"Authorization": "••••••"}
    assert "crm-secret-token" not in repr(outcomes)


def test_cold_lead_goes_straight_to_done_and_notify_is_skipped(
    endpoints: dict[str, str], httpserver: HTTPServer
) -> None:
    result, records, outcomes = run_example(endpoints, 40)
    assert result.status == "passed"
    assert result.reason == "processed"
    assert records["notify"].status == "skipped"
    assert records["done"].status == "succeeded"
    assert records["hot"].branch is False
    assert [o.node_id for o in outcomes] == ["hook", "map", "create", "hot", "done"]
    assert [request.path for request, _ in httpserver.log] == ["/contacts"]
    assert result.output == {"email": "ada@example.test", "score": 40}
