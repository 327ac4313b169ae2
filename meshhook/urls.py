from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from meshhook.views import environments, tokens, workflows

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="workflow_list"), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workflows/", workflows.workflow_list, name="workflow_list"),
    path("workflows/new/", workflows.workflow_editor, name="workflow_new"),
    path("workflows/<slug:slug>/", workflows.workflow_detail, name="workflow_detail"),
    path("workflows/<slug:slug>/edit/", workflows.workflow_editor, name="workflow_edit"),
    path("workflows/<slug:slug>/export/", workflows.workflow_export, name="workflow_export"),
    path("environments/", environments.environment_list, name="environment_list"),
    path("tokens/", tokens.token_list, name="token_list"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("", include("testruns.urls")),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("api/", include("meshhook.api.urls")),
    path("sandbox/", include("meshhook.sandbox_urls")),
]
