"""Throwaway PostgreSQL databases for the benchmarks, and Django started on one.

Every benchmark measures against a database of its own on the local server, so
a run never touches a development or test database and can be repeated.
"""

from __future__ import annotations

import os


def _server_and_name(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return f"{base}/postgres", name


def _execute(url: str, *statements: str) -> None:
    import psycopg
    from psycopg import sql

    admin_url, name = _server_and_name(url)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(sql.SQL(statement).format(sql.Identifier(name)))


def recreate_database(url: str) -> str:
    """Drop the database ``url`` names (closing its connections) and create it empty; returns ``url``."""
    _execute(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}")
    return url


def ensure_database(url: str) -> str:
    """Create the database ``url`` names unless it exists (its rows are kept for the next run)."""
    import psycopg

    admin_url, name = _server_and_name(url)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not exists:
        _execute(url, "CREATE DATABASE {}")
    return url


def drop_database(url: str) -> None:
    _execute(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def local_database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def start_django(database_url: str, *, broker_url: str = "memory://") -> None:
    """Set Django up on ``database_url`` with production-like settings (DEBUG off) and migrate it."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ.setdefault("CELERY_BROKER_URL", broker_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
