"""A Celery worker of the project's app for the fault tests: ``python -m tests.faults.celery_worker QUEUES``.

The only difference from production is Redis's visibility timeout, the time
after which a task that a dead worker took but never acknowledged is given to
another worker: seconds here (FAULT_VISIBILITY_TIMEOUT), a day by default
(CELERY_VISIBILITY_TIMEOUT_SECONDS),
and how often workers look for such tasks.
"""

from __future__ import annotations

import os
import sys

from config.celery import app


def main() -> None:
    queues = sys.argv[1] if len(sys.argv) > 1 else "celery"
    app.conf.broker_transport_options = {
        "visibility_timeout": float(os.environ.get("FAULT_VISIBILITY_TIMEOUT", "3")),
        "unacked_restore_interval": 1,  # look for abandoned tasks every second, not every 10 x 10
        "unacked_restore_throttle": 1,
    }
    app.worker_main(
        ["worker", "-Q", queues, "--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle",
         "--loglevel=INFO", f"--hostname=fault-{os.getpid()}@%h"]
    )


if __name__ == "__main__":
    main()
