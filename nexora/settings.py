"""Settings, read from the environment with embedded defaults.

Profiles (``NEXORA_ENV``):

* ``dev`` (default): DEBUG on, SQLite file ``var/nexora.sqlite3``, tasks run in-process, console
  e-mail. Nothing needs to be configured for ``make run``.
* ``test``: like dev but DEBUG off and fast password hashing; used by pytest.
* ``production``: refuses to start unless ``SECRET_KEY``, ``ALLOWED_HOSTS`` and ``DATABASE_URL``
  are set, naming the missing variable.

``DATABASE_URL`` switches to PostgreSQL (or any URL django-environ understands); ``REDIS_URL`` makes
Redis the Celery broker, result backend and cache. Every variable is documented in
``docs/configuration.md`` and ``.env.example``.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# pytest (>= 8.2) sets PYTEST_VERSION for the whole session: tests get the test profile by default.
NEXORA_ENV = env.str("NEXORA_ENV", default="test" if "PYTEST_VERSION" in os.environ else "dev")
if NEXORA_ENV not in {"dev", "test", "production"}:
    raise ImproperlyConfigured(f"NEXORA_ENV must be dev, test or production, not {NEXORA_ENV!r}")
PRODUCTION = NEXORA_ENV == "production"


def _required_in_production(name: str) -> None:
    if PRODUCTION and not env.str(name, default=""):
        raise ImproperlyConfigured(
            f"{name} must be set when NEXORA_ENV=production (see docs/configuration.md)"
        )


for _name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"):
    _required_in_production(_name)

SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=NEXORA_ENV == "dev")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "nexora.common",
    "nexora.accounts",
    "payments",
    "aml",
    "aml.sanctions",
    "aml.cases",
    "aml.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "nexora.urls"
WSGI_APPLICATION = "nexora.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

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
                "django.template.context_processors.i18n",
                "aml.notifications.context_processors.notifications",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'nexora.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)  # fresh clone: no var/
    # Serialise writers instead of failing with "database is locked" in the demo.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, Celery, cache -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# In-process tasks without a broker, and in unit tests (integration tests start real workers).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL or NEXORA_ENV == "test")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "topups-expire": {"task": "payments.topups_expire", "schedule": 60.0},
    "scan-due": {"task": "payments.scan_due", "schedule": env.float("NEXORA_SCAN_DUE_S", default=5.0)},
}
# Chain work on its own queue: run `celery -A nexora worker -Q celery,chain` (or a worker per queue).
CELERY_TASK_ROUTES = {"payments.scan_network": {"queue": "chain"}, "payments.tx_lookup": {"queue": "chain"}}
# The scanner's per-deposit credits are chain work too: a worker that scans also credits.
CELERY_TASK_ROUTES["payments.deposit_credit"] = {"queue": "chain"}
CELERY_TASK_ROUTES["payments.deposits_credit"] = {"queue": "chain"}

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth, sessions -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if NEXORA_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский"), ("uk", "Українська")]
LANGUAGE_COOKIE_NAME = "nexora_lang"  # named in the operator's policy, section 6.1
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "private-media"))

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Nexora <billing@localhost>")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF takes the first class's WWW-Authenticate, so anonymous calls get 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "nexora.accounts.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "nexora.common.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "nexora.common.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nexora API",
    "DESCRIPTION": (
        "Crypto top-ups and AML screening for client balances. Every 4xx answers "
        '{"error": {"code", "message", "fields"}} with a stable snake_case code.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Serve Swagger UI from the installed package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Money ----------------------------------------------------------------------------------
# Account currencies and their quantum (smallest unit). Fiat is always Decimal at this quantum.
NEXORA_CURRENCIES = {"USD": "0.01", "EUR": "0.01"}
NEXORA_DEFAULT_CURRENCY = env.str("NEXORA_DEFAULT_CURRENCY", default="USD")
# Largest amount a single posting may move, a guard against fat fingers and overflow.
NEXORA_MAX_AMOUNT = env.str("NEXORA_MAX_AMOUNT", default="1000000000.00")

# --- Top-ups and rates -------------------------------------------------------------------------
# Rate providers, asked together; the median of those that answer is used. "static" is the table below.
NEXORA_RATE_PROVIDERS = env.list("NEXORA_RATE_PROVIDERS", default=["static"])
NEXORA_RATE_REFRESH_S = env.int("NEXORA_RATE_REFRESH_S", default=60)
NEXORA_RATE_MAX_AGE_S = env.int("NEXORA_RATE_MAX_AGE_S", default=300)
# "ASSET/CUR=price,..." for the static provider (the embedded demo default; not live prices).
NEXORA_STATIC_RATES = env.dict(
    "NEXORA_STATIC_RATES",
    default={
        "BTC/USD": "90000", "ETH/USD": "3000", "TRX/USD": "0.25", "USDT/USD": "1",
        "BTC/EUR": "83000", "ETH/EUR": "2760", "TRX/EUR": "0.23", "USDT/EUR": "0.92",
    },
)  # fmt: skip
NEXORA_COINGECKO_API_KEY = env.str("NEXORA_COINGECKO_API_KEY", default="")
NEXORA_COINGECKO_PRO = env.bool("NEXORA_COINGECKO_PRO", default=False)
NEXORA_BINANCE_USDT_AS_USD = env.bool("NEXORA_BINANCE_USDT_AS_USD", default=False)
# Per-top-up bounds in the account currency, and how many unpaid top-ups a client may hold open.
NEXORA_TOPUP_MAX_AMOUNT = env.str("NEXORA_TOPUP_MAX_AMOUNT", default="10000.00")
NEXORA_TOPUP_MAX_OPEN = env.int("NEXORA_TOPUP_MAX_OPEN", default=10)
NEXORA_TRONGRID_API_KEY = env.str("NEXORA_TRONGRID_API_KEY", default="")

# --- AML engine ---------------------------------------------------------------------------------
# Prepare the engine's hot-path SQL once per PostgreSQL connection (off behind a transaction-mode pooler).
NEXORA_AML_PREPARED_SQL = env.bool("NEXORA_AML_PREPARED_SQL", default=True)

# --- Refunds to source and the client's review documents (docs/configuration.md) -------------
# Known exchange hot wallets: a refund to one of them needs an address the client gives and confirms.
NEXORA_EXCHANGE_ADDRESSES = env.list("NEXORA_EXCHANGE_ADDRESSES", default=[])
NEXORA_EXCHANGE_ADDRESSES_FILE = env.str("NEXORA_EXCHANGE_ADDRESSES_FILE", default="")
# A source address that paid this many different clients is treated as shared (an exchange).
NEXORA_SHARED_SOURCE_CLIENTS = env.int("NEXORA_SHARED_SOURCE_CLIENTS", default=2)
# A sent payout whose transaction is still not on chain after this long is failed.
NEXORA_PAYOUT_VERIFY_WINDOW_H = env.int("NEXORA_PAYOUT_VERIFY_WINDOW_H", default=72)
NEXORA_DOCUMENT_MAX_BYTES = env.int("NEXORA_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
NEXORA_DOCUMENTS_PER_REQUEST = env.int("NEXORA_DOCUMENTS_PER_REQUEST", default=20)
CELERY_BEAT_SCHEDULE["payouts-verify-due"] = {"task": "payments.payouts_verify_due", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["document-requests-overdue"] = {
    "task": "cases.document_requests_overdue",
    "schedule": 3600.0,
}
CELERY_TASK_ROUTES["payments.payout_verify"] = {"queue": "chain"}

# --- Case actions (aml.cases.actions) ------------------------------------------------------------
# A release of more than this (account currency) waits for a second, different compliance lead.
NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal(env.str("NEXORA_FOUR_EYES_RELEASE_ABOVE", default="1000"))

# --- Sanctions lists (aml.sanctions) ----------------------------------------------------------
# How often (seconds) a process checks for a newer sanctions import or a deny-list change.
NEXORA_SANCTIONS_RECHECK_SECONDS = env.float("NEXORA_SANCTIONS_RECHECK_SECONDS", default=5.0)

# --- Notifications (aml.notifications) -------------------------------------------------------------
# Public address of the client area, for links in e-mail and Telegram messages.
NEXORA_SITE_URL = env.str("NEXORA_SITE_URL", default="http://127.0.0.1:8000")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
NEXORA_NOTIFY_MAX_ATTEMPTS = env.int("NEXORA_NOTIFY_MAX_ATTEMPTS", default=6)
# Telegram is off without a token. With NEXORA_TELEGRAM_WEBHOOK_SECRET the webhook receives the
# bot's updates; without it a beat task polls getUpdates (docs/operations.md, "Telegram bot").
NEXORA_TELEGRAM_BOT_TOKEN = env.str("NEXORA_TELEGRAM_BOT_TOKEN", default="")
NEXORA_TELEGRAM_BOT_USERNAME = env.str("NEXORA_TELEGRAM_BOT_USERNAME", default="").lstrip("@")
NEXORA_TELEGRAM_API_URL = env.str("NEXORA_TELEGRAM_API_URL", default="https://api.telegram.org")
NEXORA_TELEGRAM_WEBHOOK_SECRET = env.str("NEXORA_TELEGRAM_WEBHOOK_SECRET", default="")
NEXORA_TELEGRAM_TIMEOUT_S = env.float("NEXORA_TELEGRAM_TIMEOUT_S", default=10.0)
NEXORA_TELEGRAM_LINK_TTL_S = env.int("NEXORA_TELEGRAM_LINK_TTL_S", default=900)
NEXORA_TELEGRAM_POLL_S = env.float("NEXORA_TELEGRAM_POLL_S", default=5.0)
CELERY_BEAT_SCHEDULE["notifications-requeue"] = {
    "task": "notifications.deliveries_requeue",
    "schedule": 300.0,
}
if NEXORA_TELEGRAM_BOT_TOKEN and not NEXORA_TELEGRAM_WEBHOOK_SECRET:
    CELERY_BEAT_SCHEDULE["notifications-telegram-poll"] = {
        "task": "notifications.telegram_poll",
        "schedule": NEXORA_TELEGRAM_POLL_S,
    }

# --- Scanner operations: tx-hash fast path, health thresholds, /metrics ------------------------
# How long a deposit handed over for crediting is not handed over again (a Redis mark per deposit):
# the most a lost or killed worker's credit waits before the scanner's safety net queues it again.
NEXORA_CREDIT_REQUEUE_S = env.int("NEXORA_CREDIT_REQUEUE_S", default=30)
# Per-request timeout of the lookup made while the client waits (each other network too, in parallel).
NEXORA_TX_LOOKUP_TIMEOUT_S = env.float("NEXORA_TX_LOOKUP_TIMEOUT_S", default=3.0)
# A network is "lagging" past this many seconds behind real time, "failing" after this many errors in a row.
NEXORA_SCANNER_ALERT_LAG_S = env.int("NEXORA_SCANNER_ALERT_LAG_S", default=300)
NEXORA_SCANNER_ALERT_ERRORS = env.int("NEXORA_SCANNER_ALERT_ERRORS", default=3)
# Bearer token that Prometheus sends to /metrics; empty: only staff sessions may read it.
NEXORA_METRICS_TOKEN = env.str("NEXORA_METRICS_TOKEN", default="")

# --- Devnet (the demo) -----------------------------------------------------------------------
# "Pay from the devnet wallet" on the top-up page of a testnet network, and `manage.py devnet_pay`:
# anvil's unlocked dev account pays, so the demo can be watched end to end. Never in production.
NEXORA_DEVNET_WALLET = env.bool("NEXORA_DEVNET_WALLET", default=not PRODUCTION)
if PRODUCTION and NEXORA_DEVNET_WALLET:
    raise ImproperlyConfigured("NEXORA_DEVNET_WALLET cannot be on when NEXORA_ENV=production")

# --- Security, privacy and operations (issue 7) ------------------------------------------------
# Two-factor authentication (django-otp, TOTP), the security log, retention and the client's data
# rights (nexora.privacy), health probes and structured logs. See docs/operations.md, "Security".
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "nexora.privacy"]
# Request id first (every log line of the request carries it), then the health probes (answered
# before host checks, HTTPS redirects and sessions: see nexora/common/health.py).
MIDDLEWARE = [
    "nexora.common.middleware.RequestIdMiddleware",
    "nexora.common.health.HealthMiddleware",
    *MIDDLEWARE,
]
# After authentication and messages (the guards redirect with a message).
_after_auth = MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1
MIDDLEWARE[_after_auth:_after_auth] = [
    "django_otp.middleware.OTPMiddleware",
    "nexora.accounts.middleware.StaffSessionMiddleware",
    "nexora.accounts.middleware.TwoFactorMiddleware",
]
AUTHENTICATION_BACKENDS = ["nexora.accounts.backends.LockoutModelBackend"]
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Nexora")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a device's secret
NEXORA_LOCKOUT_FAILURES = env.int("NEXORA_LOCKOUT_FAILURES", default=5)
NEXORA_LOCKOUT_WINDOW_S = env.int("NEXORA_LOCKOUT_WINDOW_S", default=900)
NEXORA_STAFF_SESSION_IDLE_S = env.int("NEXORA_STAFF_SESSION_IDLE_S", default=1800)
NEXORA_STAFF_SESSION_MAX_S = env.int("NEXORA_STAFF_SESSION_MAX_S", default=12 * 3600)
# Reverse proxies in front of Nexora that append to X-Forwarded-For (0: use REMOTE_ADDR).
NEXORA_TRUSTED_PROXY_COUNT = env.int("NEXORA_TRUSTED_PROXY_COUNT", default=0)

# Retention periods in months (operator's policy, section 8), per jurisdiction. The deployment's
# jurisdiction picks a row of overrides; NEXORA_RETENTION_MONTHS (e.g. "financial=84") overrides last.
NEXORA_RETENTION_DEFAULT_MONTHS = {
    "security_log": 12,  # security logs (logins, IPs): 12 months
    "technical_log": 12,  # other technical records (pasted transaction hashes): 12 months
    "account": 36,  # account data: the life of the account and 3 years after closure
    "financial": 60,  # top-ups, deposits, ledger, charges: 5 years
    "aml": 60,  # AML records and the documents uploaded for a review: 5 years
}
NEXORA_RETENTION_JURISDICTIONS: dict[str, dict[str, int]] = {"default": {}}
NEXORA_JURISDICTION = env.str("NEXORA_JURISDICTION", default="default")
if NEXORA_JURISDICTION not in NEXORA_RETENTION_JURISDICTIONS:
    raise ImproperlyConfigured(f"NEXORA_JURISDICTION {NEXORA_JURISDICTION!r} has no retention row")
NEXORA_RETENTION_MONTHS = {
    **NEXORA_RETENTION_DEFAULT_MONTHS,
    **NEXORA_RETENTION_JURISDICTIONS[NEXORA_JURISDICTION],
    **{k: int(v) for k, v in env.dict("NEXORA_RETENTION_MONTHS", default={}).items()},
}
NEXORA_ERASURE_DUE_DAYS = env.int("NEXORA_ERASURE_DUE_DAYS", default=30)
NEXORA_PRIVACY_CONTACT = env.str("NEXORA_PRIVACY_CONTACT", default="")
CELERY_BEAT_SCHEDULE["privacy-retention-purge"] = {  # daily, at a quiet hour (UTC)
    "task": "privacy.retention_purge",
    "schedule": crontab(hour=env.int("NEXORA_RETENTION_HOUR", default=3), minute=30),
}

# Chain work on one "chain" queue (default), or on "chain.evm" / "chain.tron" / "chain.bitcoin"
# (per_family): see nexora/common/queues.py and docs/operations.md, "Several machines".
NEXORA_CHAIN_QUEUES = env.str("NEXORA_CHAIN_QUEUES", default="shared")
if NEXORA_CHAIN_QUEUES not in {"shared", "per_family"}:
    raise ImproperlyConfigured("NEXORA_CHAIN_QUEUES must be shared or per_family")
if NEXORA_CHAIN_QUEUES == "per_family":
    CELERY_TASK_ROUTES = ["nexora.common.queues.chain_queue_per_family"]  # type: ignore[assignment]

# Readiness probe (/readyz): node timeout and the largest scanner lag (blocks x block time, and
# time since the last scan) before the process reports itself not ready.
NEXORA_READYZ_NODE_TIMEOUT_S = env.float("NEXORA_READYZ_NODE_TIMEOUT_S", default=2.0)
NEXORA_READYZ_MAX_LAG_S = env.int("NEXORA_READYZ_MAX_LAG_S", default=600)

# Logs: JSON lines with the request id (production and test), or plain text for a developer.
# Celery workers keep this configuration instead of installing their own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
LOG_FORMAT = env.str("LOG_FORMAT", default="") or ("text" if NEXORA_ENV == "dev" else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "nexora.common.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "nexora.common.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Request counts for /metrics (nexora/common/http_metrics.py) -------------------------------
# Outermost, so every answer counts. PROMETHEUS_MULTIPROC_DIR (read by prometheus_client from the
# environment, not here) makes the count cover every gunicorn worker of the machine.
MIDDLEWARE = ["nexora.common.http_metrics.RequestCountMiddleware", *MIDDLEWARE]
