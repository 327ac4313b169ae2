"""Django admin for the core models.

Two rules shape it: a secret or a token hash never reaches an admin page, and a workflow
definition only gets in through the engine's validator (`save_definition`), exactly as it
would through the editor or the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from meshhook import strictjson
from meshhook.engine import DefinitionError, Problem
from meshhook.models import ApiToken, Environment, Membership, Project, Workflow, WorkflowVersion
from meshhook.services.environments import FIELDS, keeps_production_secrets, validate_fields
from meshhook.services.workflows import parse_definition_text, save_definition, validate_definition

# A workflow page shows this many versions (each definition can be half a megabyte); its
# "All versions" link opens the full list.
INLINE_ROW_LIMIT = 20


def pretty_json(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", strictjson.pretty(value))


def json_field(name: str, description: str) -> Any:
    """A read-only admin column/field showing the JSON in `name` pretty-printed."""

    @admin.display(description=description)
    def display(model_admin: Any, obj: Any) -> SafeString:
        return pretty_json(getattr(obj, name))

    return display


def problem_messages(problems: list[Problem]) -> list[str]:
    return [f"{problem.path}: {problem.message}" for problem in problems]


class CappedInlineFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """An inline formset showing only the first `limit` rows of its (ordered) queryset.

    The inline's own get_queryset cannot be sliced: the formset filters it by parent later.
    """

    limit = INLINE_ROW_LIMIT

    def get_queryset(self) -> QuerySet[Any]:
        # Cached, so that len() and the per-form indexing share one evaluated query.
        if not hasattr(self, "_capped"):
            self._capped = super().get_queryset()[: self.limit]
        return self._capped


class LeanChangeList(ChangeList):
    """A changelist that does not load the model admin's `list_deferred` (bulky) columns.

    Deferring in ModelAdmin.get_queryset would cost the change page a query per field.
    """

    def get_queryset(
        self, request: HttpRequest, exclude_parameters: list[str | None] | None = None
    ) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.defer(*getattr(self.model_admin, "list_deferred", ()))


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Projects and members ---------------------------------------------------------------


class ReadOnlyModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """History: shown, never added, changed or deleted from the admin."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LeanChangeList

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "slug", "personal_for", "created_at"]
    list_select_related = ["personal_for"]
    list_filter = [("personal_for", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "personal_for__username"]
    prepopulated_fields = {"slug": ["name"]}
    # Personal projects are made by the sign-up signal; admin-made projects are team projects.
    readonly_fields = ["personal_for", "created_at"]
    fields = ["name", "slug", "personal_for", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "project", "role", "created_at"]
    list_select_related = ["user", "project"]
    list_filter = ["role"]
    search_fields = ["user__username", "project__slug", "project__name"]
    autocomplete_fields = ["user", "project"]


# --- API tokens -------------------------------------------------------------------------


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked_at__isnull=self.value() == "active")
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    list_filter = [TokenStateFilter]
    search_fields = ["user__username", "name", "prefix"]
    # token_hash is left out on purpose: it never appears, so it cannot be edited either.
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_tokens"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token's raw value is shown once, to its owner: issue it from the console or
        # `manage.py create_api_token`, never from here.
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


# --- Environments -----------------------------------------------------------------------


# fmt: off
ENVIRONMENT_FIELDS = ["project", "name", "kind", "description", "variables", "allowed_hosts",
                      "allow_private_network"]
# fmt: on


class EnvironmentForm(forms.ModelForm):  # type: ignore[type-arg]
    clear_secrets = forms.BooleanField(
        required=False,
        help_text="Delete every secret of this environment. Secrets are set through the API "
        "or the console; their values are never shown here.",
    )

    class Meta:
        model = Environment
        fields = ENVIRONMENT_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The same rules as PUT /api/environments/<name>, so admin cannot store what the
        # runtime would trip over.
        changes = {field: cleaned[field] for field in FIELDS if field in cleaned}
        # An emptied textarea arrives as None; the columns want {} / [].
        for field, empty in (("variables", {}), ("allowed_hosts", [])):
            if field in changes and changes[field] is None:
                changes[field] = empty
        problems: list[Problem] = []
        cleaned.update(validate_fields(changes, problems))
        for problem in problems:
            # add_error also drops the field from cleaned_data.
            field = problem.path.split(".")[0].split("[")[0]
            self.add_error(field, f"{problem.path}: {problem.message}")
        # Until _post_clean, self.instance holds the stored values of the edited environment.
        kind = cleaned.get("kind", self.instance.kind)
        replaces = bool(cleaned.get("clear_secrets"))
        if keeps_production_secrets(self.instance, kind, replaces_secrets=replaces):
            self.add_error(
                "clear_secrets",
                "A production environment becomes a test one only without its secrets: "
                "tick this box, then set test secrets through the API or the console.",
            )
        return cleaned

    def save(self, commit: bool = True) -> Environment:
        if self.cleaned_data.get("clear_secrets"):
            self.instance.encrypted_secrets = {}
        environment: Environment = super().save(commit)
        return environment


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = EnvironmentForm
    list_display = ["name", "project", "kind", "allow_private_network", "updated_at"]
    list_select_related = ["project"]
    list_filter = ["kind", "allow_private_network"]
    search_fields = ["name", "project__slug", "project__name"]
    autocomplete_fields = ["project"]
    readonly_fields = ["secret_names_display", "created_at"]
    fields = [*ENVIRONMENT_FIELDS, "secret_names_display", "clear_secrets", "created_at"]

    @admin.display(description="Secrets (names only)")
    def secret_names_display(self, obj: Environment) -> str:
        return ", ".join(obj.secret_names) or "—"


# --- Workflows --------------------------------------------------------------------------


class WorkflowForm(forms.ModelForm):  # type: ignore[type-arg]
    """Adds `new_definition`: JSON that becomes the next version once the engine accepts it."""

    new_definition = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 30, "cols": 110, "spellcheck": "false"}),
        help_text="A workflow definition (schema_version 1). It is validated by the engine; "
        "if it differs from the latest version it is saved as the next one.",
    )

    class Meta:
        model = Workflow
        fields = ["project"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["new_definition"].required = True
        elif self.instance.latest_version:
            # Start from the latest version: editing is the common case, and an unchanged
            # submission adds no version.
            current = self.instance.current_version().definition
            self.fields["new_definition"].initial = strictjson.pretty(current)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = cleaned.get("new_definition") or ""
        if not text:
            return cleaned
        try:
            raw = parse_definition_text(text)
            parsed = validate_definition(raw)
        except DefinitionError as exc:
            self.add_error("new_definition", problem_messages(exc.problems))
            return cleaned
        # save_definition enforces the slug too; checking here puts the error on the form
        # instead of failing the request after validation.
        if self.instance.pk is not None and parsed.slug != self.instance.slug:
            message = (
                f"slug: The slug is '{parsed.slug}' but this is workflow '{self.instance.slug}'."
            )
            self.add_error("new_definition", message)
        project = cleaned.get("project")
        if (
            self.instance.pk is None
            and project is not None
            and Workflow.objects.filter(project=project, slug=parsed.slug).exists()
        ):
            message = f"slug: '{parsed.slug}' already exists in {project}; edit that workflow."
            self.add_error("new_definition", message)
        cleaned["definition"] = raw
        return cleaned


class WorkflowVersionInline(ReadOnlyInline):
    model = WorkflowVersion
    formset = CappedInlineFormSet
    fields = ["number", "created_at", "created_by", "definition_display"]
    readonly_fields = ["number", "created_at", "created_by", "definition_display"]
    ordering = ["-number"]
    show_change_link = True
    verbose_name_plural = f"Versions (latest {INLINE_ROW_LIMIT})"

    @admin.display(description="Definition")
    def definition_display(self, obj: WorkflowVersion) -> SafeString:
        nodes = len(obj.definition.get("nodes", [])) if isinstance(obj.definition, dict) else 0
        # <details> keeps a page of long definitions readable without any script.
        return format_html(
            "<details><summary>{} nodes</summary>{}</details>", nodes, pretty_json(obj.definition)
        )


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WorkflowForm
    list_display = ["name", "slug", "project", "latest_version", "updated_at"]
    list_select_related = ["project"]
    search_fields = ["name", "slug", "project__slug"]
    autocomplete_fields = ["project"]
    ordering = ["-updated_at"]
    DERIVED = ["project", "slug", "name", "description", "latest_version", "all_versions"]

    def get_fieldsets(self, request: HttpRequest, obj: Workflow | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["project", "new_definition"]})]
        return [
            (None, {"fields": [*self.DERIVED, "created_at", "updated_at"]}),
            ("New version", {"fields": ["new_definition"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Workflow | None = None) -> Any:
        # Name, slug and description come from the definition; only a new one changes them.
        return [] if obj is None else [*self.DERIVED, "created_at", "updated_at"]

    def get_inlines(self, request: HttpRequest, obj: Workflow | None) -> Any:
        return [] if obj is None else [WorkflowVersionInline]

    @admin.display(description="All versions")
    def all_versions(self, obj: Workflow) -> SafeString:
        url = reverse("admin:meshhook_workflowversion_changelist")
        return format_html(
            '<a href="{}?workflow__id__exact={}">{} version(s)</a>', url, obj.pk, obj.latest_version
        )

    def save_model(self, request: HttpRequest, obj: Workflow, form: Any, change: bool) -> None:
        raw = form.cleaned_data.get("definition")
        if raw is None:
            return  # a change without a new definition: nothing else here is editable
        saved = save_definition(
            obj.project, raw, user=request.user, expected_slug=obj.slug if change else None
        )
        if not change:
            # The admin goes on with `obj` (log entry, redirect): make it the saved row.
            obj.pk = saved.workflow.pk
            obj.refresh_from_db()
        if saved.changed:
            self.message_user(request, f"Saved version {saved.version.number}.", messages.SUCCESS)
        else:
            self.message_user(request, "The definition is unchanged; no new version.")


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyModelAdmin):
    """Versions are immutable history: runs point at the exact one they ran."""

    list_display = ["workflow", "number", "created_at", "created_by"]
    list_select_related = ["workflow", "created_by"]
    search_fields = ["workflow__slug", "workflow__name"]
    fields = ("workflow", "number", "created_at", "created_by", "definition_display")
    readonly_fields = fields
    definition_display = json_field("definition", "Definition")
    # The list never shows definitions, which can be half a megabyte each.
    list_deferred = ["definition"]
