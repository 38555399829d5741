"""Tags and filters every template gets without {% load %} (a template builtin)."""

from fnmatch import fnmatchcase

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context, url_name: str, label: str, active: str = "", exclude: str = "") -> str:
    """A main-navigation link, aria-current="page" on the pages it stands for.

    Renders nothing when url_name does not resolve, so the bar never links to a page that
    does not exist (yet). ``active`` and ``exclude`` are space-separated fnmatch patterns
    over the current view name, e.g. active="leads:*" exclude="leads:my_work"; without
    ``active`` only url_name itself is current.
    """
    try:
        href = reverse(url_name)
    except NoReverseMatch:
        return ""
    match = getattr(context.get("request"), "resolver_match", None)
    view_name = match.view_name if match else ""
    current = (
        bool(view_name)
        and any(fnmatchcase(view_name, p) for p in (active.split() or [url_name]))
        and not any(fnmatchcase(view_name, p) for p in exclude.split())
    )
    if current:
        return format_html('<a href="{}" aria-current="page">{}</a>', href, label)
    return format_html('<a href="{}">{}</a>', href, label)


@register.simple_tag
def deleted_placeholder(record) -> str:
    """The badge a soft-deleted client or contact shows in place of its name, on every page."""
    return format_html('<span class="badge badge-deleted">{}</span>', record.deleted_label)


@register.filter
def initials(user) -> str:
    """Up to two initials for an avatar: "Alice Jansen" → "AJ", "alice" → "A"."""
    if user is None:
        return ""
    get_full_name = getattr(user, "get_full_name", None)
    name = (get_full_name() if get_full_name else str(user)).strip()
    if not name and hasattr(user, "get_username"):
        name = user.get_username()
    parts = name.split()
    return "".join(part[0] for part in parts[:2]).upper() if parts else ""


@register.filter
def elided_page_range(page_obj, on_each_side: int = 2):
    """Page numbers around the current page, with the paginator's ELLIPSIS between."""
    return page_obj.paginator.get_elided_page_range(
        page_obj.number, on_each_side=on_each_side, on_ends=1
    )
