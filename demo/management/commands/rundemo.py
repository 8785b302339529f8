"""Serve the site with a Celery worker (and beat) beside it, on embedded defaults."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from training.queues import TRAINING_QUEUE, probe


def worker_queues() -> list[str]:
    """``celery`` and ``crawl``, and the training queues only where this machine can train (torch imports; CUDA for the GPU one)."""
    return ["celery", "crawl", *probe().consumable()]


class Command(BaseCommand):
    help = "Run the development server and a Celery worker with beat; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        python = sys.executable
        queues = worker_queues()
        worker_cmd = [
            python, "-m", "celery", "-A", "config", "worker", "--beat", "-Q", ",".join(queues),
            "--pool=threads", "--concurrency=2", "--loglevel=INFO",
            "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
        ]
        server_cmd = [python, "manage.py", "runserver", "--noreload", addrport]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The development server serves with the public development key only in explicit local
        # development (config.startup.check_secret_key_for_serving): say so, unless set already.
        env.setdefault("DEBUG", "true")
        env.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
        self.stdout.write(f"Broker: {settings.CELERY_BROKER_URL}  Database: {settings.DATABASES['default']['ENGINE']}")
        self.stdout.write(f"Worker queues: {', '.join(queues)}")
        if TRAINING_QUEUE not in queues:
            self.stdout.write("Training runs wait in their queue: torch does not import here (pip install -r requirements-training.txt).")
        self.stdout.write(f"Open http://{addrport}/ (admin at /admin/). Ctrl-C stops the server and the worker.")
        processes = [subprocess.Popen(worker_cmd, env=env), subprocess.Popen(server_cmd, env=env)]
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for p in processes:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p for p in processes if p.returncode not in (0, None, -signal.SIGTERM)]
        if failed:
            raise SystemExit(1)
