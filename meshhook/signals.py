from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from meshhook.services.projects import ensure_personal_project


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_every_user_a_personal_project(sender: Any, instance: Any, created: bool, **_: Any) -> None:
    if created:
        ensure_personal_project(instance)
