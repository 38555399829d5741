"""Deployment checks of our own, beside Django's (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def sign_in_throttling_sees_clients(app_configs, **kwargs):
    """Behind a proxy, sign-in throttling must know which address is the client's."""
    if settings.SECURE_PROXY_SSL_HEADER and not settings.TRUSTED_PROXY_COUNT:
        return [
            Warning(
                "The app runs behind a proxy (SECURE_PROXY_SSL_HEADER) but "
                "TRUSTED_PROXY_COUNT is 0: sign-in throttling then takes every client for "
                "the proxy and locks per username only, so anyone can lock anyone out.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies that append the "
                "client's address to X-Forwarded-For (1 behind one TLS proxy).",
                id="crm.W001",
            )
        ]
    return []


@register(Tags.compatibility)
def webhooks_are_sent_outside_requests(app_configs, **kwargs):
    """Queued webhook deliveries must be queued for a worker: the immediate backend runs a
    task at once, inside the request that queued it."""
    backend = settings.TASKS.get("default", {}).get("BACKEND", "")
    if settings.WEBHOOKS_QUEUED and backend.endswith(".ImmediateBackend"):
        return [
            Warning(
                "WEBHOOKS_QUEUED is on with the immediate task backend: every lead write "
                "would wait for the webhook endpoints to answer.",
                hint="Use TASKS_BACKEND=database with manage.py db_worker, or turn "
                "WEBHOOKS_QUEUED off and run manage.py send_webhooks from cron.",
                id="crm.W002",
            )
        ]
    return []
