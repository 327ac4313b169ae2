from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView

import testruns.api_urls
import testruns.routing
from meshhook.api import urls as core_api
from meshhook.views import environments, errors, tokens, workflows

# The JSON API: the core's routes, the test-run feature's, then the JSON catch-all.
api_patterns = [*core_api.urlpatterns, *testruns.api_urls.urlpatterns, core_api.catch_all]
# Served by meshhook.asgi through Channels.
websocket_urlpatterns = [*testruns.routing.websocket_urlpatterns]


def sandbox_patterns(enabled: bool) -> list[URLPattern | URLResolver]:
    """/sandbox/ only where SANDBOX_ENABLED: its fake APIs answer anyone (see settings)."""
    return [path("sandbox/", include("meshhook.sandbox_urls"))] if enabled else []


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
    path("environments/new/", environments.environment_new, name="environment_new"),
    path(
        "environments/<slug:project>/<slug:name>/",
        environments.environment_detail,
        name="environment_detail",
    ),
    path(
        "environments/<slug:project>/<slug:name>/secrets/",
        environments.environment_secrets,
        name="environment_secrets",
    ),
    path("tokens/", tokens.token_list, name="token_list"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("", include("testruns.urls")),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("api/", include((api_patterns, "api"))),
    *sandbox_patterns(settings.SANDBOX_ENABLED),
]

handler403 = errors.permission_denied
