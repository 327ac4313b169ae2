"""Project membership: the one place that decides what a user may see.

Every page, API call and socket goes through these getters; an outsider gets
Http404, never a hint that the object exists.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Case, QuerySet, Value, When
from django.http import Http404
from django.utils.text import slugify

from meshhook.models import Environment, Membership, Project, Workflow

# Who a getter is asked for: a logged-in user, or the anonymous one (who sees nothing).
AnyUser = User | AnonymousUser


def ensure_personal_project(user: User) -> Project:
    existing = Project.objects.filter(personal_for=user).first()
    if existing is not None:
        return existing
    base = slugify(user.get_username())[:50] or "user"
    slug = base
    suffix = 1
    while Project.objects.filter(slug=slug).exists():
        suffix += 1
        slug = f"{base}-{suffix}"
    from meshhook.demo import sandbox_host  # (meshhook.demo imports this module)

    with transaction.atomic():
        project = Project.objects.create(
            name=f"{user.get_username()}'s project", slug=slug, personal_for=user
        )
        Membership.objects.create(project=project, user=user, role=Membership.Role.OWNER)
        Environment.objects.create(
            project=project,
            name="local",
            kind=Environment.Kind.TEST,
            description="Runs against the built-in sandbox on this server.",
            allowed_hosts=[sandbox_host()],
            allow_private_network=True,
        )
    return project


def projects_for(user: AnyUser) -> QuerySet[Project]:
    """The user's projects, their own personal project first, then by name. (Ordering on
    `personal_for` itself would differ by database: NULLs sort first on SQLite, last on
    PostgreSQL.)"""
    if not user.is_authenticated:
        return Project.objects.none()
    own_first = Case(When(personal_for=user, then=Value(0)), default=Value(1))
    return Project.objects.filter(memberships__user=user).order_by(own_first, "name", "id")


def project_for_user_or_404(user: AnyUser, slug: str | None) -> Project:
    projects = projects_for(user)
    project = projects.filter(slug=slug).first() if slug else projects.first()
    if project is None:
        raise Http404("No such project.")
    return project


def membership_for(user: AnyUser, project: Project) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).first()


def can_edit(user: AnyUser, project: Project) -> bool:
    """Owners and editors change things (start runs, save workflows…); viewers only read.
    A viewer who tries to write gets 403 everywhere: page, API and socket controls."""
    membership = membership_for(user, project)
    return membership is not None and membership.can_edit


def workflows_for(user: AnyUser) -> QuerySet[Workflow]:
    return Workflow.objects.filter(project__in=projects_for(user))


def workflow_for_user_or_404(user: AnyUser, slug: str, project_slug: str | None = None) -> Workflow:
    workflows = workflows_for(user).select_related("project").filter(slug=slug)
    if project_slug:
        workflows = workflows.filter(project__slug=project_slug)
    own_first = Case(When(project__personal_for=user, then=Value(0)), default=Value(1))
    workflow = workflows.order_by(own_first, "project__name", "project__id").first()
    if workflow is None:
        raise Http404("No such workflow.")
    return workflow
