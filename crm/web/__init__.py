"""The shared web kit: what every page and app here builds on, and nothing domain-specific.

htmx partials (``htmx``), list sorting (``listing``), bulk inserts (``bulk``), admin
helpers (``admin_utils``), safe query parameters and integer lookups (``params``,
``lookups``), the connection pool's check (``db``), the generic filter set base
(``filters``) and the formatting and navigation template tags. It imports no app of
ours: the import-linter contract in ``.importlinter`` holds it at the bottom.
"""
