"""Redis restarted while workers annotate: every answer is still stored, once.

Answers go to PostgreSQL, not to the queue, and so do their quality refresh
requests (an outbox table the beat drains): an answer puts nothing on the
broker. Redis carries the throttle counters (config/cache.py fails open) and
other apps' background work. The app here
uses a private redis-server for both, as docker-compose does with its one
Redis, and the test kills it and starts it again on the same port.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from annotator.models import EmotionAnnotation
from quality.models import PendingRefresh
from config.cache import forget_failures, redis_cache
from tests.annotator.conftest import WorkerClient
from tests.factories import PASSWORD, PersonFactory, WorkerFactory
from tests.faults.conftest import publishing_to

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ANSWER = {"categories": ["Peace"], "valence": 6, "arousal": 3, "dominance": 6, "gender": "Female", "age": "Adult"}


@pytest.fixture
def app_on_private_redis(settings, private_redis):
    settings.GOLD_RATE = 0.0
    settings.CACHES = {"default": redis_cache(private_redis.url.replace("/0", "/1"))}
    forget_failures()  # a Redis an earlier test stopped is not this one
    with publishing_to(private_redis.url):
        yield private_redis


def annotate_once(client: WorkerClient) -> tuple[int, str]:
    """Ask for a task and answer it, as the page does; returns the task id and the submission id."""
    task = client.get("/api/tasks/next/")
    assert task.status_code == 200, task.content
    submission_id = str(uuid.uuid4())
    response = client.post_json(f"/api/tasks/{task.json()['id']}/submit/", {**ANSWER, "submission_id": submission_id})
    assert response.status_code == 201, response.content
    return task.json()["id"], submission_id


def queued_tasks(redis_server) -> int:
    return redis_server.client().llen("celery")


def test_answers_are_stored_while_redis_is_down_and_after_it_restarts(app_on_private_redis):
    redis_server = app_on_private_redis
    for _ in range(9):
        PersonFactory()
    workers = [WorkerClient(WorkerFactory()) for _ in range(3)]
    submissions = []

    submissions += [annotate_once(client) for client in workers]
    assert queued_tasks(redis_server) == 0  # the refresh requests are outbox rows, not messages
    assert PendingRefresh.objects.count() == 3
    assert redis_server.client(db=1).keys("*throttle_worker*")  # the throttles count in Redis

    redis_server.kill()
    during_outage = [annotate_once(client) for client in workers]
    submissions += during_outage
    newcomer = WorkerFactory(user__username="arrives-during-outage")
    login = Client().post("/accounts/login/", {"username": newcomer.user.username, "password": PASSWORD})
    assert login.status_code == 302  # the log-in throttle fails open too

    redis_server.start()
    submissions += [annotate_once(client) for client in workers]
    assert queued_tasks(redis_server) == 0 and PendingRefresh.objects.count() == 9  # no refresh request lost

    stored = EmotionAnnotation.objects.filter(submission_id__in=[s for _, s in submissions])
    assert stored.count() == 9 and EmotionAnnotation.objects.count() == 9
    task_id, submission_id = during_outage[0]
    again = workers[0].post_json(f"/api/tasks/{task_id}/submit/", {**ANSWER, "submission_id": submission_id})
    assert again.status_code == 200 and again.json()["stored"] is False
    assert EmotionAnnotation.objects.count() == 9
