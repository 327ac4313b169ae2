"""The project's URLs plus the test-case console routes, until testruns/urls.py mounts
them (`path("", include("testruns.testcase_urls"))`)."""

from django.urls import include, path

import meshhook.urls

urlpatterns = [path("", include("testruns.testcase_urls")), *meshhook.urls.urlpatterns]
handler403 = meshhook.urls.handler403
