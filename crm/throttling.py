"""Sign-in throttling with django-axes: which address an attempt counts against, and the page
a refused sign-in gets. The rules themselves (limit, cool-off, what is counted) are settings.
"""

import ipaddress
import math
from datetime import timedelta

from axes.helpers import get_client_parameters, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: REMOTE_ADDR, or, when settings.TRUSTED_PROXY_COUNT proxies
    append to X-Forwarded-For, the address the outermost of them saw.

    That is the TRUSTED_PROXY_COUNT-th entry from the right: entries further left are whatever
    the client sent. A header with fewer entries (a request that bypassed the proxies) or a
    value that is no address falls back to REMOTE_ADDR.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote_addr
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < proxies:
        return remote_addr
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote_addr


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: our page, 429 with Retry-After.

    It reads the same whether or not the username exists (axes counts and locks unknown
    usernames alike), and offers no form: a sign-in page to go back to once the time is up.
    """
    wait = time_until_unlocked(request, credentials)
    seconds = max(1, math.ceil(wait.total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": math.ceil(seconds / 60), "sign_in_url": request.get_full_path()},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(seconds)
    return response


def time_until_unlocked(request: HttpRequest, credentials: dict | None) -> timedelta:
    """The cool-off left: it runs from the latest counted failure of the locked-out pair."""
    cool_off = get_cool_off(request)
    username = get_client_username(request, credentials)
    latest = [
        AccessAttempt.objects.filter(**parameters).aggregate(latest=Max("attempt_time"))["latest"]
        for parameters in get_client_parameters(
            username, request.axes_ip_address, request.axes_user_agent, request, credentials
        )
    ]
    latest = [attempt_time for attempt_time in latest if attempt_time is not None]
    if not latest:  # Refused for another reason than counted failures (a blocklist).
        return cool_off
    return max(latest) + cool_off - timezone.now()
