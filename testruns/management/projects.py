"""The project a management command works in: `--project <slug>`, or the only one there is."""

from __future__ import annotations

from django.core.management.base import CommandError

from meshhook.models import Project


def project_from_option(slug: str | None) -> Project:
    if slug is not None:
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project '{slug}'.")
        return project
    projects = list(Project.objects.all()[:2])
    if len(projects) != 1:
        raise CommandError("Say which project with --project.")
    return projects[0]
