"""A deploy that renames Celery tasks must not strand the messages already queued under the old names.

Quality's tasks were ``annotator.quality.tasks.*`` while quality lived inside
the annotator app; messages sent before the move still carry those names,
and a worker of the new code runs them.
"""

from __future__ import annotations

import pytest

from quality.models import QualityReport
from tests.factories import EmotionAnnotationFactory, PersonFactory, WorkerFactory
from tests.faults.conftest import publishing_to, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
OLD_NAMES = ("annotator.quality.tasks.refresh_after_answer", "annotator.quality.tasks.recompute_quality")


def test_messages_queued_under_the_names_before_quality_moved_still_run(private_redis, start_worker):
    with publishing_to(private_redis.url) as app:
        person = PersonFactory()
        answer = EmotionAnnotationFactory(person=person, worker=WorkerFactory(), categories=["Peace"])
        EmotionAnnotationFactory(person=person, worker=WorkerFactory(), categories=["Peace", "Happiness"])
        private_redis.client().delete("celery")  # the refreshes these answers queued under the new name
        app.send_task(OLD_NAMES[0], args=[answer.worker_id, person.pk])
        app.send_task(OLD_NAMES[1], args=["command"])
    assert private_redis.client().llen("celery") == 2

    worker = start_worker("celery")
    report = wait_until(lambda: QualityReport.objects.filter(trigger="command").first(), "the report", worker=worker)
    assert report.figures["all"]["people"] == 1
    for name in OLD_NAMES:
        wait_until(lambda name=name: any(f"Task {name}[" in line and " succeeded " in line for line in worker.lines),
                   f"{name} to succeed", worker=worker)
    assert not any("KeyError" in line or "unregistered task" in line.lower() for line in worker.lines), worker.log()
