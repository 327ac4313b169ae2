"""Environments overview: every environment of the user's projects, secrets by name only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import Environment
from meshhook.services.projects import projects_for


@login_required
@require_GET
def environment_list(request: AuthenticatedHtmxRequest) -> HttpResponse:
    environments = (
        Environment.objects.filter(project__in=projects_for(request.user))
        .select_related("project")
        .order_by("project__name", "kind", "name")
    )
    return render(
        request,
        "meshhook/environment_list.html",
        {"environments": environments, "nav": "environments"},
    )
