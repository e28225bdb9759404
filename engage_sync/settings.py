"""Engage Sync settings: every value comes from the environment, read once, here.

The helpers below fail loudly (ImproperlyConfigured) on a value they cannot parse, so a typo in a
deployment stops the process at start-up instead of surfacing as odd behaviour hours later.
Secrets accept a ``NAME_FILE`` variant (a path whose content is the value), for Docker/K8s secrets.
The configuration reference is in README.md; keep the two in step.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from engage_sync.api.rates import parse_rate

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    """The variable's value, or the content of the file named by ``NAME_FILE``; required without a default."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc.strerror}") from None
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} (or {name}_FILE) is required.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated list; blank entries are dropped."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
# Outside DEBUG a missing key is fatal; in DEBUG a fixed development key keeps `manage.py` usable.
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-development-key-do-not-use" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",  # its abstract key model; apikeys/ holds the concrete, scoped one
    "drf_spectacular",
    "django_celery_beat",
    "apikeys",
    "axes",  # admin login lockout (below)
    "brokerages",
    "outbox",
    "scheduling",
    "sync",
    "backend_move",
]

MIDDLEWARE = [
    "engage_sync.api.middleware.ApiJsonErrorsMiddleware",  # first: it sees every answer under /api/, even Django's own
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: answers a locked-out login with 429
]

ROOT_URLCONF = "engage_sync.urls"
WSGI_APPLICATION = "engage_sync.wsgi.application"

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
            ],
        },
    },
]

# --- Data stores ------------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/engage_sync")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Credentials encryption -------------------------------------------------------------------------
# Comma-separated Fernet keys, newest first: the first encrypts, all decrypt (see brokerages/crypto.py
# and `manage.py rotate_encryption_key`). Generate one with `manage.py generate_encryption_key`.
ENCRYPTION_KEYS = env_list("ENGAGE_ENCRYPTION_KEYS", "")

# --- Auth, i18n, static -----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Admin login lockout (django-axes): ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one username from one client
# address lock that pair out for ADMIN_LOGIN_COOLOFF_MINUTES (each further try during the lock restarts it).
# A credential manager unlocks early in the admin (Axes → Access attempts: delete the row) or with
# `manage.py axes_reset_username <username>`. The API's tokens never go through authenticate(), so never lock.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "engage_sync.staff_login.client_address"
# How many proxies (each appending to X-Forwarded-For) stand between clients and gunicorn; 0 = REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

# HTTPS (deploy/README.md: behind a TLS proxy). Production defaults: redirect plain HTTP to HTTPS, HSTS for a year.
# Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER names the header it sets to "https" (e.g.
# X-Forwarded-Proto; the proxy must overwrite it from clients), or every request looks like plain HTTP and is
# redirected forever.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
# Prometheus may scrape /metrics over the internal network in plain HTTP (its bearer token guards it).
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", "^metrics$")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Harmless on the service's own host name: only a registrable domain (example.com) can join the preload list.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# --- Celery (read by engage_sync/celery.py through the CELERY_ namespace) ----------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = env_int("CELERY_BROKER_CONNECTION_MAX_RETRIES", 100, minimum=0)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Off: it works by killing the task's process, which the thread pool cannot do (celery/celery#9203; it only logs
# "Failed to cancel"). A copy redelivered after a connection loss does nothing instead: taking up a sync's
# lease replaces its token (scheduling/leases.py), and an email is claimed by a conditional UPDATE.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# After a broker restart Celery lowers the prefetch count and "restores" it as in-flight tasks finish, but
# the restore never reaches the running consumer and a worker stayed idle with a full queue
# (tests/scheduling/test_service_restarts.py; celery/celery#9512). With prefetch 1 there is nothing to reduce.
CELERY_WORKER_ENABLE_PREFETCH_COUNT_REDUCTION = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
# No CELERY_TASK_TIME_LIMIT: the workers run the thread pool, which cannot stop a task (celery/celery#9203).
# The limits that hold are our own: a timeout on every request to Microsoft and SYNC_TIME_LIMIT_SECONDS.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower's live view (received, started, succeeded, failed)
# No "sent" events: the dispatcher publishes tens of thousands of tasks a tick, and an event per task would
# double the broker traffic for a state Flower shows anyway once a worker receives the task.
CELERY_TASK_SEND_SENT_EVENT = False

# One queue per kind of work, so each can get its own workers, pool and concurrency. The sync queue
# carries priorities: a CRM-side change publishes a high-priority sync that overtakes the polling backlog.
TASK_QUEUE_NAMES = ("dispatch", "sync", "mail", "verify", "maintenance")
_exchange = Exchange("engage", type="direct")
CELERY_TASK_QUEUES = tuple(
    Queue(name, _exchange, routing_key=name, queue_arguments={"x-max-priority": 10} if name == "sync" else None)
    for name in TASK_QUEUE_NAMES
)
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_DEFAULT_EXCHANGE = "engage"
CELERY_TASK_DEFAULT_ROUTING_KEY = "maintenance"
# Tasks live in tasks/<queue>.py and are routed by module: tasks.sync.* go to "sync", and so on.
CELERY_TASK_ROUTES = {f"tasks.{name}.*": {"queue": name, "routing_key": name} for name in TASK_QUEUE_NAMES}

# --- CRM API (Django REST framework) ----------------------------------------------------------------
# CRM clients authenticate with "Authorization: Api-Key <key>", a key scoped to brokerages and permissions
# (apikeys/; admin: CRM API keys, or `manage.py issue_api_key`); no session or user token opens the API.
# The OpenAPI schema is /api/schema/ (any valid key).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apikeys.permissions.HasScopedApiKey"],
    "DEFAULT_SCHEMA_CLASS": "engage_sync.api.schema.ErrorDocumentingAutoSchema",  # every status, errors included
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["engage_sync.api.renderers.ApiJSONRenderer"],
    # JSON objects only, within API_MAX_REQUEST_BYTES (the emails endpoint: API_MAX_EMAIL_REQUEST_BYTES)
    "DEFAULT_PARSER_CLASSES": ["engage_sync.api.parsers.JSONObjectParser"],
    # Every 4xx as {"error": {"code", "message", "fields"?, "retry_after"?}} (engage_sync/api/errors.py, README.md)
    "EXCEPTION_HANDLER": "engage_sync.api.handler.api_exception_handler",
    # API_RATE_LIMIT requests per client credential, counted in Redis; over it 429 with Retry-After
    "DEFAULT_THROTTLE_CLASSES": ["engage_sync.api.throttling.PerCredentialRateThrottle"],
}
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1200/minute")
parse_rate(API_RATE_LIMIT)  # a malformed rate stops start-up
SPECTACULAR_SETTINGS = {
    "TITLE": "Engage Sync CRM API",
    "DESCRIPTION": "Contacts, calendar events and outgoing email of agents' mailboxes.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": ["apikeys.authentication.ApiKeyAuthentication"],
    "SERVE_PERMISSIONS": ["apikeys.permissions.HasApiKey"],
}

# --- Sync scheduling (the fleet) ----------------------------------------------------------------------

# A sync task's lease on its mailbox, renewed while it works; it only expires when the worker is gone.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 600, minimum=5)
# A sync stops at the first page boundary after this long (a failure, "time_limit"; what it did is kept). The
# lease is renewed at every page, so this may exceed SYNC_LEASE_SECONDS; the lease must outlast one request.
SYNC_TIME_LIMIT_SECONDS = env_int("SYNC_TIME_LIMIT_SECONDS", 480, minimum=1)
# Every request to Microsoft is bounded: EWS (exchangelib's per-request timeout) and the token endpoint (MSAL).
EWS_REQUEST_TIMEOUT_SECONDS = env_int("EWS_REQUEST_TIMEOUT_SECONDS", 30, minimum=1)
TOKEN_REQUEST_TIMEOUT_SECONDS = env_int("TOKEN_REQUEST_TIMEOUT_SECONDS", 10, minimum=1)
# A backend move (backend_move/) holds each moved mailbox's lease until the brokerage's backend is switched; a move
# stopped midway keeps them this long (7 days) before syncs could resume on mixed ids. Resume the move instead.
BACKEND_MOVE_HOLD_SECONDS = env_int("BACKEND_MOVE_HOLD_SECONDS", 7 * 24 * 3600, minimum=60)
# How long a move waits for a running sync to give a mailbox's lease back before it stops (to be resumed).
BACKEND_MOVE_LEASE_WAIT_SECONDS = env_int("BACKEND_MOVE_LEASE_WAIT_SECONDS", 900, minimum=1)
# Throttling or a network failure while translating ids: retried this often (after Microsoft's back-off, ≤ 60 s).
BACKEND_MOVE_RETRIES = env_int("BACKEND_MOVE_RETRIES", 5, minimum=0)
SYNC_MAX_BACKOFF_SECONDS = env_int("SYNC_MAX_BACKOFF_SECONDS", 3600, minimum=60)
# The broker the prompt publisher (scheduling/prompt.py: a CRM write's sync, sent at once) uses; empty: Celery's
# own (CELERY_BROKER_URL). Its own setting so a broker outage can be shown on the web side alone: pointed at a
# port nothing listens on, CRM writes still answer 201 and the dispatcher's next tick sends their syncs.
SYNC_PROMPT_BROKER_URL = env_str("SYNC_PROMPT_BROKER_URL", "")
# Large batches: each leasing statement costs about the same whatever its size (it ranks every open
# brokerage's due mailboxes), so fewer, larger ones lease 100,000 mailboxes several times faster.
DISPATCH_BATCH_SIZE = env_int("DISPATCH_BATCH_SIZE", 50_000, minimum=1)
DISPATCH_MAX_BATCHES = env_int("DISPATCH_MAX_BATCHES", 10, minimum=1)  # one tick leases at most batch * this
# Sync runs older than this are deleted by the hourly maintenance task tasks.maintenance.prune_sync_runs.
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 30, minimum=1)
# Hourly tallies of refused API requests (apikeys.DeniedApiRequests) older than this are deleted by the hourly
# maintenance task tasks.maintenance.prune_denied_api_requests; key issue/revoke entries are kept for good.
API_DENIED_RETENTION_DAYS = env_int("API_DENIED_RETENTION_DAYS", 90, minimum=1)
# Beat entries from here are written into django-celery-beat's tables when beat starts (then editable there).
CELERY_BEAT_SCHEDULE = {
    "prune-sync-runs": {"task": "tasks.maintenance.prune_sync_runs", "schedule": 3600.0},
    "prune-denied-api-requests": {"task": "tasks.maintenance.prune_denied_api_requests", "schedule": 3600.0},
}

# --- Ops: Prometheus metrics (ops/metrics.py) ---------------------------------------------------------
# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"; with no token set the endpoint is off (404).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# The sliding window of the sync-run gauges (runs by outcome and error class, throttle events).
METRICS_WINDOW_SECONDS = env_int("METRICS_WINDOW_SECONDS", 300, minimum=60)

# --- Outbox (email sent through agents' mailboxes) ----------------------------------------------------

# At most OUTBOX_SENDS_PER_MINUTE sends per mailbox in any OUTBOX_PACING_WINDOW_SECONDS (Exchange Online: 30 / 60 s).
OUTBOX_SENDS_PER_MINUTE = env_int("OUTBOX_SENDS_PER_MINUTE", 30, minimum=1)
OUTBOX_PACING_WINDOW_SECONDS = env_int("OUTBOX_PACING_WINDOW_SECONDS", 60, minimum=1)
# Transient failures are retried up to OUTBOX_MAX_ATTEMPTS times, the back-off doubling from 30 s up to
# OUTBOX_MAX_BACKOFF_SECONDS (jittered ±20 %): with the defaults an email rides out about 1.5 hours of outage and
# leaves within two minutes of its end. (Microsoft's own throttling back-off is honoured as given.)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 60, minimum=1)
OUTBOX_MAX_BACKOFF_SECONDS = env_int("OUTBOX_MAX_BACKOFF_SECONDS", 90, minimum=1)
# A sending attempt's lease: longer than any one attempt can take (the mail task's time limit is 240 s),
# so it only expires when its worker is gone; then the sweep hands the email to another worker.
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 300, minimum=1)
# After a send whose outcome we did not hear, how long to wait for it to show in Sent Items before
# concluding it never happened and sending again.
OUTBOX_IN_TRANSIT_GRACE_SECONDS = env_int("OUTBOX_IN_TRANSIT_GRACE_SECONDS", 300, minimum=0)
OUTBOX_MAX_ATTACHMENT_BYTES = env_int("OUTBOX_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=0)
OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES = env_int("OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES", 25 * 1024 * 1024, minimum=0)

# --- CRM API request limits (engage_sync/api/parsers.py) ------------------------------------------------
# Larger bodies are answered 413 (JSON, naming the limit) before they are read. Contacts and events are small.
# Django's own limit stays at its default for the admin's forms; the API's parser reads bodies under the limits below.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
API_MAX_REQUEST_BYTES = env_int("API_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024)
# An email carries its attachments in base64 (4 bytes for every 3), plus bodies, recipients and JSON: the
# default fits the full OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES with 2 MiB to spare, so the per-attachment and per-email
# limits (checked after parsing, with their own messages) are the ones a client meets first.
API_MAX_EMAIL_REQUEST_BYTES = env_int(
    "API_MAX_EMAIL_REQUEST_BYTES", 4 * -(-OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES // 3) + 2 * 1024 * 1024, minimum=1024
)

# --- Verification and staff mail (brokerages/verification.py, brokerages/secret_expiry.py) ------------

# Credential changes publish a verification run after commit (tests/settings.py turns it off by default so
# unrelated tests create no test items in simulator mailboxes; the verification tests turn it on).
VERIFY_ON_CREDENTIAL_CHANGE = env_bool("VERIFY_ON_CREDENTIAL_CHANGE", True)
# The daily re-verification spreads the due times of its runs over this many seconds (one random moment in
# each brokerage's slice); the due times are kept in PostgreSQL and beat's sweep publishes each run when due.
VERIFY_DAILY_SPREAD_SECONDS = env_int("VERIFY_DAILY_SPREAD_SECONDS", 2 * 60 * 60, minimum=0)
# A verification that failed transiently (throttled, network, a Microsoft 5xx) is retried on its own due time, the
# wait doubling from a minute (or Microsoft's back-off, if longer) up to an hour, this many times; after that the
# daily re-verification keeps trying it.
VERIFY_TRANSIENT_RETRIES = env_int("VERIFY_TRANSIENT_RETRIES", 6, minimum=0)
# Who gets failed re-verifications and secret-expiry warnings (comma-separated addresses).
STAFF_ALERT_EMAILS = env_list("STAFF_ALERT_EMAILS", "")
ADMIN_BASE_URL = env_str("ADMIN_BASE_URL", "")  # e.g. https://sync.example.com, for links in staff mail
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "engage-sync@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)

# --- Logging ----------------------------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Contacts and calendar sync (sync/engine.py) -----------------------------------------------------

# Changes per SyncFolderItems page (EWS allows 1-512); each page's bodies are fetched in batches of 50.
SYNC_PAGE_SIZE = env_int("SYNC_PAGE_SIZE", 256, minimum=1)
# When a push met a stale change key (or a row moved under us), re-read and re-plan this many more times.
SYNC_REPLAN_ROUNDS = env_int("SYNC_REPLAN_ROUNDS", 2, minimum=0)
# Every N to 2N days (per mailbox) a calendar is read in full instead of since its watermark, so events that were
# outside the calendar window when they arrived are imported once it reaches them. 0 = never.
SYNC_CALENDAR_REREAD_DAYS = env_int("SYNC_CALENDAR_REREAD_DAYS", 14, minimum=0)
# The same for a contacts folder, as the last line of defence against a change the feed never reported
# (sync/README.md, "Our writes are confirmed"). 0 = never.
SYNC_CONTACTS_REREAD_DAYS = env_int("SYNC_CONTACTS_REREAD_DAYS", 28, minimum=0)

# JSON lines (LOG_FORMAT=json) carry task_id, mailbox_id, brokerage_id from the running Celery task
# (engage_sync/logging_json.py); plain stays the default for the demo.
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not one of plain, json.")
LOGGING["filters"] = {"task_context": {"()": "engage_sync.logging_json.TaskContextFilter"}}
LOGGING["formatters"]["json"] = {"()": "engage_sync.logging_json.JsonFormatter"}
LOGGING["handlers"]["console"].update(formatter=LOG_FORMAT, filters=["task_context"])
# A worker would otherwise swap our console handler for Celery's own plain one.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT == "plain"
