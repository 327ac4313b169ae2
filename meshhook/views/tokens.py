"""Personal API tokens: create one (its value is shown once), list and revoke them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import ApiToken

NEW_TOKEN_KEY = "new_api_token"


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHtmxRequest) -> HttpResponse:
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:80]
        if not name:
            messages.error(request, "Give the token a name, e.g. 'CI pipeline'.")
        else:
            _, value = ApiToken.issue(request.user, name)
            # Post/redirect/get, so a reload cannot issue a second token; the value waits
            # in the session for the one page that shows it.
            request.session[NEW_TOKEN_KEY] = value
        return redirect("token_list")
    new_token = request.session.pop(NEW_TOKEN_KEY, None)
    tokens = ApiToken.objects.filter(user=request.user)
    response = render(
        request,
        "meshhook/token_list.html",
        {"tokens": tokens, "new_token": new_token, "nav": "tokens"},
    )
    if new_token:
        # The secret must not come back from the browser's cache either.
        add_never_cache_headers(response)
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedHtmxRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("token_list")
