"""The Celery app. Tasks live in each app's ``tasks.py`` and only wrap services."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("emotic_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.ping")
def ping() -> str:
    """Health check: a round trip through the broker to a worker."""
    return "pong"
