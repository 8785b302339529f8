"""Work scopes: another part narrows a worker's pool (kinds, splits) and ends its work; the annotator keeps to them."""

from __future__ import annotations

import pytest
from django.test import Client

from annotator.models import TaskAssignment, TaskKind
from annotator.services.assignment import next_task, release_live_tasks
from annotator.services.scopes import WorkScope, register_scope_provider, unregister_scope_provider
from tests.factories import GoldItemFactory, ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0


@pytest.fixture
def scopes():
    """Give workers scopes: ``scopes[worker.pk] = WorkScope(...)``."""
    given: dict[int, WorkScope] = {}

    def provider(worker):
        return given.get(worker.pk)

    register_scope_provider(provider)
    yield given
    unregister_scope_provider(provider)


def test_a_scope_narrows_the_kinds(scopes):
    PersonFactory()
    image = ImageFactory(boxes_confirmed=False)
    worker = WorkerFactory(bounded=True)
    scopes[worker.pk] = WorkScope(kinds=frozenset({TaskKind.BOXES}))
    task = next_task(worker).task
    assert task.kind == TaskKind.BOXES and task.image_id == image.pk


def test_a_scope_narrows_the_splits_and_the_outlook_keeps_to_them(scopes):
    PersonFactory(image__split="train")
    val = PersonFactory(image__split="val")
    worker = WorkerFactory(bounded=True)
    scopes[worker.pk] = WorkScope(splits=frozenset({"val"}))
    assert next_task(worker).task.person_id == val.pk
    TaskAssignment.objects.filter(worker=worker).update(state="submitted")
    outcome = next_task(worker)
    assert outcome.task is None and outcome.outlook == "done"  # the train person is outside the scope


def test_a_finished_scope_gives_no_new_task_but_keeps_the_one_held(scopes):
    PersonFactory()
    PersonFactory()
    worker = WorkerFactory(bounded=True)
    held = next_task(worker).task
    scopes[worker.pk] = WorkScope(finished=True, finish_url="/elsewhere/")
    assert next_task(worker).task == held
    TaskAssignment.objects.filter(pk=held.pk).update(state="submitted")
    outcome = next_task(worker)
    assert (outcome.task, outcome.outlook, outcome.finish_url) == (None, "done", "/elsewhere/")


def test_a_finished_scope_gives_no_qualification_item_either(scopes):
    GoldItemFactory(for_qualification=True)
    worker = WorkerFactory(pending=True, bounded=True)
    scopes[worker.pk] = WorkScope(finished=True, finish_url="/consent-first/")
    assert next_task(worker).finish_url == "/consent-first/"
    assert not TaskAssignment.objects.exists()


def test_the_api_and_the_page_show_the_scope(scopes):
    worker = WorkerFactory(bounded=True)
    scopes[worker.pk] = WorkScope(finished=True, finish_url="/the-end/", label="This session: 0 of 3 tasks left.",
                                  tasks_left=0)
    client = Client()
    client.force_login(worker.user)
    response = client.get("/api/tasks/next/")
    assert response.status_code == 204 and response["Work-Finish-URL"] == "/the-end/"
    assert client.get("/api/me/").json()["session"] == {
        "label": "This session: 0 of 3 tasks left.", "tasks_left": 0, "minutes_left": None, "finished": True,
        "finish_url": "/the-end/"}
    page = client.get("/work/annotate/")
    assert b'id="session-banner"' in page.content and b'data-finish-url="/the-end/"' in page.content
    # A worker without a scope: no session, no banner, no header.
    plain = Client()
    plain.force_login(WorkerFactory().user)
    assert plain.get("/api/me/").json()["session"] is None
    assert b"session-banner" not in plain.get("/work/annotate/").content


def test_only_bounded_workers_are_asked_about(scopes):
    PersonFactory()
    free = WorkerFactory()
    scopes[free.pk] = WorkScope(finished=True, finish_url="/never/")
    assert next_task(free).task is not None  # not bounded: the providers are not asked


def test_released_tasks_go_back_to_the_pool_at_once():
    task = TaskAssignmentFactory()
    other = WorkerFactory()
    assert next_task(other).task is None
    assert release_live_tasks(task.worker) == 1
    task.refresh_from_db()
    assert task.state == TaskAssignment.State.EXPIRED
    assert next_task(other).task.person_id == task.person_id
    assert release_live_tasks(task.worker) == 0
