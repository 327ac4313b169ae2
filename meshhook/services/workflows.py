"""Saving workflow definitions: validate with the engine, then write a new version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from meshhook import strictjson
from meshhook.engine import DefinitionError, Problem, parse_definition
from meshhook.engine import Workflow as EngineWorkflow
from meshhook.models import Project, Workflow, WorkflowVersion


@dataclass(frozen=True)
class SavedDefinition:
    workflow: Workflow
    version: WorkflowVersion
    created: bool  # a new workflow
    changed: bool  # a new version (False when the definition was identical)


class WorkflowExists(DefinitionError):
    """A definition meant to create a workflow names a slug the project already has."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            [Problem("slug", f"A workflow '{slug}' already exists; open it and edit it instead.")]
        )
        self.slug = slug


def validate_definition(raw: Any) -> EngineWorkflow:
    """The engine's validator; raises DefinitionError listing every problem."""
    return parse_definition(raw)


def parse_definition_text(text: str) -> Any:
    """JSON text from an editor or upload, with a path-carrying error when it is not JSON."""
    try:
        return strictjson.loads(text)
    except strictjson.JsonInputError as error:
        raise DefinitionError([Problem("$", str(error))]) from None


def save_definition(
    project: Project,
    raw: Any,
    *,
    user: Any = None,
    expected_slug: str | None = None,
    new_only: bool = False,
) -> SavedDefinition:
    """Validate `raw` and store it as the workflow's next version (nothing is written if invalid).

    `expected_slug` guards PUT /api/workflows/<slug> and the editor: the definition's own slug
    must match the workflow being edited; `new_only` refuses (WorkflowExists) to add a
    version to an existing workflow, for "create" forms and POST.
    """
    parsed = validate_definition(raw)
    if expected_slug is not None and parsed.slug != expected_slug:
        raise DefinitionError(
            [
                Problem(
                    "slug", f"The slug is '{parsed.slug}' but this is workflow '{expected_slug}'."
                )
            ]
        )
    with transaction.atomic():
        if new_only and Workflow.objects.filter(project=project, slug=parsed.slug).exists():
            raise WorkflowExists(parsed.slug)
        workflow, created = Workflow.objects.select_for_update().get_or_create(
            project=project,
            slug=parsed.slug,
            defaults={"name": parsed.name, "description": parsed.description or ""},
        )
        latest = workflow.versions.order_by("-number").first()
        if latest is not None and latest.definition == raw:
            return SavedDefinition(workflow, latest, created=False, changed=False)
        version = WorkflowVersion.objects.create(
            workflow=workflow,
            number=(latest.number + 1) if latest else 1,
            definition=raw,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        workflow.name = parsed.name
        workflow.description = parsed.description or ""
        workflow.latest_version = version.number
        workflow.updated_at = timezone.now()
        workflow.save(update_fields=["name", "description", "latest_version", "updated_at"])
    return SavedDefinition(workflow, version, created=created, changed=True)


# Versions never change once stored, so their parsed form is kept per process (keyed by
# creation time too: a test database that was rolled back reuses primary keys).
_parsed_versions: dict[tuple[int, Any], EngineWorkflow] = {}
PARSED_VERSIONS_KEPT = 256


def engine_workflow(version: WorkflowVersion) -> EngineWorkflow:
    """The engine's validated workflow for a stored version (parsed once per process)."""
    key = (version.pk, version.created_at)
    parsed = _parsed_versions.get(key)
    if parsed is None:
        if len(_parsed_versions) >= PARSED_VERSIONS_KEPT:
            _parsed_versions.pop(next(iter(_parsed_versions)))
        parsed = _parsed_versions[key] = parse_definition(version.definition)
    return parsed
