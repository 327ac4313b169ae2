"""API plumbing: authentication, strict JSON bodies and one error shape for every failure.

Every endpoint is wrapped in `api_endpoint`, so a client (a CI script, `curl`) always gets
`{"error": "...", "errors": [{"path": "...", "message": "..."}]}` with a fitting status,
never Django's HTML error pages and never a 500 for bad input.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from meshhook import strictjson
from meshhook.engine import DefinitionError, Problem
from meshhook.engine.problems import child_path as json_path
from meshhook.models import ApiToken, Membership, Project
from meshhook.problems import ProblemError
from meshhook.services.projects import membership_for, project_for_user_or_404

logger = logging.getLogger(__name__)

P = ParamSpec("P")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ApiRequest(HttpRequest):
    """What an endpoint receives: an authenticated user and the already-parsed JSON body."""

    user: User
    json: Any  # None when the request had no body


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        path: str = "$",
        problems: Sequence[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems) if problems else [Problem(path, message)]
        self.headers = headers or {}


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse(
        data, status=status, safe=False, json_dumps_params={"ensure_ascii": False}
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(
    status: int,
    message: str,
    problems: Sequence[Problem] = (),
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    items = [{"path": p.path, "message": p.message} for p in problems] or [
        {"path": "$", "message": message}
    ]
    return json_response({"error": message, "errors": items}, status, headers)


def api_endpoint(
    *, methods: Sequence[str], auth: bool = True, body: bool = True
) -> Callable[
    [Callable[Concatenate[ApiRequest, P], HttpResponse]],
    Callable[Concatenate[HttpRequest, P], HttpResponse],
]:
    """Method check, authentication, CSRF for sessions, JSON body, and error conversion.

    `auth=False` serves anonymous callers; `body=False` leaves the body unread.
    """
    allowed = tuple(method.upper() for method in methods)

    def decorate(
        view: Callable[Concatenate[ApiRequest, P], HttpResponse],
    ) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
        def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            try:
                api_request = _prepare(request, allowed, auth=auth, body=body)
                return view(api_request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.message, exc.problems, exc.headers)
            except Http404 as exc:
                return error_response(404, str(exc) or "Not found.")
            except PermissionDenied as exc:
                return error_response(403, str(exc) or "You may not do this.")
            except DefinitionError as exc:
                count = len(exc.problems)
                noun = "problem" if count == 1 else "problems"
                message = f"The workflow definition is invalid ({count} {noun})."
                return error_response(400, message, exc.problems)
            except ProblemError as exc:
                retry_after = getattr(exc, "retry_after", None)
                headers = {"Retry-After": str(retry_after)} if retry_after else None
                return error_response(exc.status, exc.message, exc.problems, headers)
            except Exception:
                # The signal lets error reporting (and the test client) see the real
                # exception; the client still gets the promised JSON shape.
                got_request_exception.send(sender=None, request=request)
                logger.exception("API error on %s %s", request.method, request.path)
                return error_response(500, "Internal error; it has been logged.")

        functools.update_wrapper(wrapper, view)
        # CSRF is checked in _prepare: only session requests need it, and a failure must
        # answer JSON, not the HTML page of the middleware.
        return csrf_exempt(wrapper)

    return decorate


def _prepare(
    request: HttpRequest, allowed: tuple[str, ...], *, auth: bool, body: bool
) -> ApiRequest:
    method = (request.method or "GET").upper()
    if method not in allowed:
        raise ApiError(
            405,
            f"Method {method} is not allowed here; use {', '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )
    api_request: ApiRequest = request  # type: ignore[assignment]
    api_request.json = None
    if auth:
        _authenticate(api_request)
    if body and method in BODY_METHODS:
        api_request.json = _parse_body(request)
    return api_request


def _authenticate(request: ApiRequest) -> None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, raw = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise _unauthorized("Use the header 'Authorization: Bearer <token>'.")
        token = ApiToken.authenticate(raw.strip())
        if token is None:
            raise _unauthorized("The API token is invalid or has been revoked.")
        # A bearer token cannot be sent by a browser on its own, so no CSRF check.
        request.user = token.user
        return
    if not request.user.is_authenticated:
        raise _unauthorized(
            "Authentication required: log in, or send 'Authorization: Bearer <token>' "
            "(create one with `manage.py create_api_token <username>`)."
        )
    if (request.method or "GET").upper() not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        reason = _csrf_failure(request)
        if reason is not None:
            raise ApiError(
                403,
                f"CSRF check failed: {reason} Send the X-CSRFToken header with a session, "
                "or use a bearer token.",
                path="X-CSRFToken",
            )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="meshhook"'})


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return HttpResponseForbidden(reason)


def _csrf_failure(request: HttpRequest) -> str | None:
    """Django's own CSRF check (origin, referer, token), answering the reason or None."""
    check = _CsrfCheck(lambda _request: HttpResponse())
    check.process_request(request)
    response = check.process_view(request, lambda _request: HttpResponse(), (), {})
    if response is None:
        return None
    return response.content.decode(errors="replace")


def _parse_body(request: HttpRequest) -> Any:
    limit: int = settings.API_MAX_BODY_BYTES
    too_big = ApiError(413, f"The request body is over the limit of {limit:,} bytes.")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit():
        raise ApiError(400, "The Content-Length header is not a number.", path="Content-Length")
    if int(declared) > limit:
        raise too_big
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(body) > limit:
        raise too_big
    if not body.strip():
        return None
    content_type = (request.content_type or "").lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(
            400,
            f"Send the body as JSON with 'Content-Type: application/json' "
            f"(got '{content_type or 'no content type'}').",
            path="Content-Type",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"The body is not UTF-8 (byte {exc.start}).") from None
    try:
        return strictjson.loads(text)
    except strictjson.JsonInputError as exc:
        message = str(exc).replace("Not valid JSON", "Invalid JSON")
        raise ApiError(400, message, path=exc.path) from None


# --- helpers the endpoints share -----------------------------------------------------------


def body_object(request: ApiRequest, *, required: bool = True) -> dict[str, Any]:
    """The JSON body as an object; an absent body is `{}` unless one is required."""
    if request.json is None:
        if required:
            raise ApiError(400, "A JSON object body is required.")
        return {}
    if not isinstance(request.json, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return request.json


def reject_unknown_keys(body: dict[str, Any], known: Sequence[str]) -> None:
    """Unknown keys are refused so that a typo ('breakpoint') is not silently ignored."""
    unknown = [key for key in body if key not in known]
    if unknown:
        raise ApiError(
            400,
            "Unknown fields in the body.",
            problems=[
                Problem(json_path("$", key), f"Unknown field; expected one of {', '.join(known)}.")
                for key in unknown
            ],
        )


def query_int(request: HttpRequest, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"'{name}' must be a whole number.", path=name) from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"'{name}' must be between {minimum} and {maximum}.", path=name)
    return value


def request_project(request: ApiRequest) -> Project:
    """`?project=<slug>`, or the user's first project; 404 for anything the user cannot see."""
    slug = request.GET.get("project") or None
    try:
        return project_for_user_or_404(request.user, slug)
    except Http404:
        raise ApiError(
            404, f"No project '{slug}'." if slug else "You have no project.", path="project"
        ) from None


def require_owner(request: ApiRequest, project: Project) -> Membership:
    """Owners only: environments (their secrets and what a test run may reach) are the
    project owner's to change, in the console and over the API alike."""
    membership = require_editor(request, project)
    if membership.role != Membership.Role.OWNER:
        raise ApiError(
            403,
            f"Your role in project '{project.slug}' is {membership.role}: only owners change "
            "environments.",
        )
    return membership


def require_editor(request: ApiRequest, project: Project) -> Membership:
    membership = membership_for(request.user, project)
    if membership is None:
        # Only reachable if membership vanished mid-request: treat as unseen.
        raise ApiError(404, "Not found.")
    if not membership.can_edit:
        raise ApiError(
            403,
            f"Your role in project '{project.slug}' is {membership.role}: "
            "it can read but not change anything.",
        )
    return membership
