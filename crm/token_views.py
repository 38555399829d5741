"""/settings/api-tokens/: a user's personal API tokens, to make (the secret shown once)
and to revoke. Anyone signed in may have tokens: a token has its user's rights, no more.
"""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from .forms import ApiTokenForm
from .models import ApiToken

TEMPLATE = "crm/api_tokens.html"


def tokens_page(request, *, form=None, secret=None, token=None, status=200):
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "form": form or ApiTokenForm(),
        "new_secret": secret,
        "new_token": token,
        "docs_url": reverse("api:openapi-view"),
    }
    return TemplateResponse(request, TEMPLATE, context, status=status)


class ApiTokenListView(View):
    """GET /settings/api-tokens/: the user's tokens and the form for a new one."""

    http_method_names = ["get"]

    def get(self, request):
        return tokens_page(request)


class ApiTokenCreateView(View):
    """POST /settings/api-tokens/new/: a new token, its secret shown on this answer only
    (it is never stored: no page can show it again). A bad name answers 422."""

    http_method_names = ["post"]

    def post(self, request):
        form = ApiTokenForm(request.POST)
        if not form.is_valid():
            return tokens_page(request, form=form, status=422)
        token, secret = ApiToken.objects.issue(user=request.user, name=form.cleaned_data["name"])
        return tokens_page(request, secret=secret, token=token, status=201)


class ApiTokenRevokeView(View):
    """POST /settings/api-tokens/<id>/revoke/: the token stops working at once. Only its
    own user may revoke it (anyone else's is not found)."""

    http_method_names = ["post"]

    def post(self, request, pk):
        token = get_object_or_404(ApiToken, pk=pk, user=request.user)
        token.revoke()
        messages.success(
            request, _("Token “%(name)s” revoked: it no longer works.") % {"name": token.name}
        )
        return HttpResponseRedirect(reverse("crm:api_tokens"))
