"""Schemathesis against the OpenAPI schema at /api/schema/: every answer is one the schema documents.

In process, through the WSGI application, as a qualified worker logged in
with a session and sending the CSRF token, as the page does. Each operation
gets a bounded number of generated requests, both schema-valid ones and ones
that break the schema; task ids are random and, for half the cases, the
worker's own tasks (open emotions and boxes tasks, a submitted one, an expired one).
Every response is checked against the schema: no 5xx, a documented status
code, a documented content type, a body matching the documented schema (the
``Error`` shape for every 4xx) and the documented headers (``WWW-Authenticate``
on a 401, ``Retry-After`` on a 429). The same runs without credentials and with
a bogus token reach the 401 path.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotator.api import WorkerThrottle
from annotator.models import TaskAssignment
from tests.factories import ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory, expired_deadline

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = 25
EXAMPLES_PER_OPERATION_UNSIGNED = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def signed_in_worker(monkeypatch, settings):
    """A worker with tasks in every state, and the headers its page would send."""
    settings.GOLD_RATE = 0.0
    monkeypatch.setattr(WorkerThrottle, "rate", "1000000/minute", raising=False)  # throttling has its own tests
    worker = WorkerFactory()
    image = ImageFactory(file=True, width=320, height=240)
    tasks = [
        TaskAssignmentFactory(worker=worker, person=PersonFactory(image=image, x1=10, y1=10, x2=100, y2=200)),
        TaskAssignmentFactory(worker=worker, boxes=True, image=ImageFactory(file=True, boxes_confirmed=False)),
        TaskAssignmentFactory(worker=worker, person=PersonFactory(image=image, x1=120, y1=10, x2=220, y2=200)),
        TaskAssignmentFactory(worker=worker, person=PersonFactory(image=image, x1=230, y1=10, x2=300, y2=200)),
    ]
    TaskAssignment.objects.filter(pk=tasks[2].pk).update(state="submitted", finished_at=timezone.now())
    TaskAssignment.objects.filter(pk=tasks[3].pk).update(
        assigned_at=timezone.now() - 2 * expired_deadline(), expires_at=timezone.now() - expired_deadline()
    )
    client = Client()
    client.force_login(worker.user)
    client.get("/work/")
    session = {"cookies": {name: client.cookies[name].value for name in ("sessionid", "csrftoken")}}
    session["headers"] = {"X-CSRFToken": session["cookies"]["csrftoken"]}
    return session, [task.pk for task in tasks]


@pytest.fixture
def connections_kept_between_requests():
    """As Django's test client does: the WSGI handler must not close the test's database connection
    (and with it the test's transaction) at the end of each request."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def operations():
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_lists_the_worker_api():
    paths = {operation.path for operation in operations()}
    assert {"/api/tasks/next/", "/api/tasks/{task_id}/submit/", "/api/tasks/{task_id}/skip/",
            "/api/tasks/{task_id}/report/", "/api/tasks/{task_id}/image/", "/api/me/", "/api/history/"} <= paths


def run_every_operation(session: dict, task_ids: list[int], examples: int, extra_checks=()) -> list[str]:
    """Generated requests for every operation, sent with ``session``'s cookies and headers; the failures found."""
    failures = []
    for operation in operations():
        breakable = any(len(part) for part in (operation.path_parameters, operation.query, operation.body))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if breakable else (GenerationMode.POSITIVE,):
            strategies = [operation.as_strategy(generation_mode=mode, **session)]
            if "{task_id}" in operation.path:
                strategies += [
                    operation.as_strategy(generation_mode=mode, **session, path_parameters={"task_id": task_id})
                    for task_id in task_ids
                ]

            @given(case=st.one_of(strategies))
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def send(case):
                response = case.call(**session)
                case.validate_response(response, checks=[*CHECKS, *extra_checks], headers=session.get("headers"))

            try:
                send()
            except Exception as error:  # collect every operation's failure, then report them together
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {error}")
    return failures


def test_every_answer_to_a_signed_in_worker_is_documented(signed_in_worker, connections_kept_between_requests):
    session, task_ids = signed_in_worker
    failures = run_every_operation(session, task_ids, EXAMPLES_PER_OPERATION)
    assert failures == [], "\n\n".join(failures)


def asked_to_authenticate(ctx, response, case):
    """Without valid credentials nothing but a 401 (or a 404 for a URL no route matches) comes back."""
    routed = response.status_code != 404 or response.json()["errors"].get("path") is None
    if routed and response.status_code != 401:
        raise AssertionError(f"expected 401 without valid credentials, got {response.status_code}: {response.text[:200]}")
    return None


@pytest.mark.parametrize(
    "credentials",
    [{}, {"headers": {"Authorization": "Token not-a-real-key"}}],
    ids=["no credentials", "a bogus token"],
)
def test_every_answer_without_valid_credentials_is_a_documented_401(
    signed_in_worker, connections_kept_between_requests, credentials
):
    _, task_ids = signed_in_worker  # real task ids: their existence must not show through
    failures = run_every_operation(credentials, task_ids, EXAMPLES_PER_OPERATION_UNSIGNED, [asked_to_authenticate])
    assert failures == [], "\n\n".join(failures)
