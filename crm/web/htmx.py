"""What every page shares for htmx: choosing a partial, toasts, refusals and redirects."""

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect, reswap, trigger_client_event

TOAST_EVENT = "showToast"


class HtmxPartialMixin:
    """Render `template#partial` when htmx asks for a region of the page.

    `partials` maps the id of the element htmx targets (HX-Target) to the name of a
    `{% partialdef %}` in the page's template. Anything else (a plain request, a history
    restore, a boosted link) gets the whole page.
    """

    partials: dict[str, str] = {}

    def get_partial_name(self) -> str | None:
        htmx = self.request.htmx
        if not htmx or htmx.boosted or htmx.history_restore_request:
            return None
        return self.partials.get(htmx.target or "")

    def get_template_names(self):
        names = super().get_template_names()
        partial = self.get_partial_name()
        return [f"{names[0]}#{partial}"] if partial else names

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        # The same URL answers with a page or a fragment: caches must tell them apart.
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        return response


def toast(response: HttpResponse, message: str, level: str = "success") -> HttpResponse:
    """Ask the page (via HX-Trigger) to show a toast."""
    return trigger_client_event(response, TOAST_EVENT, {"level": level, "message": message})


def add_error_toast(response: HttpResponse, message: str) -> HttpResponse:
    """Tell htmx to show ``message`` as an error toast and to replace nothing."""
    toast(response, message, "error")
    return reswap(response, "none")


def refuse(request, message: str, *, back: str, status: int = 422) -> HttpResponse:
    """An action refused: htmx gets ``status`` and an error toast that swaps nothing; a
    plain request an error message on the page it came from (``back``)."""
    if request.htmx:
        return add_error_toast(HttpResponse(status=status), message)
    messages.error(request, message)
    return HttpResponseRedirect(back)


def redirect(request, url: str) -> HttpResponse:
    """Go to ``url`` after a done action: htmx follows it as a full page load."""
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)
