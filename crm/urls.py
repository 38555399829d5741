from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView


class LoginView(auth_views.LoginView):
    """Django's login view, answering 422 to a failed sign-in like every other form."""

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=422)


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="leads:my_work", permanent=False), name="home"),
    path(
        "accounts/login/",
        LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("leads.urls")),
    path("", include("crm.urls_app")),
]

# Errors: 403.html and 404.html through Django's handlers; 500.html with a reference.
handler500 = "crm.middleware.server_error"
