"""Settings for the Claude API course: one file, configured by environment variables.

With no variables set, a fresh checkout runs on SQLite with an in-memory channel layer and the
offline tutor, so `make run` needs no API key and no services.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envdollars(name: str, default: str) -> Decimal | None:
    """An amount in dollars ("20", "$7.50"), or None for "off"."""
    value = (os.environ.get(name, "").strip() or default).lstrip("$")
    if value.lower() == "off":
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be an amount in dollars, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"{name} must be an amount in dollars, not {value!r}")
    return amount


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "true")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",  # first, so that runserver serves ASGI (and websockets) too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "axes",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "course",
    "course.sandbox",
    "tutor",
]

MIDDLEWARE = [
    # /healthz answers before the host check, the HTTPS redirect and the session (course/health.py).
    "course.health.health_check_middleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    # Before anything reads request.POST: a body too big to read gets the sandbox's own 413.
    "course.sandbox.views.body_limit_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "course.urls"
ASGI_APPLICATION = "course.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "course.context_processors.lesson_problems",
            ],
            # Listing loaders turns Django's template cache off unless it is listed too; the
            # development server still reloads a template when its file changes.
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Reuse connections: opening one per ORM call was the largest cost the benchmark found.
        # SQLite only: PostgreSQL's are pooled (below).
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the tutor's writes and page reads overlap; a busy timeout beats "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The browser tests run daphne in another process, which cannot share an in-memory database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DB_NAME") or None}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every thread that queries holds a connection of its own; Django's docs advise
    # psycopg's pool instead of persistent connections (which the pool requires to be off).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A process queries from Channels' thread, the tutor's (tutor/db.py) and a few more.
    # A database that cannot be reached fails a query within OUTAGE_SECONDS, as it does without
    # a pool, instead of waiting psycopg's 30 s for a connection.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": envint("DB_POOL_SIZE", 10),
        "timeout": envint("OUTAGE_SECONDS", 3),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which breaks the layer's
            # blocking receive on any socket idle that long (django/channels_redis#422).
            # Prefixed with the database's name: two sites (or parallel test runs) sharing one
            # Redis never see each other's groups, while a site's processes share theirs.
            # Every socket of a process shares one Redis list, which holds `capacity` messages
            # (100 by default): a class streaming through one process overflowed it, and
            # channels_redis drops a group message that does not fit (bench: 400 learners).
            "CONFIG": {
                # redis-py 8 caps a pool at 100 connections and then raises instead of waiting:
                # a few hundred sockets' layer calls at once closed sockets with 1011.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "max_connections": envint("REDIS_MAX_CONNECTIONS", 1_000),
                    }
                ],
                "capacity": envint("CHANNEL_CAPACITY", 10_000),
                "prefix": f"asgi:{DATABASES['default']['NAME']}",
            },
        }
    }
    # The sandbox's per-learner run lock, rate limit and simulated prompt cache must hold across
    # processes too; the prefix keeps two sites (or test databases) on one Redis apart.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": str(DATABASES["default"]["NAME"]),
            # A Redis that stops answering must fail a call within seconds, not hang it.
            "OPTIONS": {
                "socket_connect_timeout": envint("OUTAGE_SECONDS", 3),
                "socket_timeout": envint("OUTAGE_SECONDS", 3),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "tutor.layers.SweptInMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Log-in throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username from
# one address, or LOGIN_ADDRESS_FAILURE_LIMIT for any usernames from one address (password
# spraying), that pair or that address is locked out for LOGIN_LOCKOUT_MINUTES; a success resets
# the pair's count (course/accounts.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15))
LOGIN_ADDRESS_FAILURE_LIMIT = envint("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # in LoginThrottle's order
AXES_HANDLER = "course.accounts.LoginThrottle"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
BEHIND_HTTPS_PROXY = envbool("BEHIND_HTTPS_PROXY", "false")
# Axes reads the client's address from REMOTE_ADDR: behind the proxy, daphne sets it from the
# X-Real-IP header nginx overwrites (deploy/), never from X-Forwarded-For, which clients write.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", "false")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind an HTTPS proxy (see README): trust its X-Forwarded-Proto, redirect plain HTTP, send HSTS.
if BEHIND_HTTPS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "false")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")
# Covering every subdomain and joining the browsers' preload list bind the whole domain for
# months: the domain's owner opts in with the two variables above, so the deploy check's nudges
# towards them are silenced.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

# Content-Security-Policy (django-csp). Nothing inline runs: scripts are our static files; a
# <style> element needs the request's nonce ({{ request.csp_nonce }}, also in <meta name=
# "csp-nonce"> for scripts such as the sandbox's editor, which passes it to CodeMirror).
# connect-src 'self' covers the tutor's websocket (same host, ws: or wss:). Style *attributes*
# are allowed: CodeMirror positions its editor with them (and Chromium writes one when text is
# inserted into a contenteditable); an attribute can style but never load or run anything.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The course content: lesson Markdown files and the model data file.
LESSONS_DIR = Path(os.environ.get("LESSONS_DIR", BASE_DIR / "lessons"))
MODELS_FILE = Path(os.environ.get("MODELS_FILE", LESSONS_DIR / "models.yaml"))
# The date model lifecycles are judged against (a `retires` date that has passed means retired).
# Empty: today (UTC). Set it (YYYY-MM-DD) to preview the course on another day.
COURSE_TODAY = (
    date.fromisoformat(os.environ["COURSE_TODAY"]) if os.environ.get("COURSE_TODAY") else None
)

# The tutor. ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL are read by the SDK itself; with no key
# the tutor runs offline (retrieval over the lesson). TUTOR_MODEL defaults to tutor_default in
# lessons/models.yaml.
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "")
# Daphne's runserver reads these; `make serve` passes the same to daphne. Frames between the
# tutor's 64 KiB and this reach the app and get an answer; the page never sends bigger ones.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 4 * 1024 * 1024
TUTOR_MODEL = os.environ.get("TUTOR_MODEL", "")
TUTOR_MAX_TOKENS = envint("TUTOR_MAX_TOKENS", 1024)
TUTOR_MAX_RETRIES = envint("TUTOR_MAX_RETRIES", 2)  # the SDK's own retries, before a reply starts
TUTOR_TIMEOUT_SECONDS = envint("TUTOR_TIMEOUT_SECONDS", 60)  # per read; chat must fail fast
TUTOR_RETRY_AFTER_CAP_SECONDS = envint("TUTOR_RETRY_AFTER_CAP_SECONDS", 5)
TUTOR_CONTEXT_BUDGET_TOKENS = envint("TUTOR_CONTEXT_BUDGET_TOKENS", 24_000)
TUTOR_MAX_MESSAGE_CHARS = envint("TUTOR_MAX_MESSAGE_CHARS", 4_000)
# Per-learner limits on calls to Claude, shared by the tutor and the sandbox (course/allowance.py).
TUTOR_BURST_PER_MINUTE = envint("TUTOR_BURST_PER_MINUTE", 6)  # upstream attempts, retries too
TUTOR_MESSAGES_PER_DAY = envint("TUTOR_MESSAGES_PER_DAY", 100)
TUTOR_TOKENS_PER_DAY = envint("TUTOR_TOKENS_PER_DAY", 400_000)
# Live sandbox runs have a per-minute limit of their own, sized so that practice never waits
# (run the starter, fix it, run it twice for the cache): the daily limits above and
# SANDBOX_MAX_TOKENS protect the bill.
SANDBOX_LIVE_RUNS_PER_MINUTE = envint("SANDBOX_LIVE_RUNS_PER_MINUTE", 15)
# What the whole site may spend on Claude in a day (UTC), tutor and sandbox together, in dollars
# at lessons/models.yaml's prices; once reached both run offline until midnight. "off": no cap.
SITE_DAILY_SPEND_LIMIT = envdollars("SITE_DAILY_SPEND_LIMIT", "20")
TUTOR_RETRY_BACKOFF_CAP_SECONDS = envint("TUTOR_RETRY_BACKOFF_CAP_SECONDS", 60)
TUTOR_NEW_CONVERSATIONS_PER_HOUR = envint("TUTOR_NEW_CONVERSATIONS_PER_HOUR", 20)
TUTOR_COALESCE_MS = envint("TUTOR_COALESCE_MS", 30)  # deltas arriving faster share one frame
TUTOR_COALESCE_MAX_MS = envint("TUTOR_COALESCE_MAX_MS", 70)  # the window under load (generation.py)
# A streaming reply is saved at least this often, so a crash keeps what the learner saw within a
# fraction of a second (kill -9 at 1.0 s kept 40 words of the 92 shown). One round trip per
# process per tick, whatever the number of replies: it is cheap to tick often.
TUTOR_FLUSH_SECONDS = 0.25
TUTOR_STALE_SECONDS = envint("TUTOR_STALE_SECONDS", 4)  # unsaved this long: its writer died
TUTOR_WATCH_SECONDS = 0.5  # how often a socket checks that the reply it shows is still alive
TUTOR_REJOIN_SECONDS = 2.0  # a writer joins its control group again (Redis may have restarted)
TUTOR_DB_THREADS = envint("TUTOR_DB_THREADS", 0)  # its database threads; 0: see tutor/db.py
TUTOR_DRAIN_SECONDS = envint("TUTOR_DRAIN_SECONDS", 25)  # on SIGTERM, replies get this long
TUTOR_OFFLINE_DELAY_MS = envint("TUTOR_OFFLINE_DELAY_MS", 12)
# Conversations last active longer ago are deleted by `manage.py purge_transcripts`.
TUTOR_RETENTION_DAYS = envint("TUTOR_RETENTION_DAYS", 180)

# The lesson sandbox. SANDBOX_MODE: auto (live when ANTHROPIC_API_KEY is set, else the simulator),
# simulator or live. Live runs are billed to the course, so they are capped; every cap is "what
# this site allows", kept apart from what the API itself refuses (course/sandbox/policy.py).
SANDBOX_MODE = os.environ.get("SANDBOX_MODE", "auto").strip().lower()
if SANDBOX_MODE not in {"auto", "simulator", "live"}:
    raise ImproperlyConfigured(
        f"SANDBOX_MODE must be auto, simulator or live, not {SANDBOX_MODE!r}"
    )
if SANDBOX_MODE == "live" and not ANTHROPIC_API_KEY:
    raise ImproperlyConfigured("SANDBOX_MODE=live needs ANTHROPIC_API_KEY.")
SANDBOX_MAX_TOKENS = envint("SANDBOX_MAX_TOKENS", 1024)
SANDBOX_MAX_BODY_BYTES = envint("SANDBOX_MAX_BODY_BYTES", 64 * 1024)
SANDBOX_RUNS_PER_MINUTE = envint("SANDBOX_RUNS_PER_MINUTE", 30)  # simulator runs: abuse guard
SANDBOX_SIM_DELAY_MS = envint("SANDBOX_SIM_DELAY_MS", 20)  # simulated time between stream events
SANDBOX_RUN_SECONDS = envint("SANDBOX_RUN_SECONDS", 120)  # the longest a run's lock is renewed
# Redis or a database lock holding this long: a sandbox run or a tutor question gets a message
# instead of a hang.
OUTAGE_SECONDS = envint("OUTAGE_SECONDS", 3)
# Sign-up: accounts one address may create per hour (each gets its own allowance for Claude).
SIGNUPS_PER_HOUR = envint("SIGNUPS_PER_HOUR", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{levelname} {name}: {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The SDK and its HTTP client log whole prompts at DEBUG; keep them quiet.
        "anthropic": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
