"""The production stack file names services, commands and settings that exist in the code, in the right topology.

Where Docker's compose plugin is installed (``docker compose version``
answers), ``docker compose config`` validates the file as Compose reads it,
with .env.example's variables filled in. Everywhere, the file is read as YAML
and its structure checked: every service, its health check, the proxy in
front, gunicorn reachable only through it, training only on the trainers.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
READERS = {"get_bool", "get_int", "get_float", "get_list", "get_choice", "database_from_env", "str", "path", "bool", "int"}
# Read by the compose file itself (container images, the proxy), not by the Django code.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "SITE_ADDRESS", "STORAGE_SITE_ADDRESS"}
SERVICES = ("proxy", "postgres", "redis", "minio", "web", "worker", "crawler", "trainer", "trainer-gpu", "beat")


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


def queues_of(service: dict) -> set[str]:
    command = service["command"]
    return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else {"celery"}


def compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60).returncode == 0:
        return docker
    return None


def test_docker_compose_accepts_the_file_where_it_is_installed(tmp_path):
    """``docker compose config`` where the plugin answers; this machine's answer is printed either way."""
    text = (ROOT / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert referenced - example_variables() == set(), "compose interpolates variables .env.example does not list"
    docker = compose_plugin()
    filled = re.sub(r"^(SECRET_KEY|POSTGRES_PASSWORD|MINIO_ROOT_PASSWORD)=$", r"\1=not-a-real-secret-but-filled-in",
                    (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    (tmp_path / ".env").write_text(filled)
    if docker is None:
        print("docker compose is not installed here: the structural checks below stand alone")
        assert yaml.safe_load(text)["services"]
        return
    for profile in ([], ["--profile", "gpu"]):
        result = subprocess.run(
            [docker, "compose", "--project-directory", str(tmp_path), "-f", str(ROOT / "docker-compose.yml"),
             *profile, "config", "--quiet"],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr


def test_the_stack_has_every_service_with_a_health_check():
    services = compose()["services"]
    for name in SERVICES:
        assert name in services, name
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert set(compose()["volumes"]) >= {"postgres-data", "redis-data", "minio-data", "static", "caddy-data"}


def test_the_proxy_is_the_only_way_in_and_serves_tls_and_static_files():
    document = compose()
    services = document["services"]
    proxy = services["proxy"]
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert "static:/srv/static:ro" in proxy["volumes"] and "static:/app/staticfiles" in services["static"]["volumes"]
    assert (ROOT / "deploy" / "Caddyfile").is_file() and (ROOT / "deploy" / "proxy" / "Dockerfile").is_file()
    assert proxy["environment"]["APP_UPSTREAM"] == "web:8000"
    for name, service in services.items():
        if name != "proxy":
            assert "ports" not in service, f"{name} publishes ports: only the proxy may"
    assert services["web"]["expose"] == ["8000"]
    assert document["networks"]["backend"]["internal"] is True
    for name in ("web", "worker", "postgres", "redis", "minio"):
        assert services[name]["networks"] == ["backend"], name  # nothing outside reaches them
    # The app believes forwarded headers from the proxy's fixed address only.
    proxy_address = proxy["networks"]["backend"]["ipv4_address"]
    assert document["x-app"]["environment"]["TRUSTED_PROXIES"] == proxy_address
    assert document["x-app"]["environment"]["STORAGE_PUBLIC_ENDPOINT_URL"].startswith("https://${STORAGE_SITE_ADDRESS")
    assert document["x-app"]["environment"]["STORAGE_ENDPOINT_URL"] == "http://minio:9000"


def test_the_commands_point_at_code_that_exists():
    services = compose()["services"]
    web = services["web"]["command"]
    assert web[:3] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"] and (ROOT / "deploy" / "gunicorn.conf.py").is_file()
    module, attribute = web[3].split(":")
    assert module == "config.wsgi" and attribute == "application" and (ROOT / "config" / "wsgi.py").exists()
    for name in ("worker", "crawler", "trainer", "trainer-gpu", "beat"):
        command = services[name]["command"]
        assert command[:3] == ["celery", "-A", "config"] and command[3] == ("beat" if name == "beat" else "worker")
    assert importlib.import_module("config.celery").app.main == "emotic_platform"
    assert queues_of(services["crawler"]) == {"crawl"}  # crawls wait on other sites: never in front of exports or quality
    assert services["crawler"]["networks"] == ["backend", "frontend"]  # the one worker that fetches from the web
    for app in ("annotator", "scraper", "emotic_export", "training"):
        assert (ROOT / app / "tasks.py").exists(), app
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]
    assert (ROOT / "deploy" / "healthcheck.py").is_file()


def test_only_the_trainers_consume_the_training_queues():
    services = compose()["services"]
    assert queues_of(services["worker"]) == {"celery"}  # the web side's worker: no torch in its image
    assert queues_of(services["trainer"]) == {"training"}
    assert queues_of(services["trainer-gpu"]) == {"training", "training-gpu"}
    assert services["trainer-gpu"]["profiles"] == ["gpu"]
    assert services["trainer-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    for name in ("trainer", "trainer-gpu"):  # the image with torch
        assert services[name]["build"]["args"]["REQUIREMENTS"] == "requirements-training.txt"
    for name, service in services.items():
        if name not in ("trainer", "trainer-gpu") and "celery" in service.get("command", []):
            assert not queues_of(service) & {"training", "training-gpu"}, name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG REQUIREMENTS=requirements.txt" in dockerfile and 'pip install -r "$REQUIREMENTS"' in dockerfile


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
