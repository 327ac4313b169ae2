"""MeshHook settings: one file, configured entirely from the environment.

Defaults are safe (DEBUG off) and need nothing installed: SQLite under var/ and an
embedded Redis on a unix socket under var/ (started by `make run`). Set DATABASE_URL and
REDIS_URL to use PostgreSQL and a real Redis. See the configuration table in README.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from meshhook.envconfig import (
    development_secret_key,
    env_bool,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MESHHOOK_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (or set DEBUG=1).")
    SECRET_KEY = development_secret_key(VAR_DIR)

PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
# Test-run worker processes `make run` (manage.py serve) starts.
WORKERS = env_int("WORKERS", os.cpu_count() or 1, minimum=1, maximum=64)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# HTTPS=1 is what a production deployment sets behind TLS.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "django_htmx",
    "channels",
    "django_rq",
    "axes",
    "meshhook",
    "testruns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "meshhook.urls"
WSGI_APPLICATION = "meshhook.wsgi.application"
ASGI_APPLICATION = "meshhook.asgi.application"

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
                "csp.context_processors.nonce",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60, maximum=3600),
            conn_health_checks=True,
        )
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "meshhook.sqlite3"),
            # WAL lets the web process read while the worker writes; IMMEDIATE plus the
            # busy timeout turns lock contention into a short wait instead of an error.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not :memory:, so the browser tests' server and worker processes (forked
            # from the test process) see the test data; one per process so suites can overlap.
            "TEST": {"NAME": str(VAR_DIR / f"test-meshhook-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: RQ queues and the channel layer --------------------------------------------
EMBEDDED_REDIS = not env_str("REDIS_URL")
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = env_str("REDIS_URL") or f"unix://{EMBEDDED_REDIS_SOCKET}"

RQ_QUEUES = {
    "testruns": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600},
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
}
RQ_SHOW_ADMIN_LINK = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 shortened the default socket read timeout, which makes
            # channels_redis drop idle websockets every few seconds; wait forever instead.
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "capacity": 1500,
            "expiry": 60,
        },
    }
}

# --- Auth, i18n, static -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes): AXES_FAILURE_LIMIT failed logins for one username from
# one address lock that pair out (429) for AXES_COOLOFF_HOURS.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workflow_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("COLLECTSTATIC", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve straight from the source folders unless collectstatic was run for production.
WHITENOISE_USE_FINDERS = not env_bool("COLLECTSTATIC", False)
WHITENOISE_AUTOREFRESH = DEBUG

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
    }
}

# --- MeshHook ------------------------------------------------------------------------------
# A paused step-mode run left alone this long is cancelled.
PAUSED_RUN_TTL_SECONDS = env_int("PAUSED_RUN_TTL_SECONDS", 3600, minimum=10)
# A running run whose worker has not written a heartbeat (every 1.5 s) for this long is
# taken over by another worker; sweeps run every 2 s, so a lost worker is noticed within
# this plus 2 s. After RUN_MAX_RESUMES takeovers the run ends `error` instead.
RUN_HEARTBEAT_TIMEOUT_SECONDS = env_int("RUN_HEARTBEAT_TIMEOUT_SECONDS", 8, minimum=3)
RUN_MAX_RESUMES = env_int("RUN_MAX_RESUMES", 2, minimum=0, maximum=100)
RUN_SWEEP_SECONDS = env_int("RUN_SWEEP_SECONDS", 2, minimum=1, maximum=300)
# The web process sweeps as well as every worker (off in the test suite, whose tests sweep
# when they mean to).
RUN_SWEEP_IN_WEB = env_bool("RUN_SWEEP_IN_WEB", True)
# Finished test runs older than this are purged daily (testruns/retention.py says which
# ones stay: pinned, baselines, suites still shown…); 0 = never automatically.
TEST_RUN_RETENTION_DAYS = env_int("TEST_RUN_RETENTION_DAYS", 30, minimum=0, maximum=36_500)
# What one test run may store (testruns/limits.py), 0 = no limit: step records (loop items
# count one each), events, and bytes of step inputs, outputs and log lines. Reaching one
# stops the run, `failed`, with a message naming the setting.
RUN_MAX_STEP_RECORDS = env_int("RUN_MAX_STEP_RECORDS", 50_000, minimum=0)
RUN_MAX_EVENTS = env_int("RUN_MAX_EVENTS", 100_000, minimum=0)
RUN_MAX_STORED_BYTES = env_int("RUN_MAX_STORED_BYTES", 256_000_000, minimum=0)
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 2_000_000, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Quotas on starting test runs (testruns/quotas.py), 0 = off: RUN_START_RATE starts per
# user per RUN_START_RATE_WINDOW_SECONDS, and at most MAX_ACTIVE_RUNS_PER_PROJECT queued,
# running or paused runs per project. Over either, the start is refused with 429.
RUN_START_RATE = env_int("RUN_START_RATE", 30, minimum=0)
RUN_START_RATE_WINDOW_SECONDS = env_int("RUN_START_RATE_WINDOW_SECONDS", 60, minimum=1)
MAX_ACTIVE_RUNS_PER_PROJECT = env_int("MAX_ACTIVE_RUNS_PER_PROJECT", 100, minimum=0)
# /sandbox/: fake APIs the demo workflows and the tests call. Anyone may call them, so a
# production deployment leaves them off (a system check warns otherwise).
SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", DEBUG)

# Query strings are dropped from every console line (access logs carry URLs, and URLs can
# carry tokens); httpx/httpcore log each outbound request's URL at INFO, so they are quiet.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"drop_query_string": {"()": "meshhook.logfilters.DropQueryString"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["drop_query_string"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING", "filters": ["drop_query_string"]},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
