"""meshhook.demo.sample_for: the one reader of demo/samples.json the Test-run form uses."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from meshhook.demo import Sample, demo_samples, load_demo, sample_for


def test_a_demo_workflow_gets_its_sample() -> None:
    for slug, sample in demo_samples().items():
        assert sample_for(slug) == sample


def test_any_other_workflow_starts_empty() -> None:
    assert sample_for("no-such-workflow") == Sample(payload={}, headers={})


def test_each_call_is_a_fresh_copy() -> None:
    first = sample_for("lead-to-crm")
    first.payload["email"] = "changed@example.com"
    first.headers["X-Changed"] = "1"
    again = sample_for("lead-to-crm")
    assert again.payload["email"] != "changed@example.com"
    assert "X-Changed" not in again.headers


@pytest.mark.django_db
def test_the_test_run_form_of_a_workflow_without_runs_starts_from_its_sample(
    client: Client,
) -> None:
    project = load_demo(port=8123)
    client.force_login(User.objects.get(username="demo"))
    url = reverse("testrun_form", args=["lead-to-crm"])
    page = client.get(url, {"project": project.slug}).content.decode()
    assert "ada@example.com" in page
    assert "pricing-page" in page  # a header of the sample
