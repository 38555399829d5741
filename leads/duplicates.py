"""Possible duplicates of a lead being typed: open leads of the same client with a similar
title. The lead form asks as the title or client changes, and shows them in a notice
that never stops the lead from being saved."""

import re

from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views import View

from crm.web.params import whole_number

from .models import Lead

#: pg_trgm's similarity from which two titles count as alike (pg_trgm's own default is
#: 0.3, which takes "Website redesign" and "Webshop design" for the same).
SIMILARITY = 0.4
LIMIT = 5
#: Words that say nothing about which deal a title means.
COMMON_WORDS = frozenset(
    "a an and de der die een en for het new of on the to van voor with".split()  # noqa: SIM905
)
#: Without PostgreSQL's trigrams, so many of the typed title's words must be in a title.
WORD_SHARE = 0.5


def significant_words(title: str) -> list[str]:
    """The title's words that tell deals apart: lower case, not common, two letters or more."""
    words = re.findall(r"\w+", title.lower())
    return list(dict.fromkeys(w for w in words if len(w) > 1 and w not in COMMON_WORDS))


def likely_duplicates(*, title: str, client_id: int, exclude: int | None = None) -> list[Lead]:
    """Open leads of the client whose title is like ``title``, most alike first.

    PostgreSQL compares trigrams (``TrigramSimilarity``: typos and word order too); other
    databases look for the title's significant words, at least ``WORD_SHARE`` of them.
    """
    title = " ".join(title.split())
    words = significant_words(title)
    if not words:
        return []
    leads = Lead.objects.open().filter(client_id=client_id).select_related("stage").order_by()
    if exclude is not None:
        leads = leads.exclude(pk=exclude)
    if connection.vendor == "postgresql":
        alike = leads.annotate(similarity=TrigramSimilarity("title", title))
        return list(alike.filter(similarity__gte=SIMILARITY).order_by("-similarity", "-pk")[:LIMIT])
    any_word = Q()
    for word in words:
        any_word |= Q(title__icontains=word)
    candidates = leads.filter(any_word).order_by("-updated_at", "-pk")[:100]
    typed = title.lower()
    scored = []
    for lead in candidates:
        theirs = lead.title.lower()
        share = sum(word in theirs for word in words) / len(words)
        if share >= WORD_SHARE:
            # Then those with fewest words of their own beside the typed ones.
            their_words = significant_words(lead.title) or [""]
            their_share = sum(word in typed for word in their_words) / len(their_words)
            scored.append(((share, their_share), lead))
    scored.sort(key=lambda pair: pair[0], reverse=True)  # stable: the latest changed first
    return [lead for _, lead in scored[:LIMIT]]


class LeadDuplicatesView(View):
    """GET /leads/duplicates/?title=&client=[&lead=<the lead being edited>]: the lead
    form's notice of possible duplicates (empty when there are none)."""

    template_name = "leads/lead_form.html#duplicates"

    def get(self, request):
        client = whole_number(request.GET.get("client"))
        duplicates = []
        if client:
            duplicates = likely_duplicates(
                title=request.GET.get("title", "")[:255],
                client_id=client,
                exclude=whole_number(request.GET.get("lead")),
            )
        response = TemplateResponse(request, self.template_name, {"duplicates": duplicates})
        patch_vary_headers(response, ("HX-Request",))
        return response
