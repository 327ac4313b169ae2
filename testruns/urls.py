from django.urls import include, path

from testruns import step_views, views

urlpatterns = [
    path("test-runs/", views.testrun_list, name="testrun_list"),
    path("test-runs/new/", views.testrun_start, name="testrun_start"),
    path("test-runs/compare/", views.testrun_compare, name="testrun_compare"),
    path("test-runs/<uuid:run_id>/", views.testrun_detail, name="testrun_detail"),
    # The run page's on-demand pieces; before the actions, whose `<slug:action>` they would match.
    path("test-runs/<uuid:run_id>/updates/", step_views.run_updates, name="testrun_updates"),
    path("test-runs/<uuid:run_id>/log/", step_views.run_log, name="testrun_log"),
    path("test-runs/<uuid:run_id>/values/<slug:part>/", step_views.run_value, name="testrun_value"),
    path(
        "test-runs/<uuid:run_id>/steps/<int:step_id>/", step_views.step_detail, name="testrun_step"
    ),
    path(
        "test-runs/<uuid:run_id>/steps/<int:step_id>/<slug:part>/",
        step_views.step_value,
        name="testrun_step_value",
    ),
    path(
        "test-runs/<uuid:run_id>/loops/<slug:loop_id>/",
        step_views.loop_iterations,
        name="testrun_iterations",
    ),
    path("test-runs/<uuid:run_id>/<slug:action>/", views.testrun_action, name="testrun_action"),
    path("workflows/<slug:slug>/test-run/", views.testrun_form, name="testrun_form"),
    path("", include("testruns.testcase_urls")),
]
