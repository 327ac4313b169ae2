from django.apps import AppConfig


class TestRunsConfig(AppConfig):
    name = "testruns"
    verbose_name = "Test runs"
    default_auto_field = "django.db.models.BigAutoField"
