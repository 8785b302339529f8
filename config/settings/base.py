"""Settings for every mode, read from the environment (twelve-factor).

With nothing set, the project runs on embedded defaults: SQLite and media
under ``var/``, a filesystem Celery broker, no servers. ``production.py``
tightens this for the open internet.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

from config.env import (
    BASE_DIR,
    SettingError,
    database_from_env,
    env,
    get_bool,
    get_choice,
    get_float,
    get_int,
    get_list,
)
from emotic.splits import DEFAULT_RATIOS as DEFAULT_SPLIT_RATIOS, SplitError, validate_ratios as validate_split_ratios
from emotic.taxonomy import DEFAULT_ANNOTATORS_PER_SPLIT

VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

DEBUG = get_bool("DEBUG", True)
# Development-only key; production.py refuses to start with it.
INSECURE_DEV_SECRET_KEY = "django-insecure-emotic-dev-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="") or INSECURE_DEV_SECRET_KEY
ALLOWED_HOSTS = get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = get_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "access",
    "catalog",
    "scraper",
    "annotator",
    "quality",
    "emotic_export",
    "training",
    "campaigns",
    "research_api",
    "demo",
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
    "config.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# --- Database -------------------------------------------------------------
DATABASES = {"default": database_from_env("DATABASE_URL", VAR_DIR / "db.sqlite3")}
DATABASES["default"].setdefault("CONN_MAX_AGE", get_int("DATABASE_CONN_MAX_AGE", 0, minimum=0))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Without a "next", config.views.LoginView sends staff to the admin and workers to their work page.
LOGIN_REDIRECT_URL = "home"
# A password-reset link works once, for this long.
PASSWORD_RESET_TIMEOUT = get_int("PASSWORD_RESET_TIMEOUT_MINUTES", 60, minimum=1) * 60

# --- E-mail (password resets) ---------------------------------------------
# The demo (DEBUG) prints messages on the console; otherwise SMTP, from these variables.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="") or (
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = get_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = get_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = get_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise SettingError("EMAIL_USE_SSL", "cannot be true with EMAIL_USE_TLS: choose STARTTLS (TLS, port 587) or SSL (port 465)")
EMAIL_TIMEOUT = get_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage ---------------------------------------------
STATIC_URL = "static/"
# collectstatic writes here; the reverse proxy serves /static/ from the same folder (compose: a shared volume).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or VAR_DIR / "media")

STORAGE_BUCKET = env.str("STORAGE_BUCKET", default="").strip()
STORAGE_URL_EXPIRY_SECONDS = get_int("STORAGE_URL_EXPIRY_SECONDS", 3600, minimum=60)  # signed S3 URLs
STORAGE_BACKEND = get_choice("STORAGE_BACKEND", "s3" if STORAGE_BUCKET else "local", ("local", "s3"))
# Browsers get signed URLs on this endpoint (through the reverse proxy); the app's own reads and
# writes go to STORAGE_ENDPOINT_URL (the internal network). Unset: both are STORAGE_ENDPOINT_URL.
STORAGE_PUBLIC_ENDPOINT_URL = env.str("STORAGE_PUBLIC_ENDPOINT_URL", default="").strip() or None
if STORAGE_PUBLIC_ENDPOINT_URL and not STORAGE_PUBLIC_ENDPOINT_URL.startswith(("http://", "https://")):
    raise SettingError("STORAGE_PUBLIC_ENDPOINT_URL", f"must start with http:// or https://, got {STORAGE_PUBLIC_ENDPOINT_URL!r}")
if STORAGE_BACKEND == "s3":
    if not STORAGE_BUCKET:
        raise SettingError("STORAGE_BUCKET", "must name a bucket when STORAGE_BACKEND is s3")
    default_storage = {
        "BACKEND": "config.storage.S3Storage",  # django-storages' S3Storage, signing browsers' URLs for the public endpoint
        "OPTIONS": {
            "bucket_name": STORAGE_BUCKET,
            # Any S3-compatible server: MinIO, Ceph, moto, AWS itself.
            "endpoint_url": env.str("STORAGE_ENDPOINT_URL", default="") or None,
            "public_endpoint_url": STORAGE_PUBLIC_ENDPOINT_URL,
            "region_name": env.str("STORAGE_REGION", default="") or None,
            "access_key": env.str("STORAGE_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("STORAGE_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("STORAGE_PREFIX", default=""),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": STORAGE_URL_EXPIRY_SECONDS,
            "addressing_style": get_choice("STORAGE_ADDRESSING_STYLE", "path", ("path", "virtual", "auto")),
            "signature_version": "s3v4",  # signed URLs in Signature V4 (botocore may otherwise pick the old V2)
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": "/" + MEDIA_URL},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Celery ---------------------------------------------------------------
# Without CELERY_BROKER_URL, kombu's filesystem transport: a real worker
# process, no server. With it (redis://...), Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="").strip()
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default="") or VAR_DIR / "celery")
    _queue_dir = _broker_dir / "queue"
    _processed_dir = _broker_dir / "processed"
    _control_dir = _broker_dir / "control"
    for _dir in (_queue_dir, _processed_dir, _control_dir):
        _dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "filesystem://", "memory://")):
    raise SettingError("CELERY_BROKER_URL", f"unsupported broker {CELERY_BROKER_URL.split(':', 1)[0]!r} (use redis://host:port/db)")
# Redis redelivers an unacknowledged task (its worker died: acks_late) after this
# long. It must exceed the longest task (a training run), or a live task would
# be handed to a second worker; the cost is a slower pick-up after a crash.
CELERY_VISIBILITY_TIMEOUT_SECONDS = get_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 24 * 3600, minimum=60)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = get_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True  # a killed worker's job is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Training wants a machine of its own: its tasks go to their own queues, "training" and, for runs
# that ask for device=cuda, "training-gpu", which only workers that can train consume (training/queues.py).
# Crawls wait on other sites (robots.txt's Crawl-delay, rate limits): on a queue of their own, so
# exports, quality and the pool's upkeep never queue behind them.
CELERY_TASK_ROUTES = {"training.*": {"queue": "training"}, "scraper.*": {"queue": "crawl"}}
CELERY_BEAT_SCHEDULE = {
    "expire-stale-assignments": {
        "task": "annotator.tasks.expire_stale_assignments",
        "schedule": timedelta(minutes=1),
    },
}

# --- REST framework -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every 4xx answers {"detail": "<field>: <reason>", "code": ..., "errors": {...}} (config/api_errors.py).
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "worker": env.str("API_THROTTLE_WORKER", default="600/minute"),
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "research": env.str("API_THROTTLE_RESEARCH", default="1200/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EMOTIC crowd annotation API",
    "DESCRIPTION": "The emotions-in-context annotation platform: the workers' API (/api/, worker tokens or the page's "
    "session) and the researcher API (/api/research/v1/, researcher tokens granted to staff, with scopes; "
    "docs/research-api.md).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Two choice fields are named "kind" (a task's, a crawl job's): the task's gets its own enum's name.
    "ENUM_NAME_OVERRIDES": {"TaskKindEnum": "annotator.models.TaskKind"},
    # Every operation documents each error it can answer, in the Error shape (config/api_errors.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_errors.document_error_responses",
    ],
}

# --- The annotation protocol ----------------------------------------------
# These are the defaults of a new installation: the first protocol version is made from them, and
# from then on the protocol is edited (and versioned) in the admin (annotator/protocol.py).
ANNOTATORS_PER_SPLIT = {
    "train": get_int("ANNOTATORS_PER_TRAIN", DEFAULT_ANNOTATORS_PER_SPLIT["train"], minimum=1),
    "val": get_int("ANNOTATORS_PER_VAL", DEFAULT_ANNOTATORS_PER_SPLIT["val"], minimum=1),
    "test": get_int("ANNOTATORS_PER_TEST", DEFAULT_ANNOTATORS_PER_SPLIT["test"], minimum=1),
}
ASSIGNMENT_TIMEOUT = timedelta(minutes=get_int("ASSIGNMENT_TIMEOUT_MINUTES", 20, minimum=1))
# A worker still active on a task extends it (the page's heartbeat) by ASSIGNMENT_TIMEOUT from now,
# never past this long after it became their current task.
ASSIGNMENT_MAX_DURATION = timedelta(minutes=get_int("ASSIGNMENT_MAX_MINUTES", 60, minimum=1))
if ASSIGNMENT_MAX_DURATION < ASSIGNMENT_TIMEOUT:
    raise SettingError(
        "ASSIGNMENT_MAX_MINUTES",
        f"must be at least ASSIGNMENT_TIMEOUT_MINUTES ({ASSIGNMENT_TIMEOUT.seconds // 60}), got {ASSIGNMENT_MAX_DURATION.seconds // 60}",
    )
# The page warns this many seconds before a task's deadline.
ASSIGNMENT_WARNING_SECONDS = get_int("ASSIGNMENT_WARNING_SECONDS", 120, minimum=0)
# An answer arriving this long after its task's deadline is still kept when the person (or image)
# is still free: its slot was not given to someone else meanwhile.
ASSIGNMENT_LATE_GRACE = timedelta(seconds=get_int("ASSIGNMENT_LATE_GRACE_SECONDS", 300, minimum=0))
# EMOTIC mixed 2 hidden control items into every 20.
GOLD_RATE = get_float("GOLD_RATE", 0.1, minimum=0.0, maximum=1.0)
# Controls are placed at unpredictable positions inside each block of this many
# tasks, so a block always holds round(GOLD_RATE * GOLD_BLOCK_SIZE) of them.
GOLD_BLOCK_SIZE = get_int("GOLD_BLOCK_SIZE", 20, minimum=1)
# A worker whose hidden control is due and who has met every control is given the control it met longest
# ago ("reuse"), or no task until new controls are added ("pause"). The default of a new installation: the
# protocol in force is edited in the admin (annotator/protocol.py).
CONTROLS_EXHAUSTED = get_choice("CONTROLS_EXHAUSTED", "reuse", ("reuse", "pause"))
# People in images not yet given a split get this many annotators (SPLIT_IMAGES_AT=export).
ANNOTATORS_PER_UNSPLIT_PERSON = get_int(
    "ANNOTATORS_PER_UNSPLIT_PERSON", DEFAULT_ANNOTATORS_PER_SPLIT["train"], minimum=1
)
# When an image gets its split, and so its people their number of annotators:
# "annotation" draws it (SPLIT_RATIO_*, SPLIT_SEED, a hash of the image's sha256) when its
# first person is handed out, so val and test people get their 5 and 3 annotators from the
# start, as in EMOTIC; "export" leaves images unsplit until an export stratifies them by their
# answers (better balanced splits, but ANNOTATORS_PER_UNSPLIT_PERSON annotators until then).
SPLIT_IMAGES_AT = get_choice("SPLIT_IMAGES_AT", "annotation", ("annotation", "export"))
SPLIT_RATIOS = {
    "train": get_float("SPLIT_RATIO_TRAIN", DEFAULT_SPLIT_RATIOS["train"], minimum=0.0, maximum=1.0),
    "val": get_float("SPLIT_RATIO_VAL", DEFAULT_SPLIT_RATIOS["val"], minimum=0.0, maximum=1.0),
    "test": get_float("SPLIT_RATIO_TEST", DEFAULT_SPLIT_RATIOS["test"], minimum=0.0, maximum=1.0),
}
try:
    validate_split_ratios(SPLIT_RATIOS)
except SplitError as error:
    raise SettingError("SPLIT_RATIO_TRAIN, SPLIT_RATIO_VAL, SPLIT_RATIO_TEST", error.reason) from None
SPLIT_SEED = get_int("SPLIT_SEED", 0, minimum=0)
# Workers drawing person boxes on each image (stage 1); more than one: consensus boxes.
BOX_ANNOTATORS_PER_IMAGE = get_int("BOX_ANNOTATORS_PER_IMAGE", 1, minimum=1)
# One box answer holds at most this many people (EMOTIC's busiest images have a few dozen).
MAX_BOXES_PER_IMAGE = get_int("MAX_BOXES_PER_IMAGE", 30, minimum=1)
# A person's box needs each side at least MIN_BOX_SIDE_FRACTION of the image's shorter side,
# and never under MIN_BOX_SIDE_PIXELS: smaller boxes are refused in answers and make no person.
MIN_BOX_SIDE_FRACTION = get_float("MIN_BOX_SIDE_FRACTION", 0.02, minimum=0.0, maximum=0.5)
MIN_BOX_SIDE_PIXELS = get_int("MIN_BOX_SIDE_PIXELS", 8, minimum=1)
# An image reported this many times leaves the task pool until an admin looks at it.
IMAGE_REPORTS_TO_WITHDRAW = get_int("IMAGE_REPORTS_TO_WITHDRAW", 3, minimum=1)
# Sign-up refuses names starting with these (case-insensitive, look-alike letters too); the
# importer's "emotic-original-" is refused whatever this says (annotator/services/accounts.py).
RESERVED_USERNAME_PREFIXES = get_list("RESERVED_USERNAME_PREFIXES", ["emotic-original-", "admin", "root", "system"])
QUALIFICATION_ITEMS = get_int("QUALIFICATION_ITEMS", 5, minimum=1)
QUALIFICATION_PASS_RATE = get_float("QUALIFICATION_PASS_RATE", 0.8, minimum=0.0, maximum=1.0)
# A worker who fails may take the test again, QUALIFICATION_ATTEMPTS times in all, each after
# waiting QUALIFICATION_RETRY_WAIT_HOURS (0: at once). Items not yet met are drawn first.
QUALIFICATION_ATTEMPTS = get_int("QUALIFICATION_ATTEMPTS", 2, minimum=1)
QUALIFICATION_RETRY_WAIT = timedelta(hours=get_float("QUALIFICATION_RETRY_WAIT_HOURS", 24.0, minimum=0.0))
# Images are shown as JPEG renditions of at most this many pixels per side, cached in storage.
IMAGE_RENDITION_MAX_SIDE = get_int("IMAGE_RENDITION_MAX_SIDE", 1280, minimum=64)
IMAGE_CACHE_SECONDS = get_int("IMAGE_CACHE_SECONDS", 86400, minimum=0)
# The task page's photos: WebP renditions by the image's identity (/api/images/<sha256>/<side>.webp),
# one per long side listed (never enlarged), offered to the browser as a srcset.
_web_sides = get_list("IMAGE_WEB_SIDES", ["512", "1024"])
if not all(side.isdigit() for side in _web_sides):
    raise SettingError("IMAGE_WEB_SIDES", f"must be whole numbers of pixels separated by commas, got {_web_sides}")
IMAGE_WEB_SIDES = sorted({int(side) for side in _web_sides})
if not IMAGE_WEB_SIDES or min(IMAGE_WEB_SIDES) < 64:
    raise SettingError("IMAGE_WEB_SIDES", f"must list long sides of at least 64 pixels, got {IMAGE_WEB_SIDES}")
# Workers' images by a redirect to a short-lived signed storage URL (the bytes never pass
# through the web process), instead of streamed by Django. Default: on with S3 storage.
IMAGE_REDIRECT_TO_STORAGE = get_bool("IMAGE_REDIRECT_TO_STORAGE", STORAGE_BACKEND == "s3")
# SQLite has no row locks: transactions take its write lock at BEGIN, so two
# requests never read the same free slot and both write (and never deadlock
# upgrading a read lock). The assignment service relies on this fallback.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")
# Swagger UI and Redoc served from the sidecar package: the API docs page needs no CDN.
INSTALLED_APPS.append("drf_spectacular_sidecar")
SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)

# --- Exports ----------------------------------------------------------------
# Snapshots are staged here before upload; needs room for one snapshot.
EXPORT_WORK_DIR = Path(env.str("EXPORT_WORK_DIR", default="") or VAR_DIR / "exports")
EXPORT_WORK_DIR.mkdir(parents=True, exist_ok=True)
# Processes decoding and resizing images for the npy arrays (0: one per core); the files are the same whatever it is.
EXPORT_ARRAY_WORKERS = get_int("EXPORT_ARRAY_WORKERS", 0, minimum=0)
# A snapshot built by a Celery worker spreads the arrays' pixels over the workers (emotic_export.array_shards):
# shards of this many images, made by the builder and by up to EXPORT_ARRAY_HELPERS helper tasks queued
# beside it (0: the builder makes every shard itself). A shard a helper took and did not finish within the
# claim is taken over; one that fails this many times fails the build.
EXPORT_ARRAY_SHARD_IMAGES = get_int("EXPORT_ARRAY_SHARD_IMAGES", 64, minimum=1)
EXPORT_ARRAY_HELPERS = get_int("EXPORT_ARRAY_HELPERS", 8, minimum=0)
EXPORT_ARRAY_SHARD_CLAIM_SECONDS = get_int("EXPORT_ARRAY_SHARD_CLAIM_SECONDS", 120, minimum=5)
EXPORT_ARRAY_SHARD_ATTEMPTS = get_int("EXPORT_ARRAY_SHARD_ATTEMPTS", 3, minimum=1)

# --- Training ---------------------------------------------------------------
TRAINING_WORK_DIR = Path(env.str("TRAINING_WORK_DIR", default="") or VAR_DIR / "training")
TRAINING_WORK_DIR.mkdir(parents=True, exist_ok=True)
# Local weight files on the training worker (nothing is downloaded): ImageNet
# ResNet-18 for the body stream, resnet18_places365.pth.tar for the context.
TRAINING_BODY_WEIGHTS = env.str("TRAINING_BODY_WEIGHTS", default="")
TRAINING_CONTEXT_WEIGHTS = env.str("TRAINING_CONTEXT_WEIGHTS", default="")
# The folder of pretrained weight files the admin's training form offers (*.pth, *.pt, *.pth.tar):
# a run names a file of it, read from this folder on the worker that trains it.
TRAINING_WEIGHTS_DIR = Path(env.str("TRAINING_WEIGHTS_DIR", default="") or VAR_DIR / "weights")
# Metrics computed on fewer evaluation samples than this (or an AP from fewer positives than
# TRAINING_MIN_CATEGORY_POSITIVES) are flagged on the run's page as too few to rely on.
TRAINING_MIN_EVALUATION_SAMPLES = get_int("TRAINING_MIN_EVALUATION_SAMPLES", 100, minimum=1)
TRAINING_MIN_CATEGORY_POSITIVES = get_int("TRAINING_MIN_CATEGORY_POSITIVES", 10, minimum=1)

# --- Scraper --------------------------------------------------------------
SCRAPER_USER_AGENT = env.str(
    "SCRAPER_USER_AGENT",
    default="emotic-platform-scraper/0.1 (+https://github.com/emotic-platform; research dataset collection)",
)
SCRAPER_ALLOW_PRIVATE_ADDRESSES = get_bool("SCRAPER_ALLOW_PRIVATE_ADDRESSES", False)
SCRAPER_OBEY_ROBOTS_TXT = get_bool("SCRAPER_OBEY_ROBOTS_TXT", True)
SCRAPER_MAX_DOWNLOAD_BYTES = get_int("SCRAPER_MAX_DOWNLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
SCRAPER_MIN_IMAGE_SIDE = get_int("SCRAPER_MIN_IMAGE_SIDE", 200, minimum=1)
SCRAPER_NEAR_DUPLICATE_DISTANCE = get_int("SCRAPER_NEAR_DUPLICATE_DISTANCE", 6, minimum=0)
# Pillow's decompression-bomb guard, in pixels.
MAX_IMAGE_PIXELS = get_int("MAX_IMAGE_PIXELS", 89_478_485, minimum=1)
# Networks fetched even when private addresses are refused (an in-house mirror), as CIDR.
SCRAPER_ALLOWED_NETWORKS = get_list("SCRAPER_ALLOWED_NETWORKS", [])
for _network in SCRAPER_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise SettingError("SCRAPER_ALLOWED_NETWORKS", f"{_network!r} is not a network in CIDR form (e.g. 10.1.0.0/16)") from None
# Politeness and robustness of the fetcher (Scrapy-like defaults).
SCRAPER_MAX_CONCURRENT_REQUESTS = get_int("SCRAPER_MAX_CONCURRENT_REQUESTS", 32, minimum=1)
SCRAPER_MAX_REQUESTS_PER_HOST = get_int("SCRAPER_MAX_REQUESTS_PER_HOST", 8, minimum=1)
# Redis URL holding the fetch limits above for every crawl process together; empty: each process
# keeps its own (several Celery processes then multiply them).
SCRAPER_SHARED_LIMITS_URL = env.str("SCRAPER_SHARED_LIMITS_URL", default="")
if SCRAPER_SHARED_LIMITS_URL and not SCRAPER_SHARED_LIMITS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise SettingError("SCRAPER_SHARED_LIMITS_URL", f"must be a redis:// or rediss:// URL, got {SCRAPER_SHARED_LIMITS_URL!r}")
SCRAPER_PER_HOST_DELAY_SECONDS = get_float("SCRAPER_PER_HOST_DELAY_SECONDS", 0.0, minimum=0.0, maximum=3600.0)
SCRAPER_CONNECT_TIMEOUT_SECONDS = get_float("SCRAPER_CONNECT_TIMEOUT_SECONDS", 5.0, minimum=0.01, maximum=600.0)
SCRAPER_READ_TIMEOUT_SECONDS = get_float("SCRAPER_READ_TIMEOUT_SECONDS", 20.0, minimum=0.01, maximum=600.0)
# Whole-download limit, against servers that trickle bytes to dodge the read timeout.
SCRAPER_DOWNLOAD_DEADLINE_SECONDS = get_float("SCRAPER_DOWNLOAD_DEADLINE_SECONDS", 120.0, minimum=0.01, maximum=3600.0)
SCRAPER_RETRIES = get_int("SCRAPER_RETRIES", 3, minimum=0)
SCRAPER_RETRY_BACKOFF_SECONDS = get_float("SCRAPER_RETRY_BACKOFF_SECONDS", 0.5, minimum=0.0, maximum=600.0)
SCRAPER_RETRY_AFTER_CAP_SECONDS = get_float("SCRAPER_RETRY_AFTER_CAP_SECONDS", 60.0, minimum=0.0, maximum=3600.0)
SCRAPER_MAX_REDIRECTS = get_int("SCRAPER_MAX_REDIRECTS", 5, minimum=0)
SCRAPER_MAX_PAGE_BYTES = get_int("SCRAPER_MAX_PAGE_BYTES", 5 * 1024 * 1024, minimum=1024)
SCRAPER_ROBOTS_CACHE_SECONDS = get_int("SCRAPER_ROBOTS_CACHE_SECONDS", 24 * 3600, minimum=0)
# The longest robots.txt Crawl-delay honoured; a site asking for more is not crawled (its items are
# refused as robots_txt) rather than holding a fetch thread for as long as it likes.
SCRAPER_MAX_CRAWL_DELAY_SECONDS = get_float("SCRAPER_MAX_CRAWL_DELAY_SECONDS", 30.0, minimum=0.0, maximum=3600.0)
# Search engines: result pages are fetched from these base URLs.
SCRAPER_ENGINE_BASE_URLS = {
    "bing": env.str("SCRAPER_BING_BASE_URL", default="https://www.bing.com").rstrip("/"),
    "google": env.str("SCRAPER_GOOGLE_BASE_URL", default="https://www.google.com").rstrip("/"),
}
for _engine, _url in SCRAPER_ENGINE_BASE_URLS.items():
    if not _url.startswith(("http://", "https://")):
        raise SettingError(f"SCRAPER_{_engine.upper()}_BASE_URL", f"must start with http:// or https://, got {_url!r}")
SCRAPER_RESULTS_PER_PAGE = get_int("SCRAPER_RESULTS_PER_PAGE", 35, minimum=1)
SCRAPER_MAX_RESULT_PAGES = get_int("SCRAPER_MAX_RESULT_PAGES", 50, minimum=1)
# Images whose source gives no licence: kept (marked "unknown") or refused at discovery (a job may say otherwise).
SCRAPER_UNKNOWN_LICENSE = get_choice("SCRAPER_UNKNOWN_LICENSE", "keep", ("keep", "refuse"))
# Search APIs (docs/scraper.md, "Search sources"). Keys come from here only; a source whose key is
# missing is shown as unavailable in the admin, with the reason.
OPENVERSE_API_URL = env.str("OPENVERSE_API_URL", default="https://api.openverse.org/v1").rstrip("/")
OPENVERSE_CLIENT_ID = env.str("OPENVERSE_CLIENT_ID", default="")  # empty: anonymous (20 a page, 200 requests a day)
OPENVERSE_CLIENT_SECRET = env.str("OPENVERSE_CLIENT_SECRET", default="")
OPENVERSE_DAILY_QUOTA = get_int("OPENVERSE_DAILY_QUOTA", 0, minimum=0)  # 0: 200 anonymous, 10,000 with credentials
OPENVERSE_MIN_INTERVAL_SECONDS = get_float("OPENVERSE_MIN_INTERVAL_SECONDS", 1.0, minimum=0.0, maximum=3600.0)
WIKIMEDIA_API_URL = env.str("WIKIMEDIA_API_URL", default="https://commons.wikimedia.org/w/api.php")
# Wikimedia's User-Agent policy: how to reach whoever runs the crawler (an e-mail address or a web page). Required.
WIKIMEDIA_CONTACT = env.str("WIKIMEDIA_CONTACT", default="")
WIKIMEDIA_MAXLAG = get_int("WIKIMEDIA_MAXLAG", 5, minimum=1)
WIKIMEDIA_MIN_INTERVAL_SECONDS = get_float("WIKIMEDIA_MIN_INTERVAL_SECONDS", 1.0, minimum=0.0, maximum=3600.0)
WIKIMEDIA_DAILY_QUOTA = get_int("WIKIMEDIA_DAILY_QUOTA", 0, minimum=0)  # 0: none published
FLICKR_API_URL = env.str("FLICKR_API_URL", default="https://api.flickr.com/services/rest/")
FLICKR_API_KEY = env.str("FLICKR_API_KEY", default="")
FLICKR_MIN_INTERVAL_SECONDS = get_float("FLICKR_MIN_INTERVAL_SECONDS", 1.0, minimum=0.0, maximum=3600.0)
FLICKR_DAILY_QUOTA = get_int("FLICKR_DAILY_QUOTA", 86_400, minimum=0)  # a key may make 3,600 requests an hour
for _name, _url in (("OPENVERSE_API_URL", OPENVERSE_API_URL), ("WIKIMEDIA_API_URL", WIKIMEDIA_API_URL), ("FLICKR_API_URL", FLICKR_API_URL)):
    if not _url.startswith(("http://", "https://")):
        raise SettingError(_name, f"must start with http:// or https://, got {_url!r}")
# Jobs: items are processed in chunks of this many; a claim older than the
# timeout belongs to a dead worker and is taken over.
SCRAPER_CHUNK_SIZE = get_int("SCRAPER_CHUNK_SIZE", 200, minimum=1)
# Chains of steps one job runs at once on the Celery workers (each a chunk at a time).
SCRAPER_PARALLEL_STEPS = get_int("SCRAPER_PARALLEL_STEPS", 1, minimum=1)
SCRAPER_CLAIM_TIMEOUT_SECONDS = get_int("SCRAPER_CLAIM_TIMEOUT_SECONDS", 900, minimum=1)
SCRAPER_MAX_ITEM_ATTEMPTS = get_int("SCRAPER_MAX_ITEM_ATTEMPTS", 3, minimum=1)
# A job the workers run that nothing has moved for this long lost its worker with
# its next step: the beat queues that step again. Longer than the claim timeout,
# since a live job may sit out a dead worker's claim before its next step.
SCRAPER_STALLED_JOB_SECONDS = get_int("SCRAPER_STALLED_JOB_SECONDS", SCRAPER_CLAIM_TIMEOUT_SECONDS + 300, minimum=60)
if SCRAPER_STALLED_JOB_SECONDS <= SCRAPER_CLAIM_TIMEOUT_SECONDS:
    raise SettingError(
        "SCRAPER_STALLED_JOB_SECONDS",
        f"must exceed SCRAPER_CLAIM_TIMEOUT_SECONDS ({SCRAPER_CLAIM_TIMEOUT_SECONDS}), got {SCRAPER_STALLED_JOB_SECONDS}: "
        "a job waiting out a claim would be queued twice",
    )
CELERY_BEAT_SCHEDULE["requeue-stalled-crawl-jobs"] = {
    "task": "scraper.requeue_stalled_crawl_jobs",
    "schedule": timedelta(minutes=1),
}
# Dataset files, folders and URL lists are read only from under these folders (comma-separated;
# relative ones are under the project). Paths are resolved (symlinks, '..') before the check, so an
# import can never read the rest of the server (.env, /etc/passwd, /proc/self/environ).
_DEFAULT_IMPORT_ROOT = VAR_DIR / "imports"
SCRAPER_IMPORT_ROOTS = [
    str((BASE_DIR / Path(root).expanduser()).resolve())
    for root in get_list("SCRAPER_IMPORT_ROOTS", [str(_DEFAULT_IMPORT_ROOT)])
]
if SCRAPER_IMPORT_ROOTS == [str(_DEFAULT_IMPORT_ROOT.resolve())]:
    _DEFAULT_IMPORT_ROOT.mkdir(exist_ok=True)
# Local images an import reads (EMOTIC, COCO, ADE20K, folders): "copy" stores each in the default
# storage (the rule: the platform owns its files); "reference" keeps them where they lie, for a
# read-only local dataset on the machine that serves it (no second copy of EMOTIC's 23,571 images;
# a turned photo, stored upright, is still copied). See catalog/files.py.
CATALOG_LOCAL_IMAGES = get_choice("CATALOG_LOCAL_IMAGES", "copy", ("copy", "reference"))
# Limits on what one dataset file may make (a small hostile file must not balloon): records it
# holds (COCO images or annotations, ADE20K index entries, EMOTIC images, URL-list entries), people
# per image, array elements a .mat declares (checked before anything is allocated; an array or a
# struct element counts 8), bytes of arrays the ADE20K index's unpickler may build beyond the data
# the file holds, and the size of a file read into memory (and of what a compressed .mat inflates to).
SCRAPER_IMPORT_MAX_RECORDS = get_int("SCRAPER_IMPORT_MAX_RECORDS", 1_000_000, minimum=1)
SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE = get_int("SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE", 100, minimum=1)
SCRAPER_IMPORT_MAX_MAT_ELEMENTS = get_int("SCRAPER_IMPORT_MAX_MAT_ELEMENTS", 50_000_000, minimum=1)
SCRAPER_IMPORT_MAX_PICKLE_BYTES = get_int("SCRAPER_IMPORT_MAX_PICKLE_BYTES", 64 * 1024**2, minimum=1024)
SCRAPER_IMPORT_MAX_FILE_BYTES = get_int("SCRAPER_IMPORT_MAX_FILE_BYTES", 2 * 1024**3, minimum=1024)
# Imports from the admin (docs/scraper.md, Imports from the admin): the largest file one may
# upload (a dataset file or a zip of photos; it goes to a temporary file, never into memory), what
# an archive may hold (members, bytes once extracted, and how much one member may inflate), and the
# folder uploads and storage prefixes are unpacked into for the job (under the first import root
# unless set; it must lie under an import root, and web and crawl workers must share it).
SCRAPER_UPLOAD_MAX_BYTES = get_int("SCRAPER_UPLOAD_MAX_BYTES", 2 * 1024**3, minimum=1024)
SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES = get_int("SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES", 20 * 1024**3, minimum=1024)
SCRAPER_UPLOAD_MAX_MEMBERS = get_int("SCRAPER_UPLOAD_MAX_MEMBERS", 200_000, minimum=1)
SCRAPER_UPLOAD_MAX_RATIO = get_int("SCRAPER_UPLOAD_MAX_RATIO", 100, minimum=2)
SCRAPER_UPLOAD_STAGING_DIR = str(
    (BASE_DIR / Path(env.str("SCRAPER_UPLOAD_STAGING_DIR", default="") or Path(SCRAPER_IMPORT_ROOTS[0]) / "uploads")).resolve()
)

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = get_choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.log_format.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Quality ----------------------------------------------------------------
# Worker trust: a worker whose accuracy on hidden control items, over their
# last QUALITY_GOLD_WINDOW control answers (at least QUALITY_GOLD_MIN_ANSWERS
# of them), falls below QUALITY_GOLD_MIN_ACCURACY is blocked automatically and
# their work is excluded from exports (kept, and restored if an admin unblocks).
QUALITY_AUTO_BLOCK = get_bool("QUALITY_AUTO_BLOCK", True)
QUALITY_GOLD_WINDOW = get_int("QUALITY_GOLD_WINDOW", 10, minimum=1)
QUALITY_GOLD_MIN_ANSWERS = get_int("QUALITY_GOLD_MIN_ANSWERS", 5, minimum=1)
if QUALITY_GOLD_MIN_ANSWERS > QUALITY_GOLD_WINDOW:
    raise SettingError(
        "QUALITY_GOLD_MIN_ANSWERS",
        f"must be at most QUALITY_GOLD_WINDOW ({QUALITY_GOLD_WINDOW}), got {QUALITY_GOLD_MIN_ANSWERS}: no one could be judged",
    )
QUALITY_GOLD_MIN_ACCURACY = get_float("QUALITY_GOLD_MIN_ACCURACY", 0.7, minimum=0.0, maximum=1.0)
# A hidden control skipped or reported counts as a failed control answer in that rule.
QUALITY_SKIPPED_CONTROL_FAILS = get_bool("QUALITY_SKIPPED_CONTROL_FAILS", True)
# The quality dashboard and the gold items' list warn when the hidden controls left for the active
# worker closest to running out cover fewer tasks than this at GOLD_RATE, and when the qualification
# test is drawn from fewer items than QUALIFICATION_POOL_WARN_ITEMS (each account should get its own).
CONTROL_POOL_WARN_TASKS = get_int("CONTROL_POOL_WARN_TASKS", 500, minimum=0)
QUALIFICATION_POOL_WARN_ITEMS = get_int("QUALIFICATION_POOL_WARN_ITEMS", 4 * QUALIFICATION_ITEMS, minimum=0)
# Review filters: a person "disagrees" below this Fleiss' kappa; a worker is
# flagged below this agreement with the leave-one-out consensus of the others.
QUALITY_LOW_AGREEMENT_KAPPA = get_float("QUALITY_LOW_AGREEMENT_KAPPA", 0.0, minimum=-1.0, maximum=1.0)
QUALITY_LOW_CONSENSUS = get_float("QUALITY_LOW_CONSENSUS", 0.2, minimum=0.0, maximum=1.0)
# Dawid-Skene stops when no posterior moves more than this: its labels are
# posteriors above 0.5, and at EMOTIC's size 1e-4 gives the same labels as 1e-6
# in 29 iterations instead of 49 (bench/bench_quality.py).
QUALITY_DAWID_SKENE_TOLERANCE = get_float("QUALITY_DAWID_SKENE_TOLERANCE", 1e-4, minimum=1e-12, maximum=0.1)
# Every figure is recomputed this often (Celery beat), and incrementally after each answer or skip.
QUALITY_RECOMPUTE_MINUTES = get_int("QUALITY_RECOMPUTE_MINUTES", 15, minimum=1)
CELERY_BEAT_SCHEDULE["recompute-quality"] = {
    "task": "quality.recompute_quality",
    "schedule": timedelta(minutes=QUALITY_RECOMPUTE_MINUTES),
}
# One full recomputation is queued or running at a time; one not finished after this long
# lost its worker and no longer holds the next back.
QUALITY_RECOMPUTE_TIMEOUT_MINUTES = get_int("QUALITY_RECOMPUTE_TIMEOUT_MINUTES", 60, minimum=1)
# The figures of the workers and people concerned by new answers and skips are refreshed this often
# (the answers leave requests in an outbox table; no answer waits on the broker).
QUALITY_REFRESH_SECONDS = get_int("QUALITY_REFRESH_SECONDS", 5, minimum=1)
CELERY_BEAT_SCHEDULE["drain-quality-refreshes"] = {
    "task": "quality.drain_refreshes",
    "schedule": timedelta(seconds=QUALITY_REFRESH_SECONDS),
}

# --- Security: shared cache, log-in and API throttling, request sizes -------
# Throttle counters live in the cache, so every gunicorn process and machine
# must share it: Redis through CACHE_URL in production (docker-compose sets it);
# without it, a per-process memory cache (fine for the demo and the tests).
from config.cache import redis_cache  # noqa: E402  (kept inside the block it serves)

CACHE_URL = env.str("CACHE_URL", default="").strip()
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://")):
    raise SettingError("CACHE_URL", f"must be a redis:// or rediss:// URL, got {CACHE_URL.split(':', 1)[0]!r}")
# Redis fails open (config/cache.py): with Redis down, throttles count nothing rather than fail requests.
CACHES = {
    "default": redis_cache(CACHE_URL) if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "emotic"}
}
# Log-ins and sign-ups are limited before any password is hashed (config/throttling.py):
# for the whole site, per client address, and per user name (progressive delays: after
# LOGIN_FAILURES_ALLOWED failures from one address, or LOGIN_ACCOUNT_FAILURES_ALLOWED from
# anywhere, a wait of 1, 2, 4 ... seconds before the next try, at most LOGIN_LOCKOUT_SECONDS).
LOGIN_FAILURES_ALLOWED = get_int("LOGIN_FAILURES_ALLOWED", 5, minimum=1)
LOGIN_ACCOUNT_FAILURES_ALLOWED = get_int("LOGIN_ACCOUNT_FAILURES_ALLOWED", 20, minimum=1)
LOGIN_LOCKOUT_SECONDS = get_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# A password check costs most of a second of one core: keep this under the cores the web has.
LOGIN_ATTEMPTS_PER_SECOND = get_int("LOGIN_ATTEMPTS_PER_SECOND", 2, minimum=1)
LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE = get_int("LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", 20, minimum=1)
SIGNUPS_PER_MINUTE = get_int("SIGNUPS_PER_MINUTE", 20, minimum=1)
SIGNUPS_PER_ADDRESS_PER_HOUR = get_int("SIGNUPS_PER_ADDRESS_PER_HOUR", 10, minimum=1)
# Password-reset requests (each may send an e-mail): for the whole site, per client address, and
# per e-mail address asked for, so the form cannot be used to flood anyone's inbox.
PASSWORD_RESETS_PER_MINUTE = get_int("PASSWORD_RESETS_PER_MINUTE", 10, minimum=1)
PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = get_int("PASSWORD_RESETS_PER_ADDRESS_PER_HOUR", 5, minimum=1)
PASSWORD_RESETS_PER_EMAIL_PER_HOUR = get_int("PASSWORD_RESETS_PER_EMAIL_PER_HOUR", 3, minimum=1)
ACCESS_LOG_DAYS = get_int("ACCESS_LOG_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE["forget-old-access-attempts"] = {"task": "access.forget_old_attempts", "schedule": timedelta(days=1)}
AUTHENTICATION_BACKENDS = ["config.throttling.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
MIDDLEWARE.append("config.throttling.LoginThrottleMiddleware")
# Researcher tokens (staff only, research_api/) stop working this many days after they are made.
RESEARCH_TOKEN_LIFETIME_DAYS = get_int("RESEARCH_TOKEN_LIFETIME_DAYS", 180, minimum=1)
# The key of workers' pseudonyms in the researcher API (a keyed hash of the id); empty: SECRET_KEY.
RESEARCH_PSEUDONYM_KEY = env.str("RESEARCH_PSEUDONYM_KEY", default="")
# Workers' API tokens stop working this many days after they are made (an expired one is a 401).
API_TOKEN_LIFETIME_DAYS = get_int("API_TOKEN_LIFETIME_DAYS", 90, minimum=1)
# The worker API uses annotator.api.WorkerThrottle (rate API_THROTTLE_WORKER);
# anything else of the API (the schema) is throttled per address for anonymous callers.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["rest_framework.throttling.AnonRateThrottle"]
# No page takes file uploads; JSON and form bodies are small. Bodies above this are
# refused with 413 before anything reads them (DRF reads JSON past Django's own limit).
REQUEST_MAX_BODY_BYTES = get_int("REQUEST_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "config.request_limits.RequestBodyLimitMiddleware")
# Content-Security-Policy and Permissions-Policy on every response (config/security_headers.py):
# scripts from the site only, never inline; images also from the storage server when workers'
# images are redirected there. Empty: the header is left out.
from config.security_headers import (  # noqa: E402  (kept inside the block it serves)
    DEFAULT_PERMISSIONS_POLICY,
    default_content_security_policy,
    storage_image_sources,
)

_STORAGE_IMAGES = storage_image_sources(  # browsers fetch signed URLs from the public endpoint when there is one
    STORAGE_BACKEND, STORAGE_PUBLIC_ENDPOINT_URL or env.str("STORAGE_ENDPOINT_URL", default=""), IMAGE_REDIRECT_TO_STORAGE
)
CONTENT_SECURITY_POLICY = env.str("CONTENT_SECURITY_POLICY", default="") or default_content_security_policy(_STORAGE_IMAGES)
PERMISSIONS_POLICY = env.str("PERMISSIONS_POLICY", default="") or DEFAULT_PERMISSIONS_POLICY
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "config.security_headers.SecurityHeadersMiddleware")

# --- Behind a reverse proxy: the client's address, /healthz ------------------
# Addresses (or CIDR networks) of the reverse proxies in front of gunicorn. Only
# from these is X-Forwarded-For believed (the client's address, for the log-in
# lock-out and the throttles: config/client_address.py) and X-Forwarded-Proto
# (SECURE_PROXY_SSL_HEADER); from any other peer those headers are dropped.
TRUSTED_PROXIES = get_list("TRUSTED_PROXIES", [])
try:
    from config.client_address import parse_networks  # noqa: E402  (kept inside the block it serves)

    parse_networks(TRUSTED_PROXIES)
except ValueError as error:
    raise SettingError("TRUSTED_PROXIES", str(error)) from None
# /healthz answers first (before the host check and the HTTPS redirect); then the client's address is settled.
MIDDLEWARE[:0] = ["config.health.HealthCheckMiddleware", "config.client_address.ClientAddressMiddleware"]
# Django REST framework's throttles read REMOTE_ADDR (the client's, set by the middleware), never X-Forwarded-For.
REST_FRAMEWORK["NUM_PROXIES"] = 0
# --- Campaigns: Prolific and other panels ------------------------------------
# The public address of this site, for the study URL a campaign publishes (https://emotic.example.org).
CAMPAIGNS_PUBLIC_URL = env.str("CAMPAIGNS_PUBLIC_URL", default="").strip().rstrip("/")
if CAMPAIGNS_PUBLIC_URL and not CAMPAIGNS_PUBLIC_URL.startswith(("https://", "http://")):
    raise SettingError("CAMPAIGNS_PUBLIC_URL", f"must start with https://, got {CAMPAIGNS_PUBLIC_URL!r}")
PROLIFIC_API_URL = env.str("PROLIFIC_API_URL", default="https://api.prolific.com").strip().rstrip("/")
if not PROLIFIC_API_URL.startswith(("https://", "http://")):
    raise SettingError("PROLIFIC_API_URL", f"must start with https://, got {PROLIFIC_API_URL!r}")
# Prolific's API token (Settings > API tokens) and the workspace's webhook secret (POST /api/v1/hooks/secrets/).
PROLIFIC_API_TOKEN = env.str("PROLIFIC_API_TOKEN", default="").strip()
PROLIFIC_WEBHOOK_SECRET = env.str("PROLIFIC_WEBHOOK_SECRET", default="").strip()
PROLIFIC_WORKSPACE_ID = env.str("PROLIFIC_WORKSPACE_ID", default="").strip()
# Every call to a marketplace: connect and read timeouts, and retries of the calls that are safe to repeat
# (reads and Prolific's idempotent transitions; never a bonus payment or a study's creation).
CAMPAIGNS_HTTP_CONNECT_TIMEOUT_SECONDS = get_float("CAMPAIGNS_HTTP_CONNECT_TIMEOUT_SECONDS", 5.0, minimum=0.01, maximum=120.0)
CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS = get_float("CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS", 20.0, minimum=0.01, maximum=600.0)
CAMPAIGNS_HTTP_RETRIES = get_int("CAMPAIGNS_HTTP_RETRIES", 3, minimum=0)
CAMPAIGNS_HTTP_BACKOFF_SECONDS = get_float("CAMPAIGNS_HTTP_BACKOFF_SECONDS", 0.5, minimum=0.0, maximum=60.0)
# A webhook whose signed timestamp is further than this from now is refused (a replayed capture).
CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS = get_int("CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
# Polling, the fallback to webhooks: submissions' states, ledger rows to reconcile, participant groups.
CAMPAIGNS_POLL_SECONDS = get_int("CAMPAIGNS_POLL_SECONDS", 120, minimum=5)
# This many failed calls in a row to a marketplace pause a campaign's admissions until a call succeeds again.
CAMPAIGNS_HALT_AFTER_FAILURES = get_int("CAMPAIGNS_HALT_AFTER_FAILURES", 3, minimum=1)
# A bonus payment whose answer was lost is looked for in the submission's bonuses for this long before it is
# sent again (Prolific pays bonuses asynchronously, "in the following minutes").
CAMPAIGNS_BONUS_SETTLE_SECONDS = get_int("CAMPAIGNS_BONUS_SETTLE_SECONDS", 3600, minimum=0)
# A ledger row left "sending" this long belongs to a call that died with its process: it is reconciled.
CAMPAIGNS_STALE_CALL_SECONDS = get_int("CAMPAIGNS_STALE_CALL_SECONDS", 300, minimum=1)
# Gaps longer than this between a participant's task events count as idle time in the session's figures.
CAMPAIGNS_IDLE_SECONDS = get_int("CAMPAIGNS_IDLE_SECONDS", 120, minimum=1)
CELERY_BEAT_SCHEDULE["campaigns-poll"] = {
    "task": "campaigns.poll_marketplaces",
    "schedule": timedelta(seconds=CAMPAIGNS_POLL_SECONDS),
}
MIDDLEWARE.append("campaigns.middleware.CampaignFramingMiddleware")
