"""How errors reach the user: a toast for htmx requests, a friendly page otherwise.

An htmx request must never have an error page swapped into the middle of a page, and
must never lose what the user typed. So for htmx requests every 403/404/500/503 gets an
``HX-Trigger: showToast`` event (unless the view chose its own message) and
``HX-Reswap: none``; static/js/app.js shows the toast. Plain requests get the error
templates (403.html, 404.html, 500.html).
"""

import logging
import secrets
import sys

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import resolve_url
from django.template import loader
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token
from django_htmx.http import HttpResponseClientRedirect

from crm.web.htmx import add_error_toast

logger = logging.getLogger("crm.errors")

# Exceptions Django itself turns into 400/403/404 responses; __call__ adds their toasts.
HANDLED_BY_DJANGO = (Http404, PermissionDenied, BadRequest, SuspiciousOperation)
DATABASE_DOWN = (OperationalError, InterfaceError)


def new_reference() -> str:
    """A short id to quote to support; it is logged next to the traceback."""
    return secrets.token_hex(4).upper()


def toast_message(status: int, reference: str | None = None) -> str:
    if status == 403:
        return _("You don't have permission to do that.")
    if status == 404:
        return _("Not found. It may have been deleted.")
    if status == 503:
        message = _(
            "The database is unavailable right now. Your input is kept; "
            "please try again in a moment."
        )
    else:
        message = _("Something went wrong. Your input is kept; please try again.")
    if reference:
        # Translators: an error message with the reference to quote to support.
        return _("%(message)s (ref %(reference)s)") % {"message": message, "reference": reference}
    return message


def render_error_page(status: int, reference: str | None = None, request=None) -> HttpResponse:
    """templates/500.html without a request or context processors: they may be what failed.

    When the database is down under a plain form POST, the page also holds what the user
    typed, in a form that posts it again (``kept_input``): nothing typed is lost.
    """
    kept = kept_input(request) if status == 503 else None
    template = loader.get_template("500.html")
    context = {"status": status, "reference": reference, "kept": kept}
    response = HttpResponse(template.render(context), status=status)
    if status == 503:
        response["Retry-After"] = "5"
    return response


#: Posted fields that are the form's own bookkeeping: posted again, not shown.
HIDDEN_FIELDS = frozenset({"csrfmiddlewaretoken", "version", "expected_version", "next", "action"})


def kept_input(request) -> dict | None:
    """What a plain (not htmx) form POST carried: to show, and to post again as it was.

    Never a password, and never a file (the page says to choose it again). The CSRF
    token comes along, so that "Try again" is the same form sent again.
    """
    if request is None or request.method != "POST" or request.headers.get("HX-Request"):
        return None
    try:
        data, files = request.POST, request.FILES
    except Exception:  # the body itself could not be read: nothing to keep
        return None
    fields, hidden = [], []
    for name, values in data.lists():
        if "password" in name.lower():
            continue
        if name in HIDDEN_FIELDS:
            hidden += [(name, value) for value in values]
            continue
        fields += [
            {
                "name": name,
                "label": name.replace("_", " ").capitalize(),
                "value": value,
                "long": len(value) > 60 or "\n" in value,
            }
            for value in values
        ]
    if not fields:
        return None
    return {
        "action": request.get_full_path(),
        "fields": fields,
        "hidden": hidden,
        "files_dropped": bool(files),
    }


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the friendly page, with the reference logged by the middleware.

    Also used for exceptions raised outside views (in middleware), which the middleware
    never sees: a database that is down there still gets the 503 page.
    """
    exception = sys.exc_info()[1]
    status = 503 if isinstance(exception, DATABASE_DOWN) else 500
    reference = getattr(request, "error_reference", None)
    if reference is None:
        reference = new_reference()
        logger.error("Error reference %s for %s %s", reference, request.method, request.path)
    try:
        return render_error_page(status, reference, request)
    except Exception:  # The template itself failed: don't fail twice.
        logger.exception("Could not render the 500 page (ref %s)", reference)
        return HttpResponseServerError(
            format_html(
                "<h1>{}</h1><p>{}</p>",
                _("Server error"),
                _("Reference %(reference)s") % {"reference": reference},
            ),
            content_type="text/html",
        )


class HtmxErrorMiddleware:
    """Error toasts for htmx requests; friendly pages with a reference for the others.

    Must come after django_htmx's HtmxMiddleware (it reads ``request.htmx``).
    """

    TOAST_STATUSES = frozenset({403, 404, 500, 503})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "htmx", False):
            return response
        if self._is_login_redirect(request, response):
            if request.htmx.boosted:  # A navigation: nothing typed to lose, go to login.
                return HttpResponseClientRedirect(response["Location"])
            return self._session_expired()
        if response.status_code in self.TOAST_STATUSES and "HX-Trigger" not in response:
            reference = getattr(request, "error_reference", None)
            if response.status_code >= 500 and reference is None:
                reference = new_reference()
                logger.error(
                    "Error reference %s for htmx %s %s (status %s)",
                    reference,
                    request.method,
                    request.path,
                    response.status_code,
                )
            add_error_toast(response, toast_message(response.status_code, reference))
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, HANDLED_BY_DJANGO):
            return None
        if settings.DEBUG and not isinstance(exception, DATABASE_DOWN):
            return None  # Django's debug page (django-htmx shows it for htmx requests).
        reference = new_reference()
        request.error_reference = reference
        status = 503 if isinstance(exception, DATABASE_DOWN) else 500
        logger.error(
            "Unhandled %s (ref %s) on %s %s",
            type(exception).__name__,
            reference,
            request.method,
            request.path,
            exc_info=exception,
        )
        if getattr(request, "htmx", False):
            return add_error_toast(HttpResponse(status=status), toast_message(status, reference))
        if status == 503:
            return render_error_page(503, reference, request)
        return None  # handler500 (server_error) renders 500.html with the reference.

    @staticmethod
    def _is_login_redirect(request, response) -> bool:
        """LoginRequiredMiddleware sends an htmx request whose session expired to login."""
        if response.status_code != 302 or request.user.is_authenticated:
            return False
        return response.get("Location", "").startswith(resolve_url(settings.LOGIN_URL))

    @staticmethod
    def _session_expired() -> HttpResponse:
        # A 401 with a toast instead of swapping the login page into part of this one.
        # The user keeps what they typed and can sign in again in another tab.
        response = HttpResponse(status=401)
        return add_error_toast(
            response,
            _(
                "Your session has expired. Sign in again in another tab, then retry; "
                "your input is kept."
            ),
        )


class RejectNulCharactersMiddleware:
    """A NUL character in a URL parameter or a form field answers 400 Bad Request.

    It is never text a person typed, and PostgreSQL refuses to store or even compare it
    ("text fields cannot contain NUL"), so any query it reached would fail with a 500.
    Django's form fields refuse it too; this also covers what reads parameters without a
    form (the admin's autocomplete, say). Uploaded files are not looked at: the importer
    reads and refuses binary files itself.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for params in (request.GET, request.POST) if request.method == "POST" else (request.GET,):
            for key, values in params.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    raise SuspiciousOperation("A NUL character in the request's parameters.")
        return self.get_response(request)


#: Where the REST API lives: its errors are JSON, whichever layer answers them.
API_PREFIX = "/api/"


class ApiErrorMiddleware:
    """Under /api/, an error page that something other than the API wrote (a URL that
    matches no operation, a NUL character refused by the middleware below, a server
    error) becomes JSON in the API's shape: ``{"detail": "…"}`` with the same status.

    The API's own operations answer JSON already; Django's debug page (DEBUG on) is left
    as it is, for the developer reading it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if settings.DEBUG and response.status_code >= 500:
            return response
        reference = getattr(request, "error_reference", None)
        detail = {
            400: _("Bad request."),
            403: _("You don't have permission to do that."),
            404: _("Not found. It may have been deleted."),
            405: _("This method is not allowed here."),
        }.get(response.status_code) or toast_message(response.status_code, reference)
        json_response = JsonResponse({"detail": str(detail)}, status=response.status_code)
        for header in ("Retry-After", "Allow"):
            if header in response:
                json_response[header] = response[header]
        return json_response
