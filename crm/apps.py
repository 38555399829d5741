from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    """The clients and contacts app; the package also holds the project's settings and URLs."""

    name = "crm"
    verbose_name = _("Clients and contacts")

    def ready(self):
        from . import checks, language  # noqa: F401 - they register themselves
