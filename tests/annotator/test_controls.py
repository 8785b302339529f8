"""Hidden controls and qualification items: drawn per worker from a pool, never twice, skips cost, retiring.

F6 of "Ready for the open internet": controls were the same people for everyone
(order_by("?") over a small pool), skipping one cost nothing, and the
qualification's feedback could be reused on a new account.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from annotator.models import EmotionAnnotation, GoldItem, TaskAssignment
from annotator.selectors import qualification_results
from annotator.services.assignment import assign_next_task, drawable_controls
from annotator.services.gold import draw_order, set_retired
from annotator.services.qualification import qualification_size
from annotator.services.submission import report_task, skip_task, submit_task
from tests.factories import PASSWORD, GoldItemFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db

RIGHT = {"categories": ["Happiness"], "valence": 8, "arousal": 6, "dominance": 6, "gender": "Male", "age": "Adult"}
WRONG = {**RIGHT, "categories": ["Anger"]}


@pytest.fixture
def every_task_a_control(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 5
    settings.SECRET_KEY = "a-test-secret-key-of-reasonable-length-0123456789"


def controls_met(worker, count: int, answer=RIGHT) -> list[int]:
    met = []
    for _ in range(count):
        task = assign_next_task(worker)
        assert task is not None and task.gold_item_id is not None
        met.append(task.gold_item_id)
        submit_task(worker, task.pk, uuid.uuid4(), answer)
    return met


# --- the draw: an order of each worker's own, keyed with the secret key -------------------------------------------


def test_the_draw_order_is_fixed_for_a_worker_and_its_own(settings):
    settings.SECRET_KEY = "first-key-" + "x" * 40
    items = list(range(1, 41))
    mine = draw_order(7, "controls", items)
    assert sorted(mine) == items and mine == draw_order(7, "controls", reversed(items))  # the same order every time
    assert len({tuple(draw_order(worker, "controls", items)[:5]) for worker in range(1, 21)}) == 20
    assert draw_order(7, "qualification", items) != mine  # each pool has its own order
    settings.SECRET_KEY = "second-key-" + "y" * 40
    assert draw_order(7, "controls", items) != mine  # unpredictable without the key


def test_each_worker_meets_the_controls_in_its_own_order(every_task_a_control):
    golds = GoldItemFactory.create_batch(20)
    ids = [g.pk for g in golds]
    sequences = {}
    for _ in range(4):
        worker = WorkerFactory()
        sequences[worker.pk] = controls_met(worker, 5)
        assert sequences[worker.pk] == draw_order(worker.pk, "controls", ids)[:5]
    assert len({tuple(s) for s in sequences.values()}) == 4  # no fixed list to compare notes on


def test_a_skipped_or_reported_control_is_never_given_again_and_is_a_failed_answer(every_task_a_control):
    GoldItemFactory.create_batch(3)
    worker = WorkerFactory()
    skipped = assign_next_task(worker)
    skip_task(worker, skipped.pk, "hard to tell")
    reported = assign_next_task(worker)
    report_task(worker, reported.pk, "too dark")
    last = assign_next_task(worker)
    assert len({skipped.gold_item_id, reported.gold_item_id, last.gold_item_id}) == 3
    skip_task(worker, last.pk)
    assert assign_next_task(worker) is None  # nothing left to draw, and no real work
    assert list(TaskAssignment.objects.filter(worker=worker).values_list("gold_passed", flat=True)) == [False] * 3


def test_skipping_controls_leads_to_a_block_as_failing_them_does(every_task_a_control, settings):
    from quality.services import refresh_after_answer

    settings.QUALITY_AUTO_BLOCK, settings.QUALITY_GOLD_MIN_ANSWERS, settings.QUALITY_GOLD_WINDOW = True, 4, 10
    GoldItemFactory.create_batch(6)
    skipper = WorkerFactory()
    for _ in range(5):
        skip_task(skipper, assign_next_task(skipper).pk)
    refresh_after_answer(skipper.pk)
    skipper.refresh_from_db()
    assert skipper.is_blocked and skipper.gold_answered == 5 and skipper.gold_accuracy == 0.0


def test_whether_a_skipped_control_counts_is_a_setting(every_task_a_control, settings):
    from quality.services import refresh_after_answer

    settings.QUALITY_SKIPPED_CONTROL_FAILS = False
    GoldItemFactory.create_batch(3)
    worker = WorkerFactory()
    controls_met(worker, 1)
    skip_task(worker, assign_next_task(worker).pk)
    refresh_after_answer(worker.pk)
    worker.refresh_from_db()
    assert (worker.gold_answered, worker.gold_accuracy) == (1, 1.0)


# --- retiring ------------------------------------------------------------------------------------------------------


def test_a_retired_control_is_drawn_no_more_and_its_answers_stay(every_task_a_control):
    over_exposed, fresh = GoldItemFactory(), GoldItemFactory()
    first = WorkerFactory()
    task = TaskAssignmentFactory(worker=first, person=over_exposed.person, gold_item=over_exposed)
    submit_task(first, task.pk, uuid.uuid4(), RIGHT)
    assert set_retired([over_exposed.pk]) == 1 and set_retired([over_exposed.pk]) == 0
    assert list(drawable_controls()) == [fresh]
    others = [WorkerFactory() for _ in range(5)]
    assert {assign_next_task(w).gold_item_id for w in others} == {fresh.pk}
    task.refresh_from_db()
    assert task.gold_passed is True and EmotionAnnotation.objects.filter(assignment=task).exists()
    assert GoldItem.objects.get(pk=over_exposed.pk).retired


def test_a_retired_qualification_item_is_drawn_no_more_and_shortens_the_pool(settings):
    settings.QUALIFICATION_ITEMS, settings.GOLD_RATE = 3, 0.0
    items = GoldItemFactory.create_batch(3, for_qualification=True, for_control=False)
    set_retired([items[0].pk])
    assert qualification_size() == 2
    worker = WorkerFactory(pending=True)
    given = {assign_next_task(worker).gold_item_id}
    assert items[0].pk not in given


# --- the qualification test: each account its own items; feedback without the key ---------------------------------


def test_each_account_draws_its_own_qualification_items_from_the_pool(settings):
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_PASS_RATE, settings.GOLD_RATE = 3, 0.6, 0.0
    pool = [g.pk for g in GoldItemFactory.create_batch(12, for_qualification=True, for_control=False)]
    tests = []
    for _ in range(4):
        worker = WorkerFactory(pending=True)
        items = []
        for _ in range(3):
            task = assign_next_task(worker)
            items.append(task.gold_item_id)
            submit_task(worker, task.pk, uuid.uuid4(), RIGHT)
        assert items == draw_order(worker.pk, "qualification", pool)[:3]
        tests.append(frozenset(items))
    assert len(set(tests)) > 1  # not the same test for every account


def failed_home_page(settings, **gold_fields) -> str:
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_PASS_RATE, settings.GOLD_RATE = 1, 1.0, 0.0
    GoldItemFactory(for_qualification=True, explanation="She laughs: Happiness, valence 8 or more.", **gold_fields)
    worker = WorkerFactory(pending=True)
    submit_task(worker, assign_next_task(worker).pk, uuid.uuid4(), WRONG)
    client = Client()
    assert client.login(username=worker.user.username, password=PASSWORD)
    page = client.get("/work/").content.decode()
    assert "did not pass the qualification test" in page
    assert "this answer is outside what we accept for this person" in page
    return page


def test_the_feedback_of_a_failed_item_gives_no_answer_by_default(settings):
    page = failed_home_page(settings, for_control=False)
    assert "She laughs" not in page and "Happiness, valence" not in page


def test_an_explanation_marked_safe_is_shown_but_never_for_an_item_that_is_also_a_control(settings):
    assert "She laughs" in failed_home_page(settings, for_control=False, show_explanation=True)
    GoldItem.objects.all().delete()
    assert "She laughs" not in failed_home_page(settings, for_control=True, show_explanation=True)


def test_a_skipped_qualification_item_is_no_result_and_another_item_replaces_it(settings):
    settings.QUALIFICATION_ITEMS, settings.GOLD_RATE = 1, 0.0
    GoldItemFactory.create_batch(2, for_qualification=True, for_control=False)
    PersonFactory()
    worker = WorkerFactory(pending=True)
    skipped = assign_next_task(worker)
    skip_task(worker, skipped.pk)
    assert qualification_results(worker) == []
    replacement = assign_next_task(worker)
    assert replacement.is_qualification and replacement.gold_item != skipped.gold_item
