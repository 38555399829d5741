from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Clients and contacts"

    def ready(self):
        from . import lookups

        lookups.register()
