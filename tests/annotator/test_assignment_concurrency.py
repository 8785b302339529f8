"""Workers asking at the same moment never over-allocate a person.

PostgreSQL: threads with their own connections, released together by a
barrier, against ``SELECT ... FOR UPDATE SKIP LOCKED``. SQLite: the same race
in a fresh process whose default database is an SQLite file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from annotator.models import EmotionAnnotation, TaskAssignment
from tests.annotator.assignment_race import race, summary
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
