"""Redis hangs (its process stopped, as a frozen host or a black-holed network would look): answers are still
stored and acknowledged at normal speed, and nothing is lost.

Nothing in an answer's request waits on Redis: the quality refresh it asks for is an outbox row written in
its own transaction, and the throttles' cache gives up on a hung Redis after one short timeout and stops
asking it for a while (config/cache.py).
"""

from __future__ import annotations

import os
import signal
import statistics
import time

import pytest

from annotator.models import EmotionAnnotation
from quality.models import PendingRefresh
from tests.annotator.conftest import WorkerClient
from tests.factories import PersonFactory, WorkerFactory
from tests.faults.test_redis_restart import annotate_once, app_on_private_redis, queued_tasks  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def timed_answer(client) -> tuple[float, tuple[int, str]]:
    started = time.perf_counter()
    done = annotate_once(client)
    return time.perf_counter() - started, done


def test_while_redis_hangs_answers_are_stored_at_normal_speed_and_nothing_is_lost(app_on_private_redis):  # noqa: F811
    redis_server = app_on_private_redis
    for _ in range(12):
        PersonFactory()
    workers = [WorkerClient(WorkerFactory()) for _ in range(3)]
    before = [timed_answer(client) for client in workers]

    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        during = [timed_answer(client) for _ in range(3) for client in workers]
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)

    latencies = [seconds for seconds, _ in during]
    # One request pays the cache's short socket timeout (0.5 s) when it first meets the hung Redis; the
    # others skip it. Before the outbox, each answer waited on the broker with no timeout at all.
    assert max(latencies) < 2.0, latencies
    assert statistics.median(latencies) < max(0.5, 3 * statistics.median(s for s, _ in before)), latencies
    submitted = [submission for _, (_, submission) in before + during]
    assert EmotionAnnotation.objects.filter(submission_id__in=submitted).count() == len(submitted) == 12
    assert PendingRefresh.objects.count() == 12  # every refresh request kept, for the beat to drain
    assert queued_tasks(redis_server) == 0
