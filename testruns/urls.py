from django.urls import path

from testruns import views

urlpatterns = [
    path("test-runs/", views.testrun_list, name="testrun_list"),
    path("test-runs/new/", views.testrun_start, name="testrun_start"),
    path("test-runs/compare/", views.testrun_compare, name="testrun_compare"),
    path("test-runs/<uuid:run_id>/", views.testrun_detail, name="testrun_detail"),
    path("test-runs/<uuid:run_id>/<slug:action>/", views.testrun_action, name="testrun_action"),
    path("workflows/<slug:slug>/test-run/", views.testrun_form, name="testrun_form"),
]
