"""Workers asking at the same moment never over-allocate a person, or an image waiting for boxes.

PostgreSQL: threads with their own connections, released together by a
barrier, against ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED``. SQLite: the same race
in a fresh process whose default database is an SQLite file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from annotator.models import BoxAnnotation, EmotionAnnotation, TaskAssignment
from catalog.models import Image
from tests.annotator.assignment_race import race, run_together, summary
from tests.factories import ImageFactory, PersonFactory, WorkerFactory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_hidden_controls(settings):
    settings.GOLD_RATE = 0.0


@pytest.mark.django_db(transaction=True)
def test_one_free_slot_goes_to_exactly_one_of_many_workers_asking_at_once():
    assert django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    person = PersonFactory(image=ImageFactory(split="train"))  # one annotator
    given = race(WorkerFactory.create_batch(12), rounds=1)
    assert given == [(given[0][0], person.pk)]
    assert EmotionAnnotation.objects.filter(person=person).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_crowd_of_workers_fills_every_slot_exactly_once():
    images = [ImageFactory(split=split) for split in ("train", "val", "test")]
    people = [PersonFactory(image=image) for image in images for _ in range(3)]
    needed = {"train": 1, "val": 5, "test": 3}
    workers = WorkerFactory.create_batch(10)
    given = race(workers, rounds=20)
    # A claimer that finds every free row locked gets nothing this time; ask once more, one by one.
    given += race(workers, rounds=20)
    result = summary(given)
    assert result["duplicates"] == 0
    for person in people:
        stored = EmotionAnnotation.objects.filter(person=person).count()
        assert stored == needed[person.image.split], person
    assert result["counters"] == result["truth"]
    assert not TaskAssignment.objects.filter(state="assigned").exists()


def box_race(workers, *, rounds: int, answer: bool) -> list[tuple[int, int]]:
    """Every worker asks for up to ``rounds`` box tasks, all starting together; (worker id, image id) per task.

    With ``answer`` each task is answered "no people" (the image then ends stage 1
    with nobody in it, so no emotions task follows); without, each worker keeps
    its one live task and asks once.
    """
    from annotator.services.assignment import assign_next_task
    from annotator.services.submission import submit_task

    def turns(worker):
        for _ in range(rounds if answer else 1):
            task = assign_next_task(worker)
            if task is None:
                return
            assert task.kind == "boxes", task.kind
            yield worker.pk, task.image_id
            if answer:
                submit_task(worker, task.pk, uuid.uuid4(), {"boxes": [], "no_people": True})

    return run_together(workers, turns)


@pytest.mark.django_db(transaction=True)
def test_one_image_waiting_for_boxes_goes_to_exactly_one_of_many_workers_asking_at_once(settings):
    assert django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    settings.BOX_ANNOTATORS_PER_IMAGE = 1
    image = ImageFactory(boxes_confirmed=False)
    given = box_race(WorkerFactory.create_batch(12), rounds=1, answer=False)
    assert given == [(given[0][0], image.pk)]
    image.refresh_from_db()
    assert image.box_slots_taken == 1
    assert TaskAssignment.objects.filter(image=image, state="assigned").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_crowd_of_workers_fills_every_box_slot_exactly_once(settings):
    settings.BOX_ANNOTATORS_PER_IMAGE = 3
    images = ImageFactory.create_batch(4, boxes_confirmed=False)
    workers = WorkerFactory.create_batch(10)
    given = box_race(workers, rounds=10, answer=True)
    # A claimer that finds every free row locked gets nothing this time; then each asks again, one at a time.
    given += [pair for worker in workers for pair in box_race([worker], rounds=10, answer=True)]
    assert len(given) == len(set(given)), "a worker got the same image twice"
    assert Counter(image for _, image in given) == {image.pk: 3 for image in images}
    answers = Counter(BoxAnnotation.objects.values_list("image", flat=True))
    for image in Image.objects.filter(pk__in=[image.pk for image in images]):
        assert (answers[image.pk], image.box_slots_taken, image.boxes_confirmed) == (3, 3, True), image.pk
    assert not TaskAssignment.objects.filter(state="assigned").exists()


def test_on_sqlite_the_serialised_fallback_never_over_allocates(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "tests.annotator.assignment_race", str(tmp_path / "race.sqlite3")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["engine"] == "sqlite"
    assert result["duplicates"] == 0
    assert result["most_per_person"] == 3
    assert result["stored"] == 4 * 3  # every slot filled once: SQLite serialises, so no claimer comes away empty
    assert result["counters"] == result["truth"]
