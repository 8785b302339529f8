"""``manage.py rundemo`` gives its worker the training queue only where torch imports (``make demo`` installs none)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.queues import probe

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def rundemo_queues(tmp_path: Path, extra_path: Path | None = None) -> tuple[str, str]:
    """Start ``manage.py rundemo`` on embedded defaults, read what it says its worker consumes, stop it all."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "DJANGO_", "STORAGE_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path / "broker"),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    if extra_path:
        environment["PYTHONPATH"] = str(extra_path)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{free_port()}"], cwd=ROOT, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Open http://"):
                break
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # rundemo, its server and its worker: one process group
        process.wait(timeout=30)
    said = "".join(lines)
    queues = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Worker queues:")), None)
    assert queues is not None, said
    return queues, said


@pytest.mark.slow
def test_without_torch_the_demo_worker_leaves_the_training_queue_alone(tmp_path):
    shadow = tmp_path / "no-torch"
    (shadow / "torch").mkdir(parents=True)
    (shadow / "torch" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\")\n")
    queues, said = rundemo_queues(tmp_path, extra_path=shadow)
    assert queues == "celery, crawl"
    assert "Training runs wait in their queue: torch does not import here" in said


@pytest.mark.slow
def test_with_torch_the_demo_worker_trains_too(tmp_path):
    queues, _ = rundemo_queues(tmp_path)
    assert queues == ("celery, crawl, training, training-gpu" if probe().cuda else "celery, crawl, training")
