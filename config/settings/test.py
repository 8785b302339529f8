"""Settings for the test suite: real PostgreSQL and Redis on loopback by default.

The suite also migrates a second, SQLite database (alias ``sqlite``) so that
the model constraints are checked on both engines.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

from .base import *  # noqa: E402,F401,F403
from .base import DATABASES, VAR_DIR  # noqa: E402

# Several test runs on one machine (developers in parallel) each take their own databases.
_suffix = os.environ.get("TEST_DB_SUFFIX", "")
if _suffix:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_suffix}"}
DATABASES["sqlite"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": str(VAR_DIR / f"test-sqlite{_suffix}.sqlite3"),
    "TEST": {"NAME": str(VAR_DIR / f"test-sqlite{_suffix}.sqlite3")},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SCRAPER_ALLOW_PRIVATE_ADDRESSES = True  # test servers listen on 127.0.0.1
# The suite logs in and signs up many times from one test address: no site or address limit gets in the way
# (tests/security/test_throttling.py sets its own).
LOGIN_ATTEMPTS_PER_SECOND = LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE = 10**6
SIGNUPS_PER_MINUTE = SIGNUPS_PER_ADDRESS_PER_HOUR = 10**6
# Messages are kept in django.core.mail.outbox; tests/security/test_throttling.py sets the reset limits it checks.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_RESETS_PER_MINUTE = PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = PASSWORD_RESETS_PER_EMAIL_PER_HOUR = 10**6
