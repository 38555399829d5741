from django.apps import AppConfig


class WebConfig(AppConfig):
    """The shared web kit, installed for its template tags and its integer lookups."""

    name = "crm.web"
    label = "web"

    def ready(self):
        from . import lookups

        lookups.register()
