"""Core models: projects and who belongs to them, API tokens, environments, workflows."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

# How precisely an API token's "last used" is kept (see ApiToken.authenticate).
LAST_USED_RESOLUTION = timedelta(minutes=1)

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,63}$", "Use lower-case letters, digits and dashes (max 64)."
)


class Project(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=64, unique=True, validators=[slug_validator])
    # The project every user gets on sign-up; null for team projects.
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_project",
    )
    members: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        EDITOR = "editor"
        VIEWER = "viewer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"

    @property
    def can_edit(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.EDITOR)


def hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token. Only its hash is stored; the raw value is shown once."""

    PREFIX = "mh_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    # The first characters, kept so a user can tell tokens apart in the console.
    prefix = models.CharField(max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: Any, name: str) -> tuple[ApiToken, str]:
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, prefix=raw[:10], token_hash=hash_token(raw)
        )
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> ApiToken | None:
        token = (
            cls.objects.select_related("user")
            .filter(token_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        now = timezone.now()
        # "Last used" to the minute: not a write on every request of a busy CI token.
        stale = token is not None and (
            token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION
        )
        if token is not None and stale:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Environment(models.Model):
    class Kind(models.TextChoices):
        TEST = "test"
        PRODUCTION = "production"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=64, validators=[slug_validator])
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.TEST)
    description = models.CharField(max_length=200, blank=True)
    variables = models.JSONField(default=dict, blank=True)
    # Hosts a test run may call (`host`, `*.domain`, `host:port`); empty allows none
    # except when the list is unset on the local sandbox environment.
    allowed_hosts = models.JSONField(default=list, blank=True)
    allow_private_network = models.BooleanField(default=False)
    # name → Fernet token; see meshhook.crypto. Values never leave through the API.
    encrypted_secrets = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_environment_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_test(self) -> bool:
        return self.kind == self.Kind.TEST

    @property
    def secret_names(self) -> list[str]:
        return sorted(self.encrypted_secrets)

    def set_secrets(self, values: dict[str, str]) -> None:
        from meshhook.crypto import encrypt

        self.encrypted_secrets = {name: encrypt(value) for name, value in values.items()}

    def secrets_for_test_run(self) -> dict[str, str]:
        """Decrypted secrets; a production environment's are never handed to a test run."""
        from meshhook.crypto import decrypt

        if not self.is_test:
            return {}
        return {name: decrypt(token) for name, token in self.encrypted_secrets.items()}


class Workflow(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflows")
    slug = models.SlugField(max_length=64, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Denormalised so lists need no aggregate; kept in step by services.workflows.
    latest_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="unique_workflow_slug")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        # The project is part of the address: two projects may both have this slug.
        return f"{reverse('workflow_detail', args=[self.slug])}?project={self.project.slug}"

    @property
    def project_query(self) -> str:
        return f"project={self.project.slug}"

    def current_version(self) -> WorkflowVersion:
        return self.versions.get(number=self.latest_version)


class WorkflowVersion(models.Model):
    """An immutable, numbered definition. Runs point at the version they ran."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="unique_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.workflow.slug} v{self.number}"
