"""Settings, all taken from the environment with safe development defaults.

Unset DATABASE_URL means the embedded default (an SQLite file); unset REDIS_URL
means the in-memory channel layer, which only works with a single process.
See README.md for the production shape.
"""

import os
from datetime import date, timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless asked for: a deployment that forgets it runs with production
# settings. `make serve` (scripts/serve.sh) and the tests (tests/settings.py)
# turn it on.
DEBUG = env_bool("DEBUG", False)
_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not DEBUG and SECRET_KEY in ("", _DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a secret of your own: DEBUG is off (the default, for"
        " production). For development, set DEBUG=1 (make serve does)."
    )
SECRET_KEY = SECRET_KEY or _DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "channels",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "helpdesk",
    "routing",
    "realtime",
    "realtime.telephony",
    "knowledge",
    "helpdesk.stats",
]

MIDDLEWARE = [
    "helpdesk.logging_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "helpdesk.csp.HelpdeskCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL, lone surrogates, deep JSON and oversized bodies -> 4xx (helpdesk/input_guard.py).
    "helpdesk.input_guard.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "helpdesk.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded default is an SQLite file under var/; production and the tests
# use PostgreSQL through DATABASE_URL.
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    # Under ASGI every HTTP request runs in a thread of its own, so its
    # connection goes back when the request ends (CONN_MAX_AGE 0, as Django
    # advises for ASGI), into a bounded per-process pool: a burst of requests
    # waits for a connection instead of exhausting the server's. The chat and
    # routing threads live as long as the worker and keep theirs checked out
    # (realtime/consumers/base.py, routing/ticker.py): no checkout per frame.
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DB_CONN_MAX_AGE", "0"))
    # Django turns psycopg's prepared statements off (prepare_threshold None)
    # for the sake of transaction-mode PgBouncer. Its own cursors bind on the
    # client side and never prepare, whatever this says; the chat store
    # (helpdesk/services/messages.py) binds on the server and asks for
    # preparation, so that PostgreSQL plans its statement once per connection
    # instead of on every message. DB_PREPARE_THRESHOLD="" keeps it off (for a
    # pooler that cannot carry prepared statements).
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        prepare_threshold = os.environ.get("DB_PREPARE_THRESHOLD", "5").strip()
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            int(prepare_threshold) if prepare_threshold else None
        )
    DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "30"))
    if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # Django then checks a pooled connection before handing it out: after
        # a database restart the idle ones are dead, and each would fail one
        # request.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "2")),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT_S", "10")),
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "helpdesk.sqlite3",
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                # WAL lets readers go on while the one writer commits; NORMAL
                # sync is safe with WAL and spares an fsync per commit.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DATABASES["default"].setdefault("TEST", {})
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

# The channel layer is only a notification path: every message is in the
# database first, and clients resume from their last sequence number. That is
# why the pub/sub layer (fast, fire-and-forget) is the right one here.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's pub/sub layer, publishing pipelined (realtime/layers.py).
            "BACKEND": "realtime.layers.PipelinedPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": int(os.environ.get("REDIS_MAX_CONNECTIONS", "1000")),
                    }
                ],
                # Pub/sub ignores the database number: deployments (and test
                # runs) sharing one Redis are kept apart by the prefix.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "helpdesk"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env_bool("TEST_FAST_PASSWORD_HASHER", False):
    # Tests only (scripts/test.sh sets it, and the live servers they start
    # inherit it): the real hasher costs seconds per demo network.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses sign-ins of a locked account or address.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed passwords an
# account, and separately an address, is locked for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "helpdesk/locked_out.html"
# Behind a TLS proxy that appends to X-Forwarded-For: how many proxies to trust.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)
AXES_VERBOSE = False
# Two-factor authentication (helpdesk/two_factor.py).
TWO_FACTOR_REQUIRED = env_bool("TWO_FACTOR_REQUIRED", True)
TWO_FACTOR_EXEMPT_DEMO_USERS = env_bool("TWO_FACTOR_EXEMPT_DEMO_USERS", True)
OTP_TOTP_ISSUER = "Digituki"
# Staff sessions (console and admin) end after this long; the console socket
# closes when its session has expired.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_MAX_AGE_S", str(10 * 3600)))
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "fi"
LANGUAGES = [("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "helpdesk" / "locale"]
# English as written in Finland: 24-hour times, day before month (helpdesk/formats/en).
FORMAT_MODULE_PATH = ["helpdesk.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Helsinki")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "helpdesk.views.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Digituki helpdesk API",
    "DESCRIPTION": "Routing, chat, knowledge base and administration of digital support.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar): the docs
    # work offline and under the Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "/static/helpdesk/favicon.svg",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "knowledge.schema.add_plain_view_endpoints",
    ],
}

# Content-Security-Policy (django-csp; helpdesk/csp.py adds the ws(s) origin of
# the requested host). No inline scripts, handlers or styles: everything comes
# from our static files. Extra origins for SDKs that need them are settings.
CSP_EXTRA_CONNECT_SRC = env_list("CSP_EXTRA_CONNECT_SRC")
CSP_EXTRA_SCRIPT_SRC = env_list("CSP_EXTRA_SCRIPT_SRC")
CSP_EXTRA_MEDIA_SRC = env_list("CSP_EXTRA_MEDIA_SRC")
# Sites that may frame the widget besides our own pages and the provider's
# website (Provider.website of the provider the widget is for).
WIDGET_FRAME_ANCESTORS = env_list("WIDGET_FRAME_ANCESTORS")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *CSP_EXTRA_SCRIPT_SRC],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "media-src": ["'self'", "blob:", *CSP_EXTRA_MEDIA_SRC],
        "connect-src": ["'self'", *CSP_EXTRA_CONNECT_SRC],
        "frame-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Security: production values when DEBUG is off (behind a TLS-terminating proxy).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a lasting commitment of the whole domain; an operator
        # opts in with SECURE_HSTS_PRELOAD=1, so the check is not a finding.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# The accessibility statement (/accessibility/, Act 306/2019): where feedback
# goes, and when the statement was prepared and last reviewed.
ACCESSIBILITY_FEEDBACK_EMAIL = os.environ.get("ACCESSIBILITY_FEEDBACK_EMAIL", "")
ACCESSIBILITY_STATEMENT_PREPARED = date.fromisoformat(
    os.environ.get("ACCESSIBILITY_STATEMENT_PREPARED", "2026-11-30")
)
ACCESSIBILITY_STATEMENT_UPDATED = date.fromisoformat(
    os.environ.get("ACCESSIBILITY_STATEMENT_UPDATED", "2026-11-30")
)

# Telephony: phone is off unless all three are set.
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_PHONE_NUMBER = os.environ.get("TWILIO_PHONE_NUMBER", "")
if env_bool("PHONE_DEMO", False) and DEBUG and not (TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN):
    # The demo's phone: calls come from `manage.py simulate_call` (same values),
    # and the REST calls go to the stand-in that command serves on port 8001.
    TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    TWILIO_AUTH_TOKEN = "demo-auth-token-not-secret"
    TWILIO_PHONE_NUMBER = "+358290000000"
    os.environ.setdefault("TWILIO_API_BASE_URL", "http://127.0.0.1:8001")
PHONE_ENABLED = bool(TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER)
# Phone channel details (realtime/telephony, README "Phone"). TWILIO_API_BASE_URL
# points the REST client at a local stand-in (tests and the demo only).
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "").rstrip("/")
TWILIO_API_KEY_SID = os.environ.get("TWILIO_API_KEY_SID", "")
TWILIO_API_KEY_SECRET = os.environ.get("TWILIO_API_KEY_SECRET", "")
TWILIO_TWIML_APP_SID = os.environ.get("TWILIO_TWIML_APP_SID", "")
TWILIO_TOKEN_TTL_S = int(os.environ.get("TWILIO_TOKEN_TTL_S", "600"))
TWILIO_QUEUE_NAME = os.environ.get("TWILIO_QUEUE_NAME", "digituki")
# Origins the browser softphone (@twilio/voice-sdk 2.x) talks to, for the CSP:
# signalling on the default "roaming" edge and the event gateway (connect-src),
# and its ring and dial tones (media-src).
TWILIO_VOICE_CONNECT_SRC = [
    o
    for o in os.environ.get(
        "TWILIO_VOICE_CONNECT_SRC", "wss://voice-js.roaming.twilio.com,https://eventgw.twilio.com"
    ).split(",")
    if o
]
TWILIO_VOICE_MEDIA_SRC = [
    o for o in os.environ.get("TWILIO_VOICE_MEDIA_SRC", "https://sdk.twilio.com").split(",") if o
]
KANSALAISNEUVONTA_PHONE = os.environ.get("KANSALAISNEUVONTA_PHONE", "")
PHONE_ANNOUNCE_EVERY_S = int(os.environ.get("PHONE_ANNOUNCE_EVERY_S", "60"))
PHONE_GATHER_TIMEOUT_S = int(os.environ.get("PHONE_GATHER_TIMEOUT_S", "6"))
PHONE_WAIT_PAUSE_S = int(os.environ.get("PHONE_WAIT_PAUSE_S", "15"))
PHONE_WEBHOOK_THREADS = int(os.environ.get("PHONE_WEBHOOK_THREADS", "8"))
# The one-statement voice webhooks (wait loop, status callbacks) run it from
# the event loop on helpdesk/db_async.py's pool (realtime/telephony/runner.py).
PHONE_WEBHOOK_ON_LOOP = env_bool("PHONE_WEBHOOK_ON_LOOP", True)
# Regional menu: digit order of the region codes offered when the number tells none.
PHONE_REGION_MENU = [
    c for c in os.environ.get("PHONE_REGION_MENU", "01,12,11,19,02,06,17,13").split(",") if c
]

# Video calls (realtime/video, helpdesk/services/video.py). TURN REST API shared
# secret (coturn --use-auth-secret): per-session TURN credentials that expire
# after TURN_CREDENTIAL_TTL_S (realtime/video/turn.py).
TURN_SECRET = os.environ.get("TURN_SECRET", "")
TURN_CREDENTIAL_TTL_S = int(os.environ.get("TURN_CREDENTIAL_TTL_S", "7200"))
# Relay-only ICE: "volunteers" (contacts served by volunteers) or "always".
VIDEO_RELAY_POLICY = os.environ.get("VIDEO_RELAY_POLICY", "volunteers")
VIDEO_PROPOSAL_TIMEOUT_S = float(os.environ.get("VIDEO_PROPOSAL_TIMEOUT_S", "60"))
VIDEO_MAX_SDP_BYTES = int(os.environ.get("VIDEO_MAX_SDP_BYTES", "32768"))

# WebRTC: explicit ICE servers only (never a public fallback).
STUN_URL = os.environ.get("STUN_URL", "")
TURN_URL = os.environ.get("TURN_URL", "")
TURN_USERNAME = os.environ.get("TURN_USERNAME", "")
TURN_CREDENTIAL = os.environ.get("TURN_CREDENTIAL", "")
# Device check (realtime/video/device_check.py): a server-side peer per check.
DEVICE_CHECK_DURATION_S = float(os.environ.get("DEVICE_CHECK_DURATION_S", "5"))
DEVICE_CHECK_TIMEOUT_S = float(os.environ.get("DEVICE_CHECK_TIMEOUT_S", "30"))
DEVICE_CHECK_MAX_CONCURRENT = int(os.environ.get("DEVICE_CHECK_MAX_CONCURRENT", "8"))
DEVICE_CHECK_RATE_LIMIT = os.environ.get("DEVICE_CHECK_RATE_LIMIT", "10/minute")
# Tests and benches: server-side peers use and accept 127.0.0.1 candidates only.
WEBRTC_LOOPBACK_ONLY = env_bool("WEBRTC_LOOPBACK_ONLY", False)

# Routing and chat tunables.
ROUTING_OFFER_TIMEOUT_S = float(os.environ.get("ROUTING_OFFER_TIMEOUT_S", "30"))
ROUTING_TICK_S = float(os.environ.get("ROUTING_TICK_S", "1.0"))
# At most one queue.position frame per customer per this many seconds (routing.cadence).
ROUTING_POSITION_FRAME_S = float(os.environ.get("ROUTING_POSITION_FRAME_S", "1.0"))
# Kicked routing rounds start at most this often per process (routing/ticker.py).
ROUTING_MIN_ROUND_GAP_S = float(os.environ.get("ROUTING_MIN_ROUND_GAP_S", "0.05"))
# A ticker reads what changed between its rounds, and everything this often
# (routing/incremental.py).
ROUTING_FULL_RELOAD_S = float(os.environ.get("ROUTING_FULL_RELOAD_S", "15"))
# Threads per worker that create contacts (POST /api/contacts/) in parallel; 0: the usual way.
CONTACT_INTAKE_THREADS = int(os.environ.get("CONTACT_INTAKE_THREADS", "4"))
ROUTING_TICKER_ENABLED = env_bool("ROUTING_TICKER_ENABLED", True)
# The benchmark's bare relay (/ws/bench-echo/, bench/chat_load.py): off unless asked for.
BENCH_ECHO = env_bool("BENCH_ECHO", False)
# Started in every ASGI worker by helpdesk.lifespan (each checks its own switch).
LIFESPAN_HOOKS = [
    "helpdesk.gc_tuning.GcTuning",
    "routing.ticker.RoutingTicker",
    "helpdesk.db_async.AsyncStoreLifespan",
    "helpdesk.retention_timer.RetentionPurgeTimer",
    "helpdesk.metrics.MetricsLifespan",
    "helpdesk.stats.timer.StatsRollupTimer",
    "realtime.video.device_check.DeviceCheckLifespan",
]
# Prometheus metrics at /metrics (helpdesk/metrics.py): a bearer token for the
# scraper; without one the endpoint is off, unless loopback requests may read
# it (development). Several workers: set PROMETHEUS_MULTIPROC_DIR.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOW_LOOPBACK = env_bool("METRICS_ALLOW_LOOPBACK", DEBUG)
# Garbage collection in workers (helpdesk/gc_tuning.py): young, middle, old.
GC_THRESHOLDS = os.environ.get("GC_THRESHOLDS", "20000,20,10")
GC_FREEZE_AT_STARTUP = env_bool("GC_FREEZE_AT_STARTUP", True)
PRESENCE_HEARTBEAT_TIMEOUT_S = float(os.environ.get("PRESENCE_HEARTBEAT_TIMEOUT_S", "45"))
CHAT_MAX_MESSAGE_CHARS = int(os.environ.get("CHAT_MAX_MESSAGE_CHARS", "4000"))
CHAT_MAX_FRAME_BYTES = int(os.environ.get("CHAT_MAX_FRAME_BYTES", "16384"))
CHAT_RATE_LIMIT = os.environ.get("CHAT_RATE_LIMIT", "20/10second")
CHAT_IDLE_TIMEOUT_S = float(os.environ.get("CHAT_IDLE_TIMEOUT_S", "90"))
CHAT_DB_THREADS = int(os.environ.get("CHAT_DB_THREADS", "8"))
# Store chat messages from the event loop on an async connection (PostgreSQL
# only; helpdesk/db_async.py). Off: every store goes through a DB thread.
CHAT_ASYNC_STORE = env_bool("CHAT_ASYNC_STORE", True)
CHAT_CONSOLE_DB_THREADS = int(os.environ.get("CHAT_CONSOLE_DB_THREADS", "2"))
# Customers' welcomes in the chat pool at once (realtime/consumers/welcome_gate.py).
CHAT_WELCOME_CONCURRENCY = int(os.environ.get("CHAT_WELCOME_CONCURRENCY", "3"))
CHAT_SUGGEST_INTERVAL_S = float(os.environ.get("CHAT_SUGGEST_INTERVAL_S", "10"))
# Knowledge suggestions (realtime/consumers/suggestions.py): searched by the
# suggestion worker when one is alive; else, with the fallback on, in the ASGI
# worker itself at most CHAT_SUGGEST_MAX_PER_S per process.
CHAT_SUGGEST_MAX_PER_S = float(os.environ.get("CHAT_SUGGEST_MAX_PER_S", "2"))
CHAT_SUGGEST_FALLBACK = env_bool("CHAT_SUGGEST_FALLBACK", True)
CHAT_SUGGEST_MAX_AGE_S = float(os.environ.get("CHAT_SUGGEST_MAX_AGE_S", "30"))
# How much the suggestion worker lowers its own CPU priority (`nice`): in a
# busy hour it searches without pause, and the chat's workers come first.
CHAT_SUGGEST_WORKER_NICE = int(os.environ.get("CHAT_SUGGEST_WORKER_NICE", "10"))
CHAT_SNAPSHOT_DELAY_S = float(os.environ.get("CHAT_SNAPSHOT_DELAY_S", "1"))
HELP_POINTS_URL = os.environ.get("HELP_POINTS_URL", "/near/")
CONTACT_CREATE_RATE_LIMIT = os.environ.get("CONTACT_CREATE_RATE_LIMIT", "10/minute")
CALLBACK_RATE_LIMIT = os.environ.get("CALLBACK_RATE_LIMIT", "5/minute")
# Per browser (its customer key) and per contact token (helpdesk/views/api_limits.py).
CONTACT_CREATE_PER_KEY_RATE_LIMIT = os.environ.get("CONTACT_CREATE_PER_KEY_RATE_LIMIT", "5/hour")
CALLBACK_PER_TOKEN_RATE_LIMIT = os.environ.get("CALLBACK_PER_TOKEN_RATE_LIMIT", "3/hour")
CONTACT_TOKEN_MAX_AGE_S = int(os.environ.get("CONTACT_TOKEN_MAX_AGE_S", str(7 * 24 * 3600)))
TRANSCRIPT_RETENTION_DAYS = int(os.environ.get("TRANSCRIPT_RETENTION_DAYS", "90"))
# How often each worker runs the retention purge (helpdesk/retention_timer.py);
# 0 turns it off, for installations that run `manage.py purge_expired_data`
# from a timer instead.
RETENTION_PURGE_EVERY_S = float(os.environ.get("RETENTION_PURGE_EVERY_S", "3600"))
# How often each worker rolls contact events up into hourly statistics
# (helpdesk/stats/timer.py); 0 turns it off.
STATS_ROLLUP_EVERY_S = float(os.environ.get("STATS_ROLLUP_EVERY_S", "300"))
# Supporters one chat supporter serves at once, for chat staffing (helpdesk/stats/demand.py).
STATS_CHAT_CONCURRENCY = int(os.environ.get("STATS_CHAT_CONCURRENCY", "2"))
# The forecasts' linear algebra (numpy/OpenBLAS) runs in one thread unless
# told otherwise: workers share few cores with their sockets, and OpenBLAS
# threads spinning beside them made one forecast fit fifteen times slower.
for _blas_threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_threads, "1")

# Pictures and PDFs sent in a chat (helpdesk/services/attachments.py): kept
# outside MEDIA_ROOT, never served by URL alone, deleted by the retention purge.
ATTACHMENT_ROOT = Path(os.environ.get("ATTACHMENT_ROOT", VAR_DIR / "attachments"))
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(8 * 1024 * 1024)))
ATTACHMENT_MAX_PIXELS = int(os.environ.get("ATTACHMENT_MAX_PIXELS", str(40_000_000)))
ATTACHMENT_RATE_LIMIT = os.environ.get("ATTACHMENT_RATE_LIMIT", "6/minute")

# Every line names its request or socket (helpdesk/logging_context.py);
# LOG_FORMAT=json writes one JSON object a line for a log shipper.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "helpdesk.logging_context.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s sock=%(socket_id)s]"
            " %(message)s"
        },
        "json": {"()": "helpdesk.logging_context.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
