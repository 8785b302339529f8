"""Secrets come only from the environment: none is written in the tree.

The one exception is the documented development key in config/settings/base.py,
which production refuses (tests/config/test_settings.py checks that refusal).
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = ROOT / "config" / "settings"
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".txt", ".md", ".json", ".html", ".js", ".css", ".sh", ".example", ""}

# Formats of real credentials: anywhere in the tree, tests included, they fail the test.
CREDENTIAL_FORMATS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Stripe live key": re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}"),
    "Django secret key": re.compile(r"django-insecure-[A-Za-z0-9!@#$%^&*()_+=-]{20,}"),
}
# In the application code (not tests): a secret-looking name given a literal value.
SECRET_ASSIGNMENT = re.compile(
    r"""(?ix)\b(secret|password|passwd|api_key|access_key|secret_key|token)\w*\s*[:=]\s*["']([^"'\s]{8,})["']"""
)


def tracked_files() -> list[Path]:
    """The files git tracks (what a clone has); the working tree's own files when git is not there."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        paths = [ROOT / name for name in listing.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", "var", ".git", "node_modules", "staticfiles"}
        paths = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return [p for p in paths if p.is_file() and p.suffix in TEXT_SUFFIXES and p.stat().st_size < 2_000_000]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_no_credential_is_written_anywhere_in_the_tree():
    found = []
    for path in tracked_files():
        text = read(path)
        for kind, pattern in CREDENTIAL_FORMATS.items():
            for match in pattern.finditer(text):
                if kind == "Django secret key" and match.group(0) == settings.INSECURE_DEV_SECRET_KEY:
                    continue
                found.append(f"{path.relative_to(ROOT)}: {kind} {match.group(0)[:24]}...")
    assert found == []


def test_the_development_key_is_written_once_and_only_used_where_production_refuses_it():
    holders = [p.relative_to(ROOT).as_posix() for p in tracked_files() if settings.INSECURE_DEV_SECRET_KEY in read(p)]
    assert [h for h in holders if not h.startswith("tests/")] == ["config/settings/base.py"]
    production = read(SETTINGS_DIR / "production.py")
    assert "SECRET_KEY == INSECURE_DEV_SECRET_KEY" in production and 'startswith("django-insecure")' in production


def test_application_code_assigns_no_literal_secret():
    found = []
    for path in tracked_files():
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {"tests", "docs"} or path.suffix not in {".py", ".yml", ".yaml", ".sh", ".toml", ".cfg"}:
            continue
        for number, line in enumerate(read(path).splitlines(), start=1):
            match = SECRET_ASSIGNMENT.search(line)
            if match and "INSECURE_DEV_SECRET_KEY" not in line:
                found.append(f"{relative}:{number}: {line.strip()[:100]}")
    assert found == []


SECRET_NAME = re.compile(r"(SECRET_KEY|PASSWORD|ACCESS_KEY(_ID)?|TOKEN)$", re.IGNORECASE)


def _from_environment(value: ast.AST) -> bool:
    source = ast.unparse(value)
    return source.startswith(("env.", "get_")) or "env.str(" in source or source == "None"


def test_settings_take_every_secret_from_the_environment():
    """Every secret-named setting, and every secret-named option inside a setting, is read with env.str(...)."""
    problems = []
    for path in SETTINGS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(read(path))):
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name) and SECRET_NAME.search(t.id)]
                if names and names != ["INSECURE_DEV_SECRET_KEY"] and not _from_environment(node.value):
                    problems.append(f"{path.name}: {ast.unparse(node)[:120]}")
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(key.value, str) and SECRET_NAME.search(key.value):
                        if not _from_environment(value):
                            problems.append(f"{path.name}: {key.value!r}: {ast.unparse(value)[:80]}")
    assert problems == []


def test_the_compose_file_takes_passwords_from_the_environment():
    compose = yaml.safe_load(read(ROOT / "docker-compose.yml"))
    services = dict(compose["services"])
    services["x-app"] = compose.get("x-app", {})
    for name, service in services.items():
        environment = service.get("environment") or {}
        for key, value in (environment.items() if isinstance(environment, dict) else []):
            if re.search(r"PASSWORD|SECRET|ACCESS_KEY", key):
                assert "${" in str(value), f"{name}: {key} is written in the compose file"
    example = read(ROOT / ".env.example")
    for key in ("SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
        assert re.search(rf"^{key}=$", example, flags=re.MULTILINE), f".env.example must leave {key} empty"
