"""The API itself: django-ninja's ``NinjaAPI`` with our authentication, our error
contract (``crm.api.errors``), the rate-limit headers, and the routers. ``urls()`` is
what crm/urls.py mounts at /api/v1/."""

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    BadRequest,
    ObjectDoesNotExist,
    PermissionDenied,
    SuspiciousOperation,
)
from django.http import Http404
from django.utils.translation import gettext, gettext_noop
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from pydantic import BaseModel

from leads.services import LeadConflict

from . import leads, people, reference
from .auth import NO_CREDENTIALS, CsrfRefused, SessionAuth, TokenAuth
from .errors import NOT_FOUND, Invalid, RateLimited, Unauthenticated

DESCRIPTION = """\
Leads, clients and contacts of the CRM, and what they point at.

**Authentication**: a personal token, `Authorization: Bearer crm_…` (make one under
*API tokens* in the user menu), or the signed-in browser's session (unsafe requests then
need the `X-CSRFToken` header). A token has exactly its user's rights.

**Errors** are JSON: `{"detail": "…"}`; a 422 adds `errors`, the messages by field as
the CRM's forms word them (`__all__` for those of no one field); a 409 (the lead was
saved since the `version` you sent) adds `current_version`.

**Lists** come a page at a time: pass a page's `next_cursor` as `?cursor=` for the next.

**Rate limit**: every response says `RateLimit-Limit` and `RateLimit-Remaining`; past the
limit, 429 with `Retry-After` (seconds).
"""

#: pydantic's refusals, as the forms say them where no form field has its own words (in
#: the request's language, as the forms' own messages are: Django's words, its catalogue's).
MESSAGES = {
    "missing": gettext_noop("This field is required."),
    "extra_forbidden": gettext_noop("Unknown field: this operation does not take it."),
    "int_parsing": gettext_noop("Enter a whole number."),
    "int_type": gettext_noop("Enter a whole number."),
    "int_from_float": gettext_noop("Enter a whole number."),
    "decimal_parsing": gettext_noop("Enter a number."),
    "decimal_type": gettext_noop("Enter a number."),
    "finite_number": gettext_noop("Enter a number."),
    "date_parsing": gettext_noop("Enter a valid date."),
    "date_from_datetime_parsing": gettext_noop("Enter a valid date."),
    "date_from_datetime_inexact": gettext_noop("Enter a valid date."),
    "date_type": gettext_noop("Enter a valid date."),
    "string_type": gettext_noop("Enter text."),
    "literal_error": gettext_noop(
        "Select a valid choice. That choice is not one of the available choices."
    ),
}
NOT_AN_OBJECT = gettext_noop("Send the fields as a JSON object.")
#: Form messages a type error reads as, in this order of preference.
FORM_MESSAGES = ("invalid", "invalid_choice", "invalid_pk_value")


class Api(NinjaAPI):
    """django-ninja's API with our operation ids and our 422 (``Invalid``)."""

    def get_openapi_operation_id(self, operation) -> str:
        """The operation's function name ("list_leads"): what generated clients call it."""
        return operation.view_func.__name__

    def validation_error_from_error_contexts(self, error_contexts) -> Invalid:
        """pydantic's refusals (a wrong JSON type, a missing or unknown field) in our
        shape, worded as the operation's form words them where it has a message."""
        errors: dict[str, list[str]] = {}
        for context in error_contexts:
            model = context.model
            for error in context.pydantic_validation_error.errors(include_url=False):
                name, message = refusal(model, error)
                errors.setdefault(name, []).append(message)
        return Invalid(errors)


def refusal(model, error: dict) -> tuple[str, str]:
    """(field, message) for one pydantic error of a request's parameters or body."""
    loc = [part for part in error["loc"] if isinstance(part, str)]
    schema = None
    if loc and loc[0] in model.model_fields:
        annotation = model.model_fields[loc[0]].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            schema, loc = annotation, loc[1:]
    if not loc:  # the body (or the query) as a whole
        return "__all__", gettext(NOT_AN_OBJECT)
    name = loc[0]
    form_field = getattr(getattr(schema, "FORM", None), "base_fields", {}).get(name)
    kind = error["type"]
    if form_field is not None and kind == "missing":
        return name, str(form_field.error_messages["required"])
    if form_field is not None and kind != "extra_forbidden":
        for key in FORM_MESSAGES:
            if key in form_field.error_messages:
                return name, str(form_field.error_messages[key]).replace(
                    "%(value)s", str(error.get("input"))[:100]
                )
    return name, gettext(MESSAGES[kind]) if kind in MESSAGES else error["msg"]


api = Api(
    title="Leadly CRM API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth()],
    # Swagger UI from django-ninja's own static files; no validator badge (it would
    # send the schema to swagger.io).
    docs=Swagger(settings={"validatorUrl": None, "tryItOutEnabled": False}),
    docs_url="/docs/",
)
api.add_router("/leads/", leads.router)
api.add_router("/", people.router)
api.add_router("/", reference.router)


@api.exception_handler(Invalid)
def invalid(request, exc: Invalid):
    return api.create_response(request, {"detail": exc.detail, "errors": exc.errors}, status=422)


@api.exception_handler(LeadConflict)
def conflict(request, exc: LeadConflict):
    detail = (
        f"The lead was saved by someone else since the version you sent: it is at version "
        f"{exc.current_version} now. Read it again, then send your change with that version."
    )
    data = {"detail": detail, "current_version": exc.current_version}
    return api.create_response(request, data, status=409)


@api.exception_handler(Unauthenticated)
@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    detail = getattr(exc, "detail", NO_CREDENTIALS)
    response = api.create_response(request, {"detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(RateLimited)
def rate_limited(request, exc: RateLimited):
    seconds = exc.verdict.retry_after
    detail = f"Too many requests: at most {exc.verdict.limit} a window. Try again in {seconds} s."
    return api.create_response(request, {"detail": detail}, status=429)


@api.exception_handler(CsrfRefused)
def csrf_refused(request, exc):
    detail = (
        "CSRF check failed: a signed-in browser sends the X-CSRFToken header with every "
        "change (a token needs none)."
    )
    return api.create_response(request, {"detail": detail}, status=403)


@api.exception_handler(PermissionDenied)
def forbidden(request, exc):
    detail = str(exc) or "You don't have permission to do that."
    return api.create_response(request, {"detail": detail}, status=403)


@api.exception_handler(Http404)
@api.exception_handler(ObjectDoesNotExist)
def not_found(request, exc):
    return api.create_response(request, {"detail": NOT_FOUND}, status=404)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    detail = str(exc)
    if exc.status_code == 400:
        detail = "The body is not valid JSON."
    return api.create_response(request, {"detail": detail}, status=exc.status_code)


@api.exception_handler(SuspiciousOperation)
@api.exception_handler(BadRequest)
def bad_request(request, exc):
    return api.create_response(request, {"detail": "Bad request."}, status=400)


@api.exception_handler(Exception)
def unexpected(request, exc):
    raise exc  # Django logs it and answers 500 (JSON under /api/: crm.middleware)


def authenticated(view):
    """The OpenAPI schema for a token or a session, as every operation: 401 otherwise."""

    @wraps(view)
    def schema(request, *args, **kwargs):
        try:
            for auth in api.auth:
                if auth(request):
                    return view(request, *args, **kwargs)
            raise Unauthenticated(NO_CREDENTIALS)
        except Exception as exc:
            return api.on_exception(request, exc)

    return schema


def with_rate_headers(view):
    """Every answer says how many requests the caller has left (``crm.api.auth.count``)."""

    @wraps(view)
    def counted(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if verdict := getattr(request, "api_rate", None):
            for name, value in verdict.headers().items():
                response[name] = value
        return response

    return counted


def urls():
    """The API's URL patterns, for ``include``. Every operation authenticates itself
    (401 as JSON, never a redirect to the sign-in page); the docs page is for people
    signed in, as every page."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if pattern.name == "openapi-json":
            pattern.callback = authenticated(pattern.callback)
        if pattern.name != "openapi-view":
            pattern.callback = login_not_required(with_rate_headers(pattern.callback))
    return patterns, app_name, namespace
