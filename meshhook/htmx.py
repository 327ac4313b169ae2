"""Request types of the console's views (django-htmx's middleware adds `htmx`)."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHtmxRequest(HtmxHttpRequest):
    """What a `@login_required` view receives: the user is a real, logged-in one."""

    user: User
