"""Real processes for the fault tests: a private Redis server and Celery workers that can be killed.

The private ``redis-server`` (Debian's, the one the machine's Redis runs) on
a free port isolates these tests from everyone else's use of the shared Redis,
so it can be killed and restarted. Workers share the test's PostgreSQL
database (``django_db(transaction=True)``: rows are committed where the worker
sees them) and its media folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT_SECONDS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        assert binary, "the fault tests need redis-server (Debian package redis-server, as for the machine's Redis)"
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path).start()
    yield server
    server.kill()


@contextmanager
def publishing_to(broker_url: str):
    """Make this process's Celery app publish to ``broker_url`` (its connection pool rebuilt, then restored)."""
    from config.celery import app

    def reset_pools() -> None:  # kombu keeps one pool per broker URL: the next publish picks the right one
        app._pool = None
        app.amqp._producer_pool = None

    previous_setting, previous_environment = app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = broker_url  # Celery reads this variable before its own setting
    app.conf.broker_url = broker_url
    reset_pools()
    try:
        yield app
    finally:
        app.conf.broker_url = previous_setting
        if previous_environment is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous_environment
        reset_pools()


class CeleryWorker:
    """``python -m tests.faults.celery_worker QUEUES`` in its own process group; its log is kept."""

    def __init__(self, queues: str, environment: dict):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.celery_worker", queues],
            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 120) -> CeleryWorker:
        if not self._ready.wait(timeout):
            raise AssertionError("the Celery worker did not start:\n" + self.log())
        return self

    def kill(self) -> None:
        """SIGKILL, as a machine losing power: no clean-up, no acknowledgement."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "".join(self.lines[-80:])


@pytest.fixture
def worker_environment(media_in_tmp, tmp_path, private_redis) -> dict:
    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": private_redis.url,
        "CACHE_URL": "",
        "MEDIA_ROOT": str(media_in_tmp),
        "EXPORT_WORK_DIR": str(tmp_path / "export-work"),
        "TRAINING_WORK_DIR": str(tmp_path / "training-work"),
        "FAULT_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
        "SCRAPER_ALLOW_PRIVATE_ADDRESSES": "true",  # the test's web server is on loopback
        "SCRAPER_OBEY_ROBOTS_TXT": "false",
        "SCRAPER_MIN_IMAGE_SIDE": "32",
        "SCRAPER_RETRIES": "0",
        "SCRAPER_CLAIM_TIMEOUT_SECONDS": "3",
        "SCRAPER_IMPORT_ROOTS": str(tmp_path),  # the URL lists the tests write lie here
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def start_worker(worker_environment):
    """Start workers on given queues; every one still running at the end is stopped."""
    started: list[CeleryWorker] = []

    def start(queues: str = "celery", **extra_environment) -> CeleryWorker:
        worker = CeleryWorker(queues, {**worker_environment, **extra_environment}).wait_ready()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_until(condition, what: str, timeout: float = 120, worker: CeleryWorker | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\nworker log:\n{worker.log()}" if worker else ""))
