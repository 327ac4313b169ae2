"""Routes of the built-in sandbox, mounted at /sandbox/ (see meshhook.sandbox)."""

from __future__ import annotations

from django.urls import path

from meshhook import sandbox

app_name = "sandbox"

urlpatterns = [
    path("echo", sandbox.echo, name="echo"),
    path("echo/<path:rest>", sandbox.echo, name="echo_path"),
    path("status/<int:code>", sandbox.status, name="status"),
    path("delay/<int:ms>", sandbox.delay, name="delay"),
    path("flaky/<str:key>/reset", sandbox.flaky_reset, name="flaky_reset"),
    path("flaky/<str:key>/<int:n>", sandbox.flaky, name="flaky"),
    path("rss.xml", sandbox.rss, name="rss"),
    path("contacts", sandbox.contacts, name="contacts"),
]
