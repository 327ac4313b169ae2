from django.apps import AppConfig


class TestRunsConfig(AppConfig):
    name = "testruns"
    verbose_name = "Test runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # What the core app's workflow pages and API show about runs, without it importing
        # this app (see meshhook.extensions).
        from meshhook import extensions
        from testruns import openapi, stats, testcase_views, verdicts

        extensions.workflow_runs.stats_json = stats.workflow_stats_json
        extensions.workflow_runs.list_stats = stats.list_stats
        extensions.workflow_runs.page_stats = stats.workflow_stats
        extensions.workflow_runs.recent_runs = stats.recent_runs
        extensions.workflow_runs.panels = testcase_views.workflow_panels
        if openapi.PART not in extensions.openapi_parts:
            extensions.openapi_parts.append(openapi.PART)
        # The web process sweeps too, so lost runs are taken over while no worker is up.
        from django.conf import settings

        from testruns.sweep import start_sweeper

        if settings.RUN_SWEEP_IN_WEB:
            extensions.web_process_tasks.append(lambda: start_sweeper(settings.RUN_SWEEP_SECONDS))
        # Test cases: assertions, baselines and suites are settled as each run ends.
        verdicts.register()
