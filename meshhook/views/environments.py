"""Environments in the console: the list of every environment of the user's projects, one
environment's page, and the forms its owners change it with.

Owners create and edit environments and set, replace and delete secrets by name; other
members read them; outsiders get 404. Secret values go in and are never sent back: not on
the page, not in a form's value, not in an htmx fragment.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from meshhook.engine import Problem
from meshhook.environment_forms import (
    EnvironmentFormError,
    create_environment,
    delete_secret,
    errors_by_field,
    form_values,
    is_owner,
    owned_projects,
    set_secret,
    stored_values,
    update_environment,
)
from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import Environment, Project
from meshhook.services.projects import AnyUser, projects_for

DETAIL = "meshhook/environment_detail.html"
NEW = "meshhook/environment_new.html"
READ_ONLY = "Only the project's owners change its environments."
# Empty rows of the new-environment form's secrets (more can be added once it exists).
SECRET_ROWS = 3


def environment_or_404(user: AnyUser, project_slug: str, name: str) -> Environment:
    environment = (
        Environment.objects.filter(
            project__in=projects_for(user), project__slug=project_slug, name=name
        )
        .select_related("project")
        .first()
    )
    if environment is None:
        raise Http404("No such environment.")
    return environment


def _answer(response: HttpResponse) -> HttpResponse:
    # Pages that take secrets are not kept by the browser's cache.
    add_never_cache_headers(response)
    return response


def _go(request: AuthenticatedHtmxRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


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
        {
            "environments": environments,
            "can_create": bool(owned_projects(request.user)),
            "nav": "environments",
        },
    )


def _new_context(
    projects: list[Project], values: dict[str, Any], problems: list[Problem]
) -> dict[str, Any]:
    names = [*values.get("secret_names", [])]
    names += [""] * max(SECRET_ROWS - len(names), 0)
    return {
        "projects": projects,
        "values": values,
        "secret_rows": names,
        "problems": problems,
        "errors": errors_by_field(problems),
        "nav": "environments",
    }


@login_required
@require_http_methods(["GET", "POST"])
def environment_new(request: AuthenticatedHtmxRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    slug = source.get("project", "")
    project = projects_for(request.user).filter(slug=slug).first() if slug else None
    if slug and project is None:
        raise Http404("No such project.")
    owned = owned_projects(request.user)
    if project is None:
        project = owned[0] if owned else None
    if project is None or not is_owner(request.user, project):
        raise PermissionDenied(READ_ONLY)

    if request.method == "GET":
        values = {"project": project.slug, "kind": Environment.Kind.TEST}
        return _answer(render(request, NEW, _new_context(owned, values, [])))
    try:
        environment = create_environment(project, request.POST)
    except EnvironmentFormError as error:
        context = _new_context(owned, form_values(request.POST), error.problems)
        template = f"{NEW}#form" if request.htmx else NEW
        return _answer(render(request, template, context, status=400))
    messages.success(request, f"Environment '{environment.name}' created.")
    return _go(request, reverse("environment_detail", args=[project.slug, environment.name]))


def _detail_context(
    request: AuthenticatedHtmxRequest, environment: Environment, **extra: Any
) -> dict[str, Any]:
    problems: list[Problem] = extra.pop("problems", [])
    context: dict[str, Any] = {
        "environment": environment,
        "project": environment.project,
        "can_change": is_owner(request.user, environment.project),
        "values": stored_values(environment),
        "problems": problems,
        "errors": errors_by_field(problems),
        "secret_problems": [],
        "secret_errors": {},
        "nav": "environments",
    }
    context.update(extra)
    return context


@login_required
@require_http_methods(["GET", "POST"])
def environment_detail(request: AuthenticatedHtmxRequest, project: str, name: str) -> HttpResponse:
    environment = environment_or_404(request.user, project, name)
    if request.method == "GET":
        return _answer(render(request, DETAIL, _detail_context(request, environment)))
    if not is_owner(request.user, environment.project):
        raise PermissionDenied(READ_ONLY)
    try:
        update_environment(environment, request.POST)
    except EnvironmentFormError as error:
        context = _detail_context(
            request, environment, values=form_values(request.POST), problems=error.problems
        )
        context["values"]["name"] = environment.name
        template = f"{DETAIL}#settings_form" if request.htmx else DETAIL
        return _answer(render(request, template, context, status=400))
    messages.success(request, f"Environment '{environment.name}' saved.")
    return _go(request, reverse("environment_detail", args=[project, name]))


@login_required
@require_POST
def environment_secrets(request: AuthenticatedHtmxRequest, project: str, name: str) -> HttpResponse:
    """Set, replace (`intent=set`) or delete (`intent=delete`) one secret by name."""
    environment = environment_or_404(request.user, project, name)
    if not is_owner(request.user, environment.project):
        raise PermissionDenied(READ_ONLY)
    secret_name = request.POST.get("secret_name", "").strip()
    notice = ""
    try:
        if request.POST.get("intent") == "delete":
            deleted = delete_secret(environment, secret_name)
            notice = f"Secret {secret_name} deleted." if deleted else f"No secret {secret_name}."
        else:
            replaced = set_secret(environment, secret_name, request.POST.get("secret_value", ""))
            notice = f"Secret {secret_name} {'replaced' if replaced else 'set'}."
    except EnvironmentFormError as error:
        context = _detail_context(
            request,
            environment,
            secret_problems=error.problems,
            secret_errors=errors_by_field(error.problems),
            new_secret_name=secret_name,
        )
        template = f"{DETAIL}#secrets" if request.htmx else DETAIL
        return _answer(render(request, template, context, status=400))
    if request.htmx:
        context = _detail_context(request, environment, secret_notice=notice)
        return _answer(render(request, f"{DETAIL}#secrets", context))
    messages.success(request, notice)
    return redirect(f"{reverse('environment_detail', args=[project, name])}#secrets")
