"""Row locks held by other transactions never make the pool look empty (PostgreSQL, two real connections).

The claim locks the row it hands out, and skips rows other claimers hold. On
PostgreSQL other transactions also lock rows they never mean to claim: the
deferred foreign-key check of a transaction that inserts a row referencing a
person (an answer, an assignment, quality's agreement row rewritten after every
answer) takes ``FOR KEY SHARE`` on the person while it commits. A claim made
with ``FOR UPDATE SKIP LOCKED`` skipped such a person and answered "nothing to
do" while the person still needed answers. The claim now takes ``FOR NO KEY
UPDATE``, which key-share locks do not block; a row held by a real claimer is
retried a few times before the worker is told to come back.

Each test holds a lock in a second connection (an open transaction) and asks
for a task in the test's own connection, so the race happens every time.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from annotator.models import Person, TaskAssignment, Worker
from annotator.services.assignment import assign_next_task
from catalog.models import Image
from tests.factories import ImageFactory, PersonFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)

PERSON = Person._meta.db_table
IMAGE = Image._meta.db_table
WORKER = Worker._meta.db_table
AGREEMENT = "annotator_personagreement"  # quality.PersonAgreement: one row per person, rewritten after each answer


@pytest.fixture(autouse=True)
def postgresql_only_and_no_hidden_controls(settings):
    assert django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    settings.GOLD_RATE = 0.0


@pytest.fixture(autouse=True)
def waits_fail_fast():
    """A claim that waited on the other connection's lock would hang the test: make it fail instead."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '10s'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


class OtherTransaction:
    """A second connection with a transaction left open: what another request or a Celery task holds."""

    def __init__(self):
        self.wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
        self.wrapper.set_autocommit(False)
        self.open = True

    def run(self, sql: str, params=()) -> list[tuple]:
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def end(self) -> None:
        """Roll back, releasing every lock it holds."""
        if self.open:
            self.wrapper.rollback()
            self.open = False


@contextmanager
def other_transaction(*statements: tuple[str, list]):
    other = OtherTransaction()
    try:
        for sql, params in statements:
            other.run(sql, params)
        yield other
    finally:
        other.end()
        other.wrapper.close()


def skipped_by_for_update(table: str, pk: int) -> bool:
    """Whether ``SELECT ... FOR UPDATE SKIP LOCKED`` (the old claim) skips the row now: proof the lock is held."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE SKIP LOCKED", [pk])
        return cursor.fetchone() is None


def key_share(table: str, pk: int) -> tuple[str, list]:
    return f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE", [pk]


def test_a_person_key_share_locked_by_another_transaction_is_still_given():
    person = PersonFactory()  # one annotator needed, none yet
    worker = WorkerFactory()
    with other_transaction(key_share(PERSON, person.pk)):
        assert skipped_by_for_update(PERSON, person.pk)
        task = assign_next_task(worker)
    assert task is not None, "the claim skipped a person only key-share locked by another transaction"
    assert (task.kind, task.person_id) == ("emotions", person.pk)
    person.refresh_from_db()
    assert person.annotation_slots_taken == 1


def test_a_person_whose_agreement_row_is_being_committed_is_still_given():
    # The quality refresh after an answer rewrites the person's agreement row; at its commit the
    # deferred foreign-key check locks the person FOR KEY SHARE. SET CONSTRAINTS ... IMMEDIATE runs
    # that check now, so the lock is held for as long as the other transaction stays open.
    person = PersonFactory(image=ImageFactory(split="val"))  # five annotators
    worker = WorkerFactory()
    insert_agreement = (
        f"INSERT INTO {AGREEMENT} (person_id, annotators, union_mask, majority_mask, computed_at) "
        "VALUES (%s, 0, 0, 0, now())",
        [person.pk],
    )
    with other_transaction(insert_agreement, ("SET CONSTRAINTS ALL IMMEDIATE", [])):
        assert skipped_by_for_update(PERSON, person.pk)
        task = assign_next_task(worker)
    assert task is not None and task.person_id == person.pk


def test_a_person_whose_new_answer_or_assignment_is_being_committed_is_still_given():
    person = PersonFactory(image=ImageFactory(split="test"))  # three annotators
    other_worker, worker = WorkerFactory.create_batch(2)
    # Another worker's assignment for the same person, mid-commit (a past one: it takes no slot).
    insert_assignment = (
        f"INSERT INTO {TaskAssignment._meta.db_table} (worker_id, kind, person_id, is_qualification, state, "
        "assigned_at, expires_at, finished_at, skip_reason) "
        "VALUES (%s, 'emotions', %s, false, 'expired', now() - interval '2 hours', now() - interval '1 hour', now(), '')",
        [other_worker.pk, person.pk],
    )
    with other_transaction(insert_assignment, ("SET CONSTRAINTS ALL IMMEDIATE", [])):
        assert skipped_by_for_update(PERSON, person.pk)
        task = assign_next_task(worker)
    assert task is not None and task.person_id == person.pk


def test_an_image_key_share_locked_by_another_transaction_still_gets_its_boxes_task():
    image = ImageFactory(boxes_confirmed=False)  # intake adding people to it would lock it so
    worker = WorkerFactory()
    with other_transaction(key_share(IMAGE, image.pk)):
        assert skipped_by_for_update(IMAGE, image.pk)
        task = assign_next_task(worker)
    assert task is not None and (task.kind, task.image_id) == ("boxes", image.pk)


def test_a_person_held_by_a_concurrent_claimer_is_retried_and_given_once_released(monkeypatch):
    person = PersonFactory()
    worker = WorkerFactory()
    pauses = []
    real_sleep = time.sleep
    with other_transaction((f"SELECT id FROM {PERSON} WHERE id = %s FOR UPDATE", [person.pk])) as claimer:

        def pause(seconds):
            # Between attempts the worker row is free: no lock is held across the pause.
            assert claimer.run(f"SELECT id FROM {WORKER} WHERE id = %s FOR UPDATE NOWAIT", [worker.pk])
            pauses.append(seconds)
            claimer.end()  # the other claimer gives the person up (it rolled back)
            real_sleep(seconds)

        monkeypatch.setattr(time, "sleep", pause)
        task = assign_next_task(worker)
    assert len(pauses) == 1, "no second attempt was made"
    assert pauses[0] < 0.1
    assert task is not None and task.person_id == person.pk


def test_a_person_that_stays_locked_past_the_retries_means_work_may_come_soon(client_for):
    from annotator.services import assignment

    person = PersonFactory()
    worker = WorkerFactory()
    with other_transaction((f"SELECT id FROM {PERSON} WHERE id = %s FOR UPDATE", [person.pk])):
        started = time.monotonic()
        outcome = assignment.next_task(worker)
        took = time.monotonic() - started
        response = client_for(worker).get("/api/tasks/next/")
    assert outcome.task is None
    assert (outcome.outlook, outcome.retry_after) == ("later", assignment.RETRY_AFTER_LOCKED)
    assert took < 1.0, f"the retries took {took:.2f} s"
    assert response.status_code == 204
    assert response.headers["Work-Outlook"] == "later"
    assert response.headers["Retry-After"] == str(assignment.RETRY_AFTER_LOCKED)
    assert not TaskAssignment.objects.exists()
    # Released: the next request gets the person.
    assert assign_next_task(worker).person_id == person.pk


def test_a_retried_claim_makes_a_bounded_number_of_attempts(monkeypatch):
    from annotator.services import assignment

    PersonFactory()
    worker = WorkerFactory()
    pauses = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    with other_transaction((f"SELECT id FROM {PERSON} FOR NO KEY UPDATE", [])):
        assert assignment.next_task(worker).task is None
    assert len(pauses) == assignment.CLAIM_ATTEMPTS - 1
    assert sum(pauses) < 0.5
