"""Tasks reach a real worker process, through Redis and through the embedded broker."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379"


def start_worker(env: dict[str, str], queue: str) -> subprocess.Popen:
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue,
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop(worker: subprocess.Popen) -> str:
    worker.terminate()
    try:
        out, _ = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, _ = worker.communicate()
    return out


def client(broker: str, backend: str, **conf) -> Celery:
    app = Celery("test-client", broker=broker, backend=backend)
    app.conf.update(**conf)
    return app


def test_redis_is_reachable_for_real():
    assert redis.Redis.from_url(f"{REDIS}/15").ping() is True


@pytest.mark.slow
def test_a_task_runs_on_a_worker_process_through_redis(monkeypatch):
    # Celery clients read CELERY_BROKER_URL from the environment before their own arguments.
    monkeypatch.setenv("CELERY_BROKER_URL", f"{REDIS}/13")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {"CELERY_BROKER_URL": f"{REDIS}/13", "CELERY_RESULT_BACKEND": f"{REDIS}/13"}
    worker = start_worker(env, queue)
    try:
        result = client(f"{REDIS}/13", f"{REDIS}/13").send_task("config.ping", queue=queue)
        assert result.get(timeout=60) == "pong"
    finally:
        log = stop(worker)
    assert "Traceback" not in log and "ERROR/" not in log, log


@pytest.mark.slow
def test_the_embedded_default_broker_needs_no_server(tmp_path, monkeypatch):
    """With no CELERY_BROKER_URL the demo uses kombu's filesystem transport and a real worker."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    broker_dir = tmp_path / "broker"
    results = tmp_path / "results"
    results.mkdir()
    queue = "celery"
    env = {"CELERY_FILESYSTEM_BROKER_DIR": str(broker_dir), "CELERY_RESULT_BACKEND": f"file://{results}"}
    worker = start_worker(env, queue)
    try:
        queue_dir = str(broker_dir / "queue")
        app = client(
            "filesystem://",
            f"file://{results}",
            broker_transport_options={
                "data_folder_in": queue_dir,
                "data_folder_out": queue_dir,
                "control_folder": str(broker_dir / "control"),
            },
        )
        (broker_dir / "queue").mkdir(parents=True, exist_ok=True)
        assert app.send_task("config.ping", queue=queue).get(timeout=60) == "pong"
    finally:
        log = stop(worker)
    assert "Traceback" not in log and "ERROR/" not in log, log
