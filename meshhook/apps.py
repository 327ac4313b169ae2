from django.apps import AppConfig


class MeshHookConfig(AppConfig):
    name = "meshhook"
    verbose_name = "MeshHook"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from meshhook import checks, signals  # noqa: F401  (registers checks and receivers)
