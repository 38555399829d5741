"""A URLconf for tests/test_shell.py: views that fail in each way the error contract covers."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.utils import OperationalError
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import include, path
from django_htmx.http import trigger_client_event


def permission_denied(request):
    raise PermissionDenied


def not_found(request):
    raise Http404("No such lead")


def crash(request):
    raise RuntimeError("boom: secret internals")


def database_down(request):
    raise OperationalError("could not connect to server")


def own_toast(request):
    response = HttpResponse("no", status=403)
    return trigger_client_event(
        response, "showToast", {"level": "warning", "message": "Only managers may assign."}
    )


def ok(request):
    return HttpResponse("fine")


def page_with_messages(request):
    messages.success(request, "Lead saved.")
    messages.error(request, "Could not send the e-mail.")
    messages.info(request, "Heads up.")
    return TemplateResponse(request, "base.html")


urlpatterns = [
    path("403/", permission_denied),
    path("404/", not_found),
    path("500/", crash),
    path("503/", database_down),
    path("own-toast/", own_toast),
    path("ok/", ok),
    path("messages/", page_with_messages),
    path("", include("crm.urls")),
]

handler500 = "crm.middleware.server_error"
