"""What every page shares for htmx: choosing a partial, and toasts."""

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django_htmx.http import reswap, trigger_client_event

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
