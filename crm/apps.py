from django.apps import AppConfig


class CrmConfig(AppConfig):
    """The clients and contacts app; the package also holds the project's settings and URLs."""

    name = "crm"
    verbose_name = "Clients and contacts"

    def ready(self):
        from . import checks, language  # noqa: F401 - they register themselves
