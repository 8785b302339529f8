"""Many workers asking for tasks at the same moment, against whichever database is configured.

Used by ``test_assignment_concurrency.py`` in this process (PostgreSQL) and,
through ``python -m tests.annotator.assignment_race <sqlite file>``, in a
fresh process whose default database is SQLite. It prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections import Counter

from django.db import connection

ANSWER = {"categories": ["Peace"], "valence": 5, "arousal": 4, "dominance": 6, "gender": "Female", "age": "Adult"}


def run_together(workers, turns) -> list[tuple[int, int]]:
    """Run ``turns(worker)`` for every worker in a thread of its own, all starting at the same moment.

    ``turns`` yields a (worker id, target id) pair for each task handed out;
    the pairs of all threads are returned. A failure in any thread is raised here.
    """
    start = threading.Barrier(len(workers))
    given: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker):
        try:
            start.wait()
            for pair in turns(worker):
                with lock:
                    given.append(pair)
        except BaseException as error:  # reported to the test, never swallowed
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return given


def race(workers, *, rounds: int) -> list[tuple[int, int]]:
    """Every worker asks for and answers up to ``rounds`` tasks, all starting together.

    Returns (worker id, person id) for every task handed out.
    """
    from annotator.services.assignment import assign_next_task
    from annotator.services.submission import submit_task

    def turns(worker):
        for _ in range(rounds):
            task = assign_next_task(worker)
            if task is None:
                return
            yield worker.pk, task.person_id
            submit_task(worker, task.pk, uuid.uuid4(), ANSWER)

    return run_together(workers, turns)


def summary(given: list[tuple[int, int]]) -> dict:
    from annotator.models import EmotionAnnotation, Person

    per_person = Counter(person for _, person in given)
    return {
        "given": len(given),
        "duplicates": len(given) - len(set(given)),
        "most_per_person": max(per_person.values(), default=0),
        "stored": EmotionAnnotation.objects.count(),
        "counters": {str(p.pk): p.annotation_slots_taken for p in Person.objects.all()},
        "truth": {str(p): n for p, n in Counter(EmotionAnnotation.objects.values_list("person", flat=True)).items()},
    }


def main(sqlite_path: str) -> None:
    """Run the race on a new SQLite database file (the settings give it BEGIN IMMEDIATE)."""
    import os

    os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    settings.GOLD_RATE = 0.0
    from tests.factories import ImageFactory, PersonFactory, WorkerFactory

    image = ImageFactory(split="test")  # 3 annotators per person
    PersonFactory.create_batch(4, image=image)
    workers = WorkerFactory.create_batch(8)
    given = race(workers, rounds=10)
    print(json.dumps({"engine": connection.vendor, **summary(given)}))


if __name__ == "__main__":
    main(sys.argv[1])
