"""The Celery app. Tasks live in each app's ``tasks.py`` and only wrap services."""

import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("emotic_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping() -> str:
    """Health check: a round trip through the broker to a worker."""
    return "pong"


@signals.worker_init.connect
def refuse_training_queues_this_machine_cannot_serve(sender=None, **kwargs) -> None:
    """A worker told to consume a training queue it cannot serve stops here, saying why (training/queues.py).

    ``worker_init`` comes after ``-Q`` is applied and before the pool starts or
    anything is taken from the broker.
    """
    from training.queues import refusal_for

    queues = sender.app.amqp.queues
    consumed = list(queues.consume_from) if queues.consume_from is not None else list(queues)
    reason = refusal_for(consumed)
    if reason:
        print(f"worker refused to start: {reason}", file=sys.stderr, flush=True)
        raise SystemExit(2)  # not an Exception: Celery's signal dispatch lets it through
