"""The API's one exception handler (config/api_errors.py): every 4xx answers the documented contract.

``{"detail": "<field>: <reason>", "code": "<code>", "errors": {"<field>": ["<reason>", ...]}}``,
whatever raised it: a service's FieldError, DRF's own checks (authentication,
CSRF, parsing, validation, negotiation, throttling), Django's Http404 and
PermissionDenied, or the body-size middleware. Real requests through the real
API URLs; where no URL can make an exception happen, a service is made to raise it.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.test import Client
from django.utils import timezone
from rest_framework import exceptions

from annotator.api import WorkerThrottle
from annotator.models import ApiToken, EmotionAnnotation, TaskAssignment
from annotator.services.errors import (
    AnswerInvalid,
    ImageFileMissing,
    SubmissionConflict,
    TaskNotFound,
    TaskNotOpen,
    WorkerNotEligible,
)
from annotator.services.workers import create_api_token
from emotic.errors import FieldError
from tests.factories import ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = [pytest.mark.django_db]

NEXT, ME = "/api/tasks/next/", "/api/me/"
TOKEN_CHALLENGE = 'Token realm="api"'


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    cache.clear()
    yield
    cache.clear()


def answer(**changes) -> dict:
    return {
        "submission_id": str(uuid.uuid4()), "categories": ["Engagement"], "valence": 4, "arousal": 6, "dominance": 3,
        "gender": "Male", "age": "Kid", **changes,
    }


class PageClient(Client):
    """Signed in with a session, sending the CSRF token from the cookie as the page does."""

    def __init__(self, worker=None):
        super().__init__(enforce_csrf_checks=True)
        self.worker = worker or WorkerFactory()
        self.force_login(self.worker.user)
        self.get("/work/")
        self.csrf_token = self.cookies["csrftoken"].value

    def post_json(self, path, body, **extra):
        raw = body if isinstance(body, str) else json.dumps(body)
        return self.post(path, raw, content_type="application/json", HTTP_X_CSRFTOKEN=self.csrf_token, **extra)


def assert_contract(response, status: int, field: str, code: str, words: str = "") -> dict:
    """The documented shape: detail is ``field: reason``, errors holds the reason under the field."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}, body
    assert body["code"] == code, body
    assert isinstance(body["errors"], dict) and body["errors"], body
    assert all(isinstance(reasons, list) and reasons and all(isinstance(r, str) for r in reasons)
               for reasons in body["errors"].values()), body
    assert field in body["errors"], body
    assert body["detail"] == f"{field}: {body['errors'][field][0]}", body
    assert words in body["detail"], body
    return body


# --- the four that broke the contract before ---------------------------------------------------------


def test_a_session_post_without_the_csrf_token_is_403_in_the_contract_shape():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post(f"/api/tasks/{task.pk}/submit/", answer(), content_type="application/json")
    assert_contract(response, 403, "X-CSRFToken", "csrf_failed", "CSRF")
    assert not EmotionAnnotation.objects.exists()
    assert TaskAssignment.objects.get(pk=task.pk).state == "assigned"


def test_no_credentials_at_all_is_401_with_the_token_challenge():
    response = Client().get(NEXT)
    assert_contract(response, 401, "Authorization", "not_authenticated")
    assert response["WWW-Authenticate"] == TOKEN_CHALLENGE
    assert not TaskAssignment.objects.exists()


def test_an_unknown_token_is_401_with_the_token_challenge():
    response = Client().get(NEXT, HTTP_AUTHORIZATION="Token not-a-real-key")
    assert_contract(response, 401, "Authorization", "authentication_failed", "unknown or revoked token")
    assert response["WWW-Authenticate"] == TOKEN_CHALLENGE


def test_a_malformed_json_body_is_400_naming_the_body():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post_json(f"/api/tasks/{task.pk}/submit/", '{"submission_id": ')
    assert_contract(response, 400, "body", "parse_error", "JSON parse error")
    assert TaskAssignment.objects.get(pk=task.pk).state == "assigned"


# --- authentication ------------------------------------------------------------------------------------


def test_a_revoked_token_is_401_with_the_token_challenge():
    worker = WorkerFactory(api_access=True)
    token, key = create_api_token(worker, "old script")
    assert Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).delete()
    response = Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}")
    assert_contract(response, 401, "Authorization", "authentication_failed", "unknown or revoked token")
    assert response["WWW-Authenticate"] == TOKEN_CHALLENGE


def test_an_expired_token_is_401_like_an_unknown_one(settings):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    worker = WorkerFactory(api_access=True)
    token, key = create_api_token(worker, "old script")
    ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - timedelta(days=29, hours=23))
    assert Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - timedelta(days=30, seconds=1))
    expired = Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}")
    unknown = Client().get(ME, HTTP_AUTHORIZATION="Token not-a-real-key")
    assert_contract(expired, 401, "Authorization", "authentication_failed", "unknown or revoked token")
    assert expired["WWW-Authenticate"] == TOKEN_CHALLENGE and expired.json() == unknown.json()
    # A session beside it changes nothing: the request is judged by its token.
    session = Client()
    session.force_login(worker.user)
    assert session.get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


@pytest.mark.parametrize("header", ["Token", "Token two keys", "Bearer"])
def test_a_malformed_authorization_header_is_401_with_the_token_challenge(header):
    response = Client().get(ME, HTTP_AUTHORIZATION=header)
    assert_contract(response, 401, "Authorization", "authentication_failed", "expected 'Token <key>'")
    assert response["WWW-Authenticate"] == TOKEN_CHALLENGE


def test_a_program_with_a_token_needs_no_csrf_token_and_a_page_session_still_works():
    worker = WorkerFactory(api_access=True)
    _, key = create_api_token(worker, "bridge")
    task = TaskAssignmentFactory(worker=worker)
    program = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {key}")
    assert program.post(f"/api/tasks/{task.pk}/submit/", answer(), content_type="application/json").status_code == 201
    page = PageClient(worker)
    assert page.get(ME).status_code == 200


def test_a_csrf_failure_of_a_signed_in_session_stays_403_without_a_challenge():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post(f"/api/tasks/{task.pk}/skip/", {"reason": "x"}, content_type="application/json",
                           HTTP_X_CSRFTOKEN="0" * 32)
    assert_contract(response, 403, "X-CSRFToken", "csrf_failed", "CSRF Failed")
    assert "WWW-Authenticate" not in response


# --- the services' errors ---------------------------------------------------------------------------------


def test_an_answer_breaking_a_rule_is_400_invalid():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post_json(f"/api/tasks/{task.pk}/submit/", answer(valence=11))
    assert_contract(response, 400, "valence", "invalid", "must be from 1 to 10, got 11")


def test_a_blocked_worker_is_403_with_the_blocked_code():
    response = PageClient(WorkerFactory(blocked=True)).get(NEXT)
    assert_contract(response, 403, "worker", "blocked", "blocked")


def test_another_workers_task_is_404_not_found():
    client = PageClient()
    task = TaskAssignmentFactory()
    assert_contract(client.post_json(f"/api/tasks/{task.pk}/skip/", {}), 404, "task", "not_found", f"no task {task.pk}")
    assert_contract(client.get(f"/api/tasks/{task.pk}/image/"), 404, "task", "not_found", f"no task {task.pk}")


def test_a_submitted_task_is_409_task_closed():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    assert client.post_json(f"/api/tasks/{task.pk}/submit/", answer()).status_code == 201
    response = client.post_json(f"/api/tasks/{task.pk}/skip/", {})
    assert_contract(response, 409, "task", "task_closed", "was already submitted")


def test_a_submission_id_used_for_another_task_is_409_submission_conflict():
    client = PageClient()
    first, second = TaskAssignmentFactory(worker=client.worker), TaskAssignmentFactory(worker=client.worker)
    body = answer()
    assert client.post_json(f"/api/tasks/{first.pk}/submit/", body).status_code == 201
    response = client.post_json(f"/api/tasks/{second.pk}/submit/", body)
    assert_contract(response, 409, "submission_id", "submission_conflict", "different task")


def test_a_lost_image_file_is_404_image_missing():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)  # the factory stores no file
    response = client.get(f"/api/tasks/{task.pk}/image/?size=original")
    assert_contract(response, 404, "image", "image_missing", "missing from storage")


def test_a_bad_query_value_is_400_naming_it():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    assert_contract(client.get(f"/api/tasks/{task.pk}/image/?size=huge"), 400, "size", "invalid", "display or original")


@pytest.mark.parametrize(
    ("error", "status", "field", "code"),
    [
        (AnswerInvalid("categories", "nope"), 400, "categories", "invalid"),
        (WorkerNotEligible("failed_qualification", "no"), 403, "worker", "failed_qualification"),
        (TaskNotFound(7), 404, "task", "not_found"),
        (ImageFileMissing(7), 404, "image", "image_missing"),
        (TaskNotOpen("task", "expired"), 409, "task", "task_closed"),
        (SubmissionConflict("submission_id", "taken"), 409, "submission_id", "submission_conflict"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_each_field_error_answers_its_status_and_code(monkeypatch, error, status, field, code):
    def refuse(worker, **options):
        raise error

    monkeypatch.setattr("annotator.api.next_task", refuse)
    body = assert_contract(PageClient().get(NEXT), status, field, code)
    assert body["errors"] == {field: [error.reason]}


def test_an_error_about_data_the_server_holds_is_a_server_error_that_shows_nothing(monkeypatch):
    # A FieldError that is not about the request (a control item stored with a malformed box, say) must
    # neither blame the worker with a 400 nor show them what the server holds: a logged 500.
    def refuse(worker, **options):
        raise FieldError("expected_boxes[0]", "the hidden answer [1, 2, 3]")

    monkeypatch.setattr("annotator.api.next_task", refuse)
    client = PageClient()
    client.raise_request_exception = False
    response = client.get(NEXT)
    assert response.status_code == 500
    assert b"expected_boxes" not in response.content and b"hidden answer" not in response.content


def test_a_form_body_with_too_many_fields_is_400_in_the_contract_shape(settings):
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    fields = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.post(f"/api/tasks/{task.pk}/skip/", fields, content_type="application/x-www-form-urlencoded",
                           HTTP_X_CSRFTOKEN=client.csrf_token)
    assert_contract(response, 400, "body", "invalid", "number of GET/POST parameters exceeded")


# --- DRF's and Django's exceptions --------------------------------------------------------------------------


def test_nested_validation_errors_are_flattened_by_field():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post_json(f"/api/tasks/{task.pk}/submit/", {"boxes": [[1, 2, "x", 4]], "valence": "high"})
    body = assert_contract(response, 400, "submission_id", "invalid", "required")
    assert set(body["errors"]) == {"submission_id", "valence", "boxes[0][2]"}
    assert body["errors"]["boxes[0][2]"] == ["A valid integer is required."]


def test_a_body_that_is_not_an_object_is_400_naming_the_body():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    assert_contract(client.post_json(f"/api/tasks/{task.pk}/skip/", [1, 2]), 400, "body", "invalid", "dictionary")


def test_a_non_finite_number_is_400_naming_its_field():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post_json(f"/api/tasks/{task.pk}/submit/", '{"boxes": [[1, 2, Infinity, 4]]}')
    assert_contract(response, 400, "boxes[0][2]", "invalid", "must be a finite number, got Infinity")


def test_an_unknown_method_is_405_naming_the_method():
    client = PageClient()
    response = client.put(ME, "{}", content_type="application/json", HTTP_X_CSRFTOKEN=client.csrf_token)
    body = assert_contract(response, 405, "method", "method_not_allowed", "PUT")
    assert "GET" in response["Allow"] and body


def test_an_unacceptable_accept_header_is_406_naming_it():
    response = PageClient().get(ME, HTTP_ACCEPT="application/xml")
    assert_contract(response, 406, "Accept", "not_acceptable")


def test_an_unsupported_content_type_is_415_naming_it():
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post(f"/api/tasks/{task.pk}/skip/", "reason", content_type="text/plain",
                           HTTP_X_CSRFTOKEN=client.csrf_token)
    assert_contract(response, 415, "Content-Type", "unsupported_media_type", "text/plain")


def test_a_throttled_worker_is_429_with_retry_after(monkeypatch):
    monkeypatch.setattr(WorkerThrottle, "rate", "1/minute", raising=False)
    client = PageClient()
    assert client.get(ME).status_code == 200
    response = client.get(ME)
    assert_contract(response, 429, "request", "throttled", "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("error", "status", "field", "code"),
    [
        (Http404("No such thing."), 404, "path", "not_found"),
        (exceptions.NotFound(), 404, "path", "not_found"),
        (DjangoPermissionDenied(), 403, "request", "permission_denied"),
        (exceptions.PermissionDenied("Not for you."), 403, "request", "permission_denied"),
        (exceptions.ParseError("Bad form."), 400, "body", "parse_error"),
        (exceptions.ValidationError("Not like that."), 400, "body", "invalid"),
        (exceptions.ValidationError({"reason": ["Too long."]}), 400, "reason", "invalid"),
        (exceptions.APIException(), 500, None, None),
        (exceptions.NotFound("gone", code="gone"), 404, "path", "gone"),
        (type("Gone", (exceptions.APIException,), {"status_code": 410, "default_code": "gone"})("It went."),
         410, "request", "gone"),
    ],
    ids=["Http404", "NotFound", "django PermissionDenied", "PermissionDenied", "ParseError",
         "ValidationError", "ValidationError by field", "APIException 500", "NotFound with a code", "other 4xx"],
)
def test_drf_and_django_exceptions_answer_the_contract(monkeypatch, error, status, field, code):
    def refuse(worker, **options):
        raise error

    monkeypatch.setattr("annotator.api.next_task", refuse)
    response = PageClient().get(NEXT)
    if field is None:  # a server error keeps DRF's own answer; the contract is for 4xx
        assert response.status_code == status
        return
    assert_contract(response, status, field, code)


def test_the_schema_view_answers_the_contract_too(monkeypatch):
    from rest_framework.throttling import AnonRateThrottle

    monkeypatch.setattr(AnonRateThrottle, "rate", "1/minute", raising=False)
    client = Client(REMOTE_ADDR="203.0.113.90")
    assert client.get("/api/schema/").status_code == 200
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    body = json.loads(response.content)  # in the schema view's own media type
    assert body["code"] == "throttled" and body["detail"] == f"request: {body['errors']['request'][0]}"


# --- the body-size middleware ----------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_in_the_contract_shape(settings):
    client = PageClient()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post_json(f"/api/tasks/{task.pk}/submit/", answer(padding="x" * settings.REQUEST_MAX_BODY_BYTES))
    assert_contract(response, 413, "body", "too_large", str(settings.REQUEST_MAX_BODY_BYTES))


def test_a_malformed_content_length_is_400_in_the_contract_shape():
    response = Client().generic("POST", NEXT, b"a=b", CONTENT_LENGTH="lots")
    assert_contract(response, 400, "Content-Length", "invalid", "whole number of bytes")


# --- pages keep their own answers ---------------------------------------------------------------------------


def test_pages_outside_the_api_keep_their_own_answers():
    PersonFactory()
    assert Client().get("/work/").status_code == 302  # to the log-in page, not a 401
    client = PageClient()
    assert client.post("/work/api-tokens/", {"name": "x"}).status_code == 403  # Django's CSRF page


# --- URLs no route matches, and content negotiation --------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/tasks/abc/submit/", "/api/tasks/-1/image/", "/api/nothing/"])
def test_an_api_url_no_route_matches_is_404_naming_the_path(path):
    assert_contract(PageClient().get(path), 404, "path", "not_found", path)
    assert_contract(Client().post(path), 404, "path", "not_found")


def test_the_image_is_sent_to_a_program_asking_for_an_image_and_its_errors_are_json():
    client = PageClient()
    task = TaskAssignmentFactory(
        worker=client.worker, person=PersonFactory(image=ImageFactory(file=True, width=320, height=240), x1=10, y1=10, x2=100, y2=200)
    )
    for accept in ("image/jpeg", "image/*", "*/*"):
        response = client.get(f"/api/tasks/{task.pk}/image/?size=original", HTTP_ACCEPT=accept)
        assert (response.status_code, response["Content-Type"]) == (200, "image/jpeg"), accept
    missing = client.get(f"/api/tasks/{task.pk + 1000}/image/", HTTP_ACCEPT="image/jpeg")
    assert_contract(missing, 404, "task", "not_found")
    assert_contract(client.get(f"/api/tasks/{task.pk}/image/", HTTP_ACCEPT="text/csv"), 406, "Accept", "not_acceptable")


def test_errors_are_json_even_for_a_client_asking_for_html():
    response = Client().get(ME, HTTP_ACCEPT="text/html")
    assert_contract(response, 406, "Accept", "not_acceptable")
    browser = Client().get(ME, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert_contract(browser, 401, "Authorization", "not_authenticated")


# --- the schema ------------------------------------------------------------------------------------------------


def schema() -> dict:
    return Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_every_operation_documents_each_error_it_can_answer_in_the_error_shape():
    # The workers' API (the researcher API's operations are checked in tests/research_api/).
    operations = {(method.upper(), path): operation for path, methods in schema()["paths"].items()
                  for method, operation in methods.items() if not path.startswith("/api/research/")}
    assert len(operations) == 9
    for (method, path), operation in operations.items():
        expected = {"400", "401", "406", "413", "429"}
        if method == "POST":
            expected |= {"403", "409"}
        if "requestBody" in operation:  # extend takes no body
            expected |= {"415"}
        if "{task_id}" in path or "{sha256}" in path:
            expected |= {"404"}
        if path == NEXT:
            expected |= {"403"}
        documented = {code for code in operation["responses"] if code.startswith("4")}
        assert documented == expected, (method, path, documented)
        for code in documented:
            content = operation["responses"][code]["content"]
            assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}, (path, code)
        assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True


def test_the_error_component_is_the_contract():
    error = schema()["components"]["schemas"]["Error"]
    assert set(error["properties"]) == set(error["required"]) == {"detail", "code", "errors"}
    assert error["properties"]["errors"]["additionalProperties"] == {"type": "array", "items": {"type": "string"}}
