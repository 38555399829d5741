"""Settings for the CRM, read from environment variables.

Everything has a default that works on a developer machine, so the app runs with no
environment at all. Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from crm.web.db import check_connection, prepared_statements

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "axes",
    "django_htmx",
    "django_filters",
    "django_tasks_db",
    # django-ninja: the REST API (crm/api/); listed for its Swagger UI files and template.
    "ninja",
    "crm.web",
    "crm",
    "pipelines",
    "leads",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above WhiteNoise, which answers static files without the middleware below it:
    # every response, static files included, carries both policies.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # Outside everything that can answer an error page: under /api/ it is JSON instead.
    "crm.middleware.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Each request's memory of the stages and users it reads (crm/web/memo.py).
    "crm.web.memo.RequestMemoMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "crm.middleware.RejectNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # The user's own language over the cookie and Accept-Language that LocaleMiddleware read.
    "crm.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.middleware.HtmxErrorMiddleware",
    # Last, as django-axes asks: it turns a sign-in it refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # csp_nonce: {% csp_nonce_attr %} (the admin) and {% htmx_script %}.
                "django.template.context_processors.csp",
            ],
            "builtins": [
                "crm.web.templatetags.crm",
                "crm.web.templatetags.formatting",
                "leads.templatetags.lead_badges",
            ],
        },
    },
]

# Widgets render through the project's templates, so that templates/django/forms/ can
# draw the many-option widgets without an include per option (docs/PERFORMANCE.md).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# Database: DATABASE_URL, or a SQLite file beside manage.py.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
        # Test a connection before handing it out (the pool's check on PostgreSQL): after
        # a database restart or terminated backends, no request gets a dead one.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast instead of hanging when the database is slow, locked or gone; a request
    # that fails so answers 503 and keeps what the user typed (crm/middleware.py).
    # `manage.py migrate` and `seed_bulk` lift the statement timeout for themselves.
    statement_timeout = int(os.environ.get("DB_STATEMENT_TIMEOUT", "15"))
    lock_timeout = int(os.environ.get("DB_LOCK_TIMEOUT", "5"))
    # Prepared statements: off unless DB_PREPARE_THRESHOLD names the runs after which a
    # connection prepares a statement. Off, every statement is planned for its own values.
    # A prepared one gets a generic plan from its sixth run on, blind to how rare a searched
    # word is: the list's search for "zeppelin" then took 200 ms instead of 8. Forcing
    # fresh plans (plan_cache_mode) made every foreign-key check plan again too: an import
    # of 100,000 rows took 51 s instead of 28 (docs/PERFORMANCE.md).
    prepared = prepared_statements(os.environ.get("DB_PREPARE_THRESHOLD", "off"))
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": int(os.environ.get("DB_CONNECT_TIMEOUT", "5")),
            "options": f"-c statement_timeout={statement_timeout}s -c lock_timeout={lock_timeout}s",
            **prepared,
            # psycopg 3's connection pool; CONN_MAX_AGE must stay 0 with it.
            "pool": {
                "min_size": int(os.environ.get("DB_POOL_MIN", "2")),
                "max_size": int(os.environ.get("DB_POOL_MAX", "10")),
                # How long a request waits for a connection before it answers 503.
                "timeout": int(os.environ.get("DB_POOL_TIMEOUT", "5")),
                # A dead connection found, the others are checked at once (crm/web/db.py).
                "check": check_connection,
                # Give up reconnecting after this long and try afresh on the next
                # request: the pool's back-off would otherwise wait up to a minute after
                # the database is back.
                "reconnect_timeout": int(os.environ.get("DB_RECONNECT_TIMEOUT", "5")),
            },
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes). After AXES_FAILURE_LIMIT failed sign-ins for one username
# from one client address, that pair is refused (429, templates/registration/locked_out.html,
# also on /admin/login/) until AXES_COOLOFF_MINUTES after the last counted failure, or until an
# admin deletes its "access attempt" in the admin or runs `manage.py axes_reset_username`.
# The pair, not the username alone: anyone could lock any user out by typing wrong passwords;
# not the address alone: a whole office signs in from one. A successful sign-in clears the
# pair's count.
AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout are refused without being recorded: the cool-off runs from the
# failure that locked, so the page can say exactly when to come back, and a script hammering
# a locked pair writes nothing (axes appends every counted attempt's form data to one row).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429  # Too Many Requests, with Retry-After
AXES_LOCKOUT_CALLABLE = "crm.throttling.lockout_response"
AXES_CLIENT_IP_CALLABLE = "crm.throttling.client_ip"
# Keep what throttling needs, not a record of every sign-in's address and browser: that is
# personal data nothing here would ever prune.
AXES_DISABLE_ACCESS_LOG = True
# The client address is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many proxies in front
# of the app append to X-Forwarded-For (1 behind one TLS proxy); without it the header is
# ignored, since a client can write anything there to dodge a lockout. Behind a proxy with the
# default 0, every client has the proxy's address: locks are then per username only.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands")]
# The Dutch catalogue: locale/nl/LC_MESSAGES/django.po, compiled by `make run` and
# `make test` (manage.py compile_translations); docs/TRANSLATING.md says how to add strings.
LOCALE_PATHS = [BASE_DIR / "locale"]
# "31 Dec 2026" and "31 dec. 2026": our date formats per language, Django's for the rest.
FORMAT_MODULE_PATH = ["crm.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Background work: Django's Tasks framework. By default a task runs at once, in the request
# (nothing else to start); TASKS_BACKEND=database queues tasks in PostgreSQL for the
# `manage.py db_worker` processes of django-tasks-db.
TASKS_BACKENDS = {
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
    "database": "django_tasks_db.DatabaseBackend",
}
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "immediate")
TASKS = {"default": {"BACKEND": TASKS_BACKENDS[TASKS_BACKEND]}}
# Webhook deliveries are sent by tasks only where a worker runs them: the immediate
# backend would send them inside the user's request. Without one they wait for
# `manage.py send_webhooks` (cron, or `--every 10` in development).
WEBHOOKS_QUEUED = env_bool("WEBHOOKS_QUEUED", TASKS_BACKEND == "database")
# One attempt's time limit in seconds; attempts in all; the first wait after a failure
# and the longest (each wait doubles: 1, 2, 4 … minutes, at most 6 hours).
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", "5"))
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "10"))
WEBHOOK_RETRY_FIRST = int(os.environ.get("WEBHOOK_RETRY_FIRST", "60"))
WEBHOOK_RETRY_MAX = int(os.environ.get("WEBHOOK_RETRY_MAX", str(6 * 3600)))
# Webhooks to loopback, private and link-local addresses are refused unless this is on
# (a receiver inside the same network as the app servers).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# A worker running an import reports after every batch; an import whose worker has not
# reported for this long (killed, or its machine gone) shows as interrupted, to be resumed
# or undone.
IMPORT_LEASE_SECONDS = int(os.environ.get("IMPORT_LEASE_SECONDS", "120"))
# An import no worker has started this long after it was queued shows as interrupted too.
IMPORT_QUEUE_SECONDS = int(os.environ.get("IMPORT_QUEUE_SECONDS", "900"))

# The REST API (/api/v1/, crm/api/): each token, and each signed-in browser session, may
# make API_RATE_LIMIT requests per API_RATE_PERIOD seconds; past that it gets 429 with
# Retry-After until the window ends. Counted in the database (crm.ratelimit), so the limit
# holds across every app server.
API_RATE_LIMIT = int(os.environ.get("API_RATE_LIMIT", "120"))
API_RATE_PERIOD = int(os.environ.get("API_RATE_PERIOD", "60"))

# Security. Production runs behind a TLS-terminating proxy.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it; the token is rendered on <body>
LANGUAGE_COOKIE_HTTPONLY = True  # only the server reads it (crm.language)
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Content-Security-Policy on every response (Django's ContentSecurityPolicyMiddleware).
# Our pages load scripts and styles only from files, never inline, so an injected inline
# script, event handler or style does not run. The only nonce is for styles: Django's own
# CSRF failure page and the admin's change list (without actions) carry an inline <style
# nonce>. htmx is kept within the policy by <meta name="htmx-config"> in base.html.
# The policy is the same with DEBUG on: Django's debug pages exempt themselves, but
# django-htmx's copy of one inside the page (a failed htmx request) shows unstyled.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# Permissions-Policy on every response (django-permissions-policy, which checks the names):
# the powerful browser features the CRM never uses are off, for our pages and anything
# they might embed. Only names that Chromium knows, so its console stays quiet.
PERMISSIONS_POLICY = {
    feature: []
    for feature in [
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "clipboard-read",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "local-fonts",
        "magnetometer",
        "microphone",
        "midi",
        "otp-credentials",
        "payment",
        "picture-in-picture",
        "publickey-credentials-create",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "window-management",
        "xr-spatial-tracking",
    ]
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # django-axes: failures and lockouts are warnings; its start-up and success lines are noise.
        "axes": {"level": "WARNING"},
    },
}
