"""Reading settings from the environment, with errors that name the variable.

Every mistake in the environment stops start-up with one line:
``VARIABLE: what is wrong``. ``config.startup.run_guarded`` prints it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from emotic.errors import FieldError

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()


class SettingError(FieldError, ImproperlyConfigured):
    """A setting from the environment is missing or malformed; ``field`` (also ``variable``) names it."""

    @property
    def variable(self) -> str:
        return self.field


def get_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="")
    if raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingError(name, f"must be true or false, got {raw!r}")


def get_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(name, f"must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingError(name, f"must be at least {minimum}, got {value}")
    return value


def get_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(name, f"must be a number, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingError(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def get_list(name: str, default: list[str]) -> list[str]:
    raw = env.str(name, default="")
    if raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def get_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.str(name, default="").strip() or default
    if value not in choices:
        raise SettingError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def database_from_env(name: str, default_sqlite: Path) -> dict:
    """Parse ``DATABASE_URL``; default to SQLite under ``var/``."""
    raw = env.str(name, default="").strip()
    if not raw:
        default_sqlite.parent.mkdir(parents=True, exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite)}
    scheme = urlsplit(raw).scheme
    if not scheme or "://" not in raw:
        raise SettingError(name, f"is not a database URL (expected scheme://...), got {raw!r}")
    if scheme not in environ.Env.DB_SCHEMES:
        known = "postgres, postgresql, sqlite, mysql"
        raise SettingError(name, f"unknown database scheme {scheme!r} (use one of {known})")
    try:
        config = environ.Env.db_url_config(raw)
    except Exception as exc:  # django-environ raises ValueError and friends
        raise SettingError(name, f"cannot be parsed: {exc}") from None
    engine = config.get("ENGINE", "")
    if "sqlite" not in engine and not config.get("NAME"):
        raise SettingError(name, "names no database (add /dbname to the URL)")
    if "postgresql" in engine and config.get("PORT") not in ("", None):
        try:
            int(config["PORT"])
        except (TypeError, ValueError):
            raise SettingError(name, f"port {config['PORT']!r} is not a number") from None
    return config
