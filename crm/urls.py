from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from crm.api.app import urls as api_urls


class LoginView(auth_views.LoginView):
    """Django's login view, answering 422 to a failed sign-in like every other form."""

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=422)


class FaviconView(RedirectView):
    """/favicon.ico: the icon, for pages without our <link rel="icon"> (the admin's)."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("img/favicon.svg")  # when asked: the manifest is read at run time


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="leads:my_work", permanent=False), name="home"),
    path(
        "accounts/login/",
        LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "favicon.ico",
        login_not_required(FaviconView.as_view()),
        name="favicon",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", api_urls()),
    path("", include("leads.urls")),
    path("", include("crm.urls_app")),
]

# Errors: 403.html and 404.html through Django's handlers; 500.html with a reference.
handler500 = "crm.middleware.server_error"
