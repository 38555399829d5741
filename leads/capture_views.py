"""``/capture/<key>/``: where a website's form posts a new lead.

Public: no sign-in, no session, no CSRF token. The key authenticates the form and a post
can only create a lead the way the form says, so there is nothing a forged cross-site
post could do that the website's visitors cannot; browsers' posts are still limited to
the form's allowed origins (CORS, and a 403 for any other Origin). The answers:

- 201 ``{"id": <lead id>}`` (a plain HTML form: a 303 to the form's thank-you page, or
  a short page of ours);
- 401 for an unknown or revoked key, 403 for an origin not allowed, 429 with
  ``Retry-After`` past the form's posts per hour, 400 for a body that is not JSON or a
  form, 415 for another content type;
- 422 ``{"errors": {"field": ["message", ...]}}`` in the lead, contact and client
  forms' words;
- a filled honeypot field answers as a success (201, ``"id": null``; the same redirect)
  and creates nothing: a bot learns nothing from it, and people never see the field.
"""

import datetime
import json

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, gettext_noop
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from crm import ratelimit

from . import capture
from .capture_models import CaptureForm

RATE_PERIOD = datetime.timedelta(hours=1)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_TYPES = ("application/json", "text/plain")  # text/plain: fetch() without a preflight


NOT_TEXT = gettext_noop("Enter text, not a list, an object or true/false.")


class BadBody(ValueError):
    """A body that is not what its content type says: refused with ``status``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class CaptureView(View):
    """A post to a capture form makes a lead; OPTIONS answers the browsers' preflight."""

    http_method_names = ["post", "options"]

    def dispatch(self, request, *args, **kwargs):
        self.capture_form = CaptureForm.objects.by_key(kwargs["key"])
        self.origin = request.headers.get("Origin")
        if self.capture_form is None:
            response = self.refuse(401, gettext("This form's key is unknown or was revoked."))
        elif not self.capture_form.allows_origin(self.origin):
            response = self.refuse(403, gettext("This website may not post to this form."))
        else:
            response = super().dispatch(request, *args, **kwargs)
        patch_vary_headers(response, ["Origin"])
        if (
            self.capture_form is not None
            and self.origin
            and self.capture_form.allows_origin(self.origin)
        ):
            response["Access-Control-Allow-Origin"] = self.origin
        return response

    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        return response

    def post(self, request, *args, **kwargs):
        form = self.capture_form
        verdict = ratelimit.hit(f"capture:{form.pk}", limit=form.rate_limit, period=RATE_PERIOD)
        if not verdict.allowed:
            response = self.refuse(429, gettext("Too many posts to this form: try again later."))
            for name, value in verdict.headers().items():
                response[name] = value
            return response
        try:
            data = self.read_body(request)
        except BadBody as error:
            return self.refuse(error.status, str(error))
        # A list, an object or true where text belongs: said, not read as Python spells it.
        not_text = {
            name: [gettext(NOT_TEXT)]
            for name in capture.FIELDS
            if data.get(name) is not None
            and (isinstance(data[name], bool) or not isinstance(data[name], str | int | float))
        }
        if not_text:
            return self.invalid(not_text)
        if capture.is_spam(data):
            form.count_spam()
            return self.received(None)
        submission = capture.check(form, data)
        if submission.errors:
            return self.invalid(submission.errors)
        lead = capture.lead_capture(capture_form=form, submission=submission)
        return self.received(lead.pk)

    # --- reading and answering ----------------------------------------------------------------

    def read_body(self, request) -> dict:
        """The posted fields as text by name (the first value of a repeated one)."""
        content_type = request.content_type
        if content_type in FORM_TYPES:
            return {name: request.POST.get(name) for name in request.POST}
        if content_type not in JSON_TYPES:
            raise BadBody(
                gettext("Send JSON or a form (application/x-www-form-urlencoded)."), status=415
            )
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise BadBody(gettext("The body is not valid JSON.")) from None
        if not isinstance(data, dict):
            raise BadBody(gettext("Send a JSON object of fields."))
        return data

    def wants_html(self) -> bool:
        """A plain HTML form's post: a browser navigating, not a script."""
        request = self.request
        return (
            request.content_type in FORM_TYPES
            and request.get_preferred_type(["application/json", "text/html"]) == "text/html"
        )

    def received(self, lead_id: int | None):
        if self.wants_html():
            if self.capture_form.thank_you_url:
                return HttpResponseRedirect(self.capture_form.thank_you_url, status=303)
            return render(
                self.request, "leads/capture_result.html", {"form": self.capture_form}, status=201
            )
        return JsonResponse({"id": lead_id}, status=201)

    def invalid(self, errors: dict[str, list[str]]):
        if self.wants_html():
            context = {"form": self.capture_form, "errors": errors}
            return render(self.request, "leads/capture_result.html", context, status=422)
        return JsonResponse({"errors": errors}, status=422)

    def refuse(self, status: int, message: str):
        if self.wants_html():
            context = {"form": self.capture_form, "refusal": message}
            return render(self.request, "leads/capture_result.html", context, status=status)
        return JsonResponse({"error": message}, status=status)
