"""The admin is warned before the hidden controls run short, and sees each gold item's exposure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotator.models import GoldItem, TaskAssignment, Worker
from annotator.selectors import control_pool
from tests.factories import GoldItemFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db
DASHBOARD = "admin:quality_qualityreport_changelist"
GOLD_LIST = "admin:annotator_golditem_changelist"


def active(worker: Worker, days_ago: float = 1) -> Worker:
    Worker.objects.filter(pk=worker.pk).update(last_task_request_at=timezone.now() - timedelta(days=days_ago))
    return worker


def met(worker, gold, passed=None, state=TaskAssignment.State.SUBMITTED):
    target = {"person": gold.person} if gold.kind == "emotions" else {"kind": "boxes", "person": None, "image": gold.image}
    return TaskAssignmentFactory(worker=worker, gold_item=gold, gold_passed=passed, state=state, **target)


@pytest.fixture
def pool(settings):
    """5 emotion controls (one also a qualification item), 1 box control, 1 retired; three workers."""
    settings.GOLD_RATE, settings.CONTROL_POOL_WARN_TASKS = 0.1, 30
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_POOL_WARN_ITEMS = 3, 12
    emotions = GoldItemFactory.create_batch(4) + [GoldItemFactory(for_qualification=True)]
    boxes = GoldItemFactory(boxes=True)
    retired = GoldItemFactory(retired=True)
    done_all, started = active(WorkerFactory()), active(WorkerFactory())
    long_gone = active(WorkerFactory(), days_ago=90)
    for gold in [*emotions, boxes]:
        met(done_all, gold, passed=True)
    met(done_all, retired, passed=True)
    met(started, emotions[0], passed=False)
    met(started, emotions[1], passed=None, state=TaskAssignment.State.ASSIGNED)
    for gold in emotions:
        met(long_gone, gold, passed=True)
    return {"emotions": emotions, "boxes": boxes, "retired": retired, "workers": (done_all, started, long_gone)}


def test_per_kind_the_items_their_exposure_the_exhausted_workers_and_the_tasks_left(pool):
    figures = control_pool()
    emotions, boxes, everything = figures.rows
    assert figures.active_workers == 2  # the worker gone for 90 days is not counted
    assert (emotions.items, emotions.retired, emotions.in_qualification) == (5, 1, 1)
    assert (emotions.times_shown, emotions.most_shown, emotions.mean_shown) == (5 + 2 + 5, 3, 12 / 5)
    assert emotions.workers_exhausted == 1 and emotions.tasks_covered == 0 and emotions.new_worker_tasks == 50
    assert (boxes.items, boxes.times_shown, boxes.workers_exhausted, boxes.tasks_covered) == (1, 1, 1, 0)
    assert (everything.items, everything.workers_exhausted, everything.tasks_covered) == (6, 1, 0)
    assert all(row.short for row in figures.rows)
    assert any("Hidden controls (all kinds) run short" in w and "1 active worker(s) have met every one" in w for w in figures.warnings)
    assert any("1 hidden control(s) are qualification items too" in w for w in figures.warnings)
    assert any("drawn from only 1" in w for w in figures.warnings)


def test_no_warning_while_the_pool_lasts(pool, settings):
    done_all = pool["workers"][0]
    Worker.objects.filter(pk=done_all.pk).update(last_task_request_at=timezone.now() - timedelta(days=60))
    GoldItem.objects.filter(for_qualification=True).update(for_qualification=False)
    GoldItemFactory.create_batch(12, for_qualification=True, for_control=False)
    settings.CONTROL_POOL_WARN_TASKS = 10  # the threshold is a setting
    figures = control_pool()
    emotions, boxes, everything = figures.rows
    assert figures.active_workers == 1 and everything.tasks_covered == 40  # 4 controls left at 1 in 10 tasks
    assert (emotions.tasks_covered, boxes.tasks_covered) == (30, 10)
    assert figures.warnings == []
    settings.CONTROL_POOL_WARN_TASKS = 35
    assert [w.split(":")[0] for w in control_pool().warnings] == [
        "Hidden controls (emotions) run short", "Hidden controls (boxes) run short",
    ]


def test_the_gold_items_list_shows_each_items_exposure_and_the_pool(pool, admin_client):
    html = admin_client.get(reverse(GOLD_LIST)).content.decode()
    assert 'id="control-pool"' in html and "run short" in html
    assert "times shown" in html and "pass rate" in html and "last shown" in html
    first = pool["emotions"][0]
    row = html[html.index(f'value="{first.pk}"'):]
    row = row[: row.index("</tr>")]
    assert 'field-times_shown">3<' in row and "67% of 3" in row  # shown 3 times; passed by 2 of the 3 who answered


def test_an_admin_retires_an_over_exposed_item_without_touching_its_answers(pool, admin_client):
    first = pool["emotions"][0]
    answers = list(TaskAssignment.objects.filter(gold_item=first).values_list("pk", "gold_passed"))
    response = admin_client.post(
        reverse(GOLD_LIST), {"action": "retire_selected", "_selected_action": [first.pk]}, follow=True
    )
    assert "1 item(s) retired" in response.content.decode()
    first.refresh_from_db()
    assert first.retired and first.for_control
    assert list(TaskAssignment.objects.filter(gold_item=first).values_list("pk", "gold_passed")) == answers
    assert control_pool().rows[0].items == 4


def test_the_quality_dashboard_warns_before_the_controls_run_short(pool, admin_client, settings):
    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert 'id="control-pool"' in html and "Hidden controls (all kinds) run short" in html
    assert reverse(GOLD_LIST) in html
    settings.CONTROL_POOL_WARN_TASKS, settings.QUALIFICATION_POOL_WARN_ITEMS = 0, 0
    GoldItem.objects.update(for_qualification=False)
    html = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert 'id="control-pool"' in html and "run short" not in html
