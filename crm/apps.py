from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Clients and contacts"

    def ready(self):
        from . import checks, lookups  # noqa: F401 - checks registers itself

        lookups.register()
