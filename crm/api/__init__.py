"""The REST API under /api/v1/ (django-ninja): leads, clients, contacts and what they
point at, for scripts and other systems. ``crm.api.app`` assembles it; docs/API.md is
its quick start.

Every write goes through the services the pages use (``leads.services``,
``crm.services``), with the pages' forms checking the values, so the API and the pages
keep one set of rules and messages.
"""
