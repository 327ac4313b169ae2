"""The console's answer to a viewer who tries to write: 403 with the reason, everywhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception or "") or "Your role in this project cannot change it."
    if request.headers.get("HX-Request") == "true":
        # htmx shows a failed request's text in the page's toast.
        return HttpResponse(message, status=403, content_type="text/plain; charset=utf-8")
    return render(request, "meshhook/forbidden.html", {"message": message}, status=403)
