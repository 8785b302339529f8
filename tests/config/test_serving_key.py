"""The WSGI and ASGI entry points refuse the public development key outside explicit local development.

Each case starts the entry point in a fresh interpreter with the default
settings module (what ``config/wsgi.py`` falls back to) and only the
environment given: the key may serve only when the environment says
``DEBUG=true`` and ``ALLOWED_HOSTS`` names loopback hosts only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET = "k" * 20 + "Zq8-vT3!pLw9@xR2#mN6$bY4%cJ7^hF5&dG1*sA0"
LOOPBACK = "localhost,127.0.0.1,[::1]"
START = "import {module}; print('started', type({module}.application).__name__)"


def start(module: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
    environment = {k: v for k, v in os.environ.items() if k in keep}
    environment.update(
        {  # embedded defaults, kept out of the repository's var/
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path / "celery"),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "EXPORT_WORK_DIR": str(tmp_path / "exports"),
            "TRAINING_WORK_DIR": str(tmp_path / "training"),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", START.format(module=module)], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "starts", "why"),
    [
        ({}, False, "DEBUG is not set to true in the environment"),  # the bare default settings module
        ({"DEBUG": "true"}, False, "ALLOWED_HOSTS names more than loopback (localhost, 127.0.0.1, [::1], testserver)"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": LOOPBACK}, False, "DEBUG is not set to true in the environment"),
        ({"ALLOWED_HOSTS": LOOPBACK}, False, "DEBUG is not set to true in the environment"),
        ({"DEBUG": "true", "ALLOWED_HOSTS": "emotic.example.org"}, False, "ALLOWED_HOSTS names more than loopback"),
        ({"DEBUG": "true", "ALLOWED_HOSTS": "localhost,*"}, False, "ALLOWED_HOSTS names more than loopback"),
        ({"DEBUG": "true", "ALLOWED_HOSTS": LOOPBACK}, True, ""),  # make demo
        ({"DEBUG": "true", "ALLOWED_HOSTS": "127.0.0.1"}, True, ""),
        ({"SECRET_KEY": REAL_SECRET, "ALLOWED_HOSTS": "emotic.example.org"}, True, ""),  # a real key: no rule here
        ({"SECRET_KEY": "django-insecure-tutorial", "ALLOWED_HOSTS": "emotic.example.org"}, False,
         "DEBUG is not set to true"),
    ],
)
@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_development_key_serves_only_explicit_local_development(tmp_path, module, env, starts, why):
    result = start(module, env, tmp_path)
    if starts:
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("started")
    else:
        assert result.returncode == 2 and result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("configuration error: SECRET_KEY: is the public development key") and why in line


def test_the_demo_server_sets_what_the_development_key_needs(monkeypatch):
    """``make demo`` runs ``rundemo``, whose development server gets DEBUG=true and loopback hosts (unless set)."""
    from django.core.management import call_command

    from demo.management.commands import rundemo

    started = []

    class Finished:
        returncode = 0

        def __init__(self, command, env):
            started.append((command, env))

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    monkeypatch.setattr(rundemo, "worker_queues", lambda: ["celery"])  # no probing for torch here
    monkeypatch.setattr(rundemo.subprocess, "Popen", Finished)
    call_command("rundemo", "127.0.0.1:8000")
    server_env = next(env for command, env in started if "runserver" in command)
    assert (server_env["DEBUG"], server_env["ALLOWED_HOSTS"]) == ("true", LOOPBACK)
