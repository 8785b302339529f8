"""The production stack file names services, commands and settings that exist in the code."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
READERS = {"get_bool", "get_int", "get_float", "get_list", "get_choice", "database_from_env", "str", "path", "bool", "int"}
# Read by the compose file itself (container images), not by the Django code.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_variables() -> set[str]:
    """Every environment variable the settings modules read, found in their syntax tree."""
    names = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                value = node.args[0].value
                if func in READERS and isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", value):
                    names.add(value)
    return names


def example_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_the_stack_has_every_service_with_a_health_check():
    services = compose()["services"]
    for name in ("postgres", "redis", "minio", "web", "worker", "beat"):
        assert name in services, name
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert set(compose()["volumes"]) >= {"postgres-data", "redis-data", "minio-data"}


def test_the_commands_point_at_code_that_exists():
    services = compose()["services"]
    web = services["web"]["command"]
    assert web[0] == "gunicorn"
    module, attribute = web[1].split(":")
    assert module == "config.wsgi" and attribute == "application" and (ROOT / "config" / "wsgi.py").exists()
    for name in ("worker", "beat"):
        command = services[name]["command"]
        assert command[:3] == ["celery", "-A", "config"] and command[3] == name
    assert importlib.import_module("config.celery").app.main == "emotic_platform"
    def queues(name: str) -> set[str]:
        command = services[name]["command"]
        return set(command[command.index("-Q") + 1].split(","))

    assert queues("worker") == {"celery", "training"}
    assert queues("crawler") == {"crawl"}  # crawls wait on other sites: never in front of exports or quality
    for app in ("annotator", "scraper", "emotic_export", "training"):
        assert (ROOT / app / "tasks.py").exists(), app
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check


def test_every_setting_the_stack_passes_is_read_by_the_code():
    read = settings_variables()
    app_environment = compose()["x-app"]["environment"]
    for variable in app_environment:
        assert variable == "DJANGO_SETTINGS_MODULE" or variable in read, f"{variable} is not read by config/settings"
    assert app_environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert (ROOT / "config" / "settings" / "production.py").exists()


def test_env_example_lists_every_setting_and_nothing_else():
    read, listed = settings_variables(), example_variables()
    assert read - listed == set(), f"settings missing from .env.example: {sorted(read - listed)}"
    assert listed - read - COMPOSE_ONLY == set(), f".env.example lists unknown settings: {sorted(listed - read - COMPOSE_ONLY)}"
