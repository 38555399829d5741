"""Who is calling: a personal token (``Authorization: Bearer crm_…``) or the browser's
session, and how many calls they have left.

A token stands for its user, with exactly that user's rights; a session must send the CSRF
token with every unsafe request, as the pages' forms do, and a token need not (no browser
sends it by itself). Each caller is counted against ``API_RATE_LIMIT`` per
``API_RATE_PERIOD`` seconds (``crm.ratelimit``): a token by itself, a session by its user.
"""

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.utils import check_csrf

from crm import ratelimit
from crm.models import ApiToken

from .errors import RateLimited, Unauthenticated

NO_CREDENTIALS = (
    "Authentication required: send 'Authorization: Bearer <token>' (make a token under "
    "API tokens in the CRM), or sign in."
)
BAD_TOKEN = "This token is unknown or revoked: make a new one under API tokens in the CRM."
NOT_BEARER = "Send the token as 'Authorization: Bearer <token>'."


def count(request: HttpRequest, key: str) -> None:
    """Count the request against ``key``'s limit; the verdict travels on the request (its
    headers go on the response, ``crm.api.app``). Refused: ``RateLimited``."""
    verdict = ratelimit.hit(
        key,
        limit=settings.API_RATE_LIMIT,
        period=timedelta(seconds=settings.API_RATE_PERIOD),
    )
    request.api_rate = verdict
    if not verdict.allowed:
        raise RateLimited(verdict)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``: the token's user, or 401 for a token that is
    not (a wrong token is refused, not passed on to the session)."""

    def __call__(self, request: HttpRequest):
        header = request.headers.get(self.header, "")
        if header and header.split(" ")[0].lower() != self.openapi_scheme:
            raise Unauthenticated(NOT_BEARER)
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str):
        token = ApiToken.objects.authenticate(token.strip()) if token else None
        if token is None:
            raise Unauthenticated(BAD_TOKEN)
        token.record_use()
        request.user = token.user
        request.api_token = token
        count(request, f"api-token:{token.pk}")
        return token.user


class SessionAuth(APIKeyCookie):
    """The signed-in browser: its session's user, with the CSRF token on unsafe requests.

    Without a session it says nothing (401 follows), rather than first refusing a
    missing CSRF token with 403 as django-ninja's own does."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest):
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key):
        if not request.user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise CsrfRefused
        count(request, f"api-user:{request.user.pk}")
        return request.user


class CsrfRefused(Exception):
    """403: a session's unsafe request without its CSRF token."""
