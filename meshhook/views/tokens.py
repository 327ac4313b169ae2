"""Personal API tokens: create one (its value is shown once), list and revoke them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import ApiToken


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHtmxRequest) -> HttpResponse:
    new_token = None
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:80]
        if not name:
            messages.error(request, "Give the token a name, e.g. 'CI pipeline'.")
        else:
            _, new_token = ApiToken.issue(request.user, name)
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request,
        "meshhook/token_list.html",
        {"tokens": tokens, "new_token": new_token, "nav": "tokens"},
    )


@login_required
@require_POST
def token_revoke(request: AuthenticatedHtmxRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("token_list")
