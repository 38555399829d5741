"""The user's language: the browser's Accept-Language until the user picks one in the user
menu, then that choice, on every device they sign in on.

- ``LanguagePreference`` keeps the choice; signing in copies it into the session, so a
  request reads it from the session it loads anyway (no query of its own).
- ``UserLanguageMiddleware`` activates it, after Django's LocaleMiddleware has chosen from
  the cookie or Accept-Language.
- ``LanguageView`` takes the menu's POST: it saves the choice and sets Django's language
  cookie too, so that the sign-in page after signing out speaks the same language.

URLs stay the same in every language (no /nl/ prefix): a link shared between a Dutch and an
English colleague opens for each in their own language.
"""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views import View

from .models import LanguagePreference

SESSION_KEY = "crm_language"


def supported(language: str | None) -> str | None:
    """The language if the site speaks it (a code in settings.LANGUAGES), else None."""
    return language if language in dict(settings.LANGUAGES) else None


def _active(request, language: str) -> None:
    translation.activate(language)
    request.LANGUAGE_CODE = language


class UserLanguageMiddleware:
    """The signed-in user's chosen language, over the cookie and Accept-Language.

    Sits after AuthenticationMiddleware and before anything that renders."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Here, not in __call__: reading the session may fail (the database is down), and
        # the error middleware answers for what fails from here on (503, a toast).
        language = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if supported(language):
            _active(request, language)


@receiver(user_logged_in, dispatch_uid="crm.language.remember")
def remember_on_sign_in(sender, request, user, **kwargs):
    """Bring the user's choice into the new session (one query, at sign-in only)."""
    if request is None or not hasattr(request, "session"):
        return
    language = (
        LanguagePreference.objects.filter(user=user).values_list("language", flat=True).first()
    )
    if language:
        request.session[SESSION_KEY] = language
        _active(request, language)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    next = forms.CharField(required=False)


@method_decorator(login_not_required, name="dispatch")
class LanguageView(View):
    """POST /settings/language/: switch the language and go back to the page it came from.

    Signed in, the choice is saved for the user; signed out (the sign-in page), only the
    browser remembers it, in Django's language cookie."""

    http_method_names = ["post"]

    def post(self, request):
        form = LanguageForm(request.POST)
        if not form.is_valid():
            return HttpResponseRedirect(self._next(request, ""), status=303)
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            LanguagePreference.objects.update_or_create(
                user=request.user, defaults={"language": language}
            )
            request.session[SESSION_KEY] = language
        response = HttpResponseRedirect(self._next(request, form.cleaned_data["next"]), status=303)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
        return response

    def _next(self, request, candidate: str) -> str:
        for url in (candidate, request.META.get("HTTP_REFERER", "")):
            if url and url_has_allowed_host_and_scheme(
                url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                return url
        return "/"
