"""Production: refuses to start without a real secret key; passes check --deploy."""

from config.env import SettingError, env, get_bool, get_int

from .base import *  # noqa: F401,F403
from .base import INSECURE_DEV_SECRET_KEY

DEBUG = get_bool("DEBUG", False)
if DEBUG:
    raise SettingError("DEBUG", "must be false in production settings")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise SettingError("SECRET_KEY", "is required in production (50+ random characters)")
if SECRET_KEY == INSECURE_DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure"):
    raise SettingError("SECRET_KEY", "is the insecure development key; generate a real one")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise SettingError("SECRET_KEY", "is too weak (use at least 50 characters with at least 5 distinct)")

# Password-reset e-mail goes out by SMTP (EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, ...), never to the console.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="") or "django.core.mail.backends.smtp.EmailBackend"

SECURE_SSL_REDIRECT = get_bool("SECURE_SSL_REDIRECT", True)
# TLS ends at the reverse proxy (deploy/Caddyfile), which says so in X-Forwarded-Proto; the header
# counts only from TRUSTED_PROXIES (config/client_address.py drops it from anyone else).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if SECURE_SSL_REDIRECT and not TRUSTED_PROXIES:  # noqa: F405
    raise SettingError(
        "TRUSTED_PROXIES",
        "is required in production: the addresses of the TLS-terminating proxy "
        "(without them every request looks like plain HTTP and is redirected to HTTPS forever)",
    )
SECURE_HSTS_SECONDS = get_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
