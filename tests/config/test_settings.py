"""Settings come from the environment; a bad one stops start-up with one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k" * 20 + "Zq8-vT3!pLw9@xR2#mN6$bY4%cJ7^hF5&dG1*sA0"
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'db': settings.DATABASES['default'], 'storage': settings.STORAGES['default'], "
    "'broker': settings.CELERY_BROKER_URL, 'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS, "
    "'per_split': settings.ANNOTATORS_PER_SPLIT}, default=str))"
)


def run(args: list[str], env: dict[str, str], settings_module: str = "config.settings.base"):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "STORAGE_", "CELERY_", "SECRET_", "DEBUG", "ALLOWED_", "ANNOTATORS_", "DJANGO_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": settings_module, **env})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def probe(env: dict[str, str], settings_module: str = "config.settings.base") -> dict:
    result = run(["-c", PROBE], env, settings_module)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_defaults_need_no_servers():
    config = probe({})
    assert config["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert config["db"]["NAME"].endswith("var/db.sqlite3")
    assert config["storage"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert config["storage"]["OPTIONS"]["location"].endswith("var/media")
    assert config["broker"] == "filesystem://"
    assert config["debug"] is True
    assert config["per_split"] == {"train": 1, "val": 5, "test": 3}


def test_services_are_chosen_by_the_environment():
    config = probe(
        {
            "DATABASE_URL": "postgres://emotic:pw@db.internal:5433/emotic",
            "CELERY_BROKER_URL": "redis://cache.internal:6379/2",
            "STORAGE_BUCKET": "photos",
            "STORAGE_ENDPOINT_URL": "http://minio.internal:9000",
            "STORAGE_PUBLIC_ENDPOINT_URL": "https://storage.example.org",
            "ALLOWED_HOSTS": "a.example.org, b.example.org",
            "DEBUG": "false",
            "ANNOTATORS_PER_VAL": "7",
        }
    )
    assert config["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert (config["db"]["HOST"], config["db"]["PORT"], config["db"]["NAME"]) == ("db.internal", 5433, "emotic")
    assert config["broker"] == "redis://cache.internal:6379/2"
    assert config["storage"]["BACKEND"] == "config.storage.S3Storage"  # django-storages', signing for the public endpoint
    assert config["storage"]["OPTIONS"]["bucket_name"] == "photos"
    assert config["storage"]["OPTIONS"]["endpoint_url"] == "http://minio.internal:9000"
    assert config["storage"]["OPTIONS"]["public_endpoint_url"] == "https://storage.example.org"
    assert config["hosts"] == ["a.example.org", "b.example.org"]
    assert config["debug"] is False
    assert config["per_split"]["val"] == 7


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL", "is not a database URL"),
        ({"DATABASE_URL": "oracle2://x@y/z"}, "DATABASE_URL", "unknown database scheme 'oracle2'"),
        ({"DATABASE_URL": "postgres://u@h:notaport/db"}, "DATABASE_URL", "port"),
        ({"DATABASE_URL": "postgres://u@h:5432"}, "DATABASE_URL", "names no database"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND", "must be one of local, s3, got 'ftp'"),
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_BUCKET", "must name a bucket"),
        ({"DEBUG": "maybe"}, "DEBUG", "must be true or false"),
        ({"ANNOTATORS_PER_TEST": "0"}, "ANNOTATORS_PER_TEST", "must be at least 1"),
        ({"GOLD_RATE": "lots"}, "GOLD_RATE", "must be a number"),
        ({"CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL", "unsupported broker 'kafka'"),
        ({"SCRAPER_SHARED_LIMITS_URL": "memcached://x"}, "SCRAPER_SHARED_LIMITS_URL", "must be a redis:// or rediss:// URL"),
        ({"TRUSTED_PROXIES": "10.0.0.2, proxy.internal"}, "TRUSTED_PROXIES", "'proxy.internal' is neither an IP address nor a network"),
        ({"STORAGE_PUBLIC_ENDPOINT_URL": "storage.example.org"}, "STORAGE_PUBLIC_ENDPOINT_URL", "must start with http:// or https://"),
        ({"SPLIT_IMAGES_AT": "never"}, "SPLIT_IMAGES_AT", "must be one of annotation, export, got 'never'"),
        ({"SPLIT_RATIO_VAL": "0.3"}, "SPLIT_RATIO_TRAIN, SPLIT_RATIO_VAL, SPLIT_RATIO_TEST", "must be non-negative and sum to 1"),
    ],
)
def test_bad_setting_stops_start_up_with_one_line_naming_it(env, variable, reason):
    result = run(["manage.py", "check"], env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}: ")
    assert reason in lines[0]


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "SECRET_KEY: is required in production"),
        ({"SECRET_KEY": "django-insecure-emotic-dev-key-do-not-use-in-production"}, "SECRET_KEY: is the insecure development key"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY: is too weak"),
        ({"SECRET_KEY": GOOD_SECRET, "DEBUG": "true"}, "DEBUG: must be false"),
        ({"SECRET_KEY": GOOD_SECRET}, "TRUSTED_PROXIES: is required in production"),
    ],
)
def test_production_refuses_to_start_without_a_real_secret(env, reason):
    result = run(["manage.py", "check"], env, "config.settings.production")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {reason}")


def test_production_settings_pass_the_deployment_checklist():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "emotic.example.org", "TRUSTED_PROXIES": "172.30.80.2"},
        "config.settings.production",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
