"""The worker pages: sign-up, log-in, the worker's own page in each state, history, tokens."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotator.models import ApiToken, Worker
from annotator.services.submission import submit_task
from emotic.taxonomy import CATEGORIES
from tests.factories import PASSWORD, GoldItemFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def logged_in(worker) -> Client:
    client = Client()
    assert client.login(username=worker.user.username, password=PASSWORD)
    return client


def test_sign_up_makes_a_pending_worker_and_logs_it_in():
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "password1": "a-quite-long-passphrase", "password2": "a-quite-long-passphrase"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/work/"
    worker = Worker.objects.get(user__username="newcomer")
    assert worker.qualification == Worker.Qualification.PENDING
    assert response.context["user"].is_authenticated


def test_sign_up_explains_a_bad_password_per_field():
    response = Client().post("/accounts/signup/", {"username": "x", "password1": "123", "password2": "124"})
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert not Worker.objects.exists()


def test_log_in_leads_a_worker_to_its_page():
    worker = WorkerFactory()
    response = Client().post("/accounts/login/", {"username": worker.user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/work/"  # without a next: a worker's own page (staff: the admin)
    page = Client().get("/accounts/login/").content.decode()
    assert "/accounts/signup/" in page


def test_pages_need_a_log_in():
    for path in ("/work/", "/work/annotate/", "/work/history/", "/work/api-tokens/"):
        assert Client().get(path)["Location"].startswith("/accounts/login/")


def test_a_pending_worker_is_invited_to_the_qualification_test():
    GoldItemFactory.create_batch(3, for_qualification=True)
    page = logged_in(WorkerFactory(pending=True)).get("/work/").content.decode()
    assert "Qualification test" in page and "Start the qualification test" in page


def test_a_pending_worker_is_told_when_the_test_is_not_ready():
    page = logged_in(WorkerFactory(pending=True)).get("/work/").content.decode()
    assert "not ready yet" in page and "Start the qualification test" not in page


def test_a_failed_worker_sees_why_and_which_items_were_wrong(settings):
    settings.QUALIFICATION_ITEMS = 1
    gold = GoldItemFactory(  # an explanation is shown only where marked safe, for an item that is no hidden control
        for_qualification=True, for_control=False, show_explanation=True, explanation="Look at the smile and the party around her."
    )
    worker = WorkerFactory(pending=True)
    task = TaskAssignmentFactory(worker=worker, person=gold.person, gold_item=gold, is_qualification=True)
    answer = {"categories": ["Anger"], "valence": 2, "arousal": 8, "dominance": 5, "gender": "Male", "age": "Adult"}
    submit_task(worker, task.pk, uuid.uuid4(), answer)
    client = logged_in(worker)
    page = client.get("/work/").content.decode()
    assert "did not pass the qualification test" in page
    assert "Look at the smile and the party around her." in page
    assert "Start annotating" not in page
    assert client.get("/work/annotate/")["Location"] == "/work/"


def test_a_blocked_worker_sees_the_reason():
    page = logged_in(WorkerFactory(blocked=True)).get("/work/").content.decode()
    assert "Your account is blocked: failed too many control items." in page


def test_the_annotation_page_shows_the_taxonomy_sliders_without_default_and_the_key_map():
    page = logged_in(WorkerFactory()).get("/work/annotate/").content.decode()
    for category in CATEGORIES:
        assert f'value="{category.name}"' in page and category.definition in page
    for low, high in (("negative", "positive"), ("calm", "active"), ("dominated", "in control")):
        assert f"1 · {low}" in page and f"{high} · 10" in page
    assert page.count('aria-valuetext="not set"') == 3
    assert "Keyboard shortcuts" in page and "Kid (0-12)" in page and "Adult (over 20)" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # scripts and styles come from this server, no CDN


def test_history_page_lists_the_workers_answers():
    worker = WorkerFactory()
    task = TaskAssignmentFactory(worker=worker)
    answer = {"categories": ["Esteem"], "valence": 6, "arousal": 4, "dominance": 7, "gender": "Female", "age": "Kid"}
    submit_task(worker, task.pk, uuid.uuid4(), answer)
    page = logged_in(worker).get("/work/history/").content.decode()
    assert "Esteem; V 6, A 4, D 7; Female, Kid" in page


def test_a_token_is_shown_once_and_can_be_revoked():
    worker = WorkerFactory()
    client = logged_in(worker)
    page = client.post("/work/api-tokens/", {"name": "bridge"}).content.decode()
    token = ApiToken.objects.get(worker=worker)
    assert token.key_prefix in page and 'id="new-key"' in page
    assert 'id="new-key"' not in client.get("/work/api-tokens/").content.decode()
    client.post(f"/work/api-tokens/{token.pk}/revoke/")
    assert not ApiToken.objects.exists()


def test_the_token_page_shows_when_each_token_expires(settings):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    worker = WorkerFactory()
    client = logged_in(worker)
    client.post("/work/api-tokens/", {"name": "fresh"})
    client.post("/work/api-tokens/", {"name": "stale"})
    fresh, stale = ApiToken.objects.get(name="fresh"), ApiToken.objects.get(name="stale")
    ApiToken.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=31))
    stale.refresh_from_db()
    page = client.get("/work/api-tokens/").content.decode()
    assert f"expires {(fresh.created_at + timedelta(days=30)):%Y-%m-%d %H:%M}" in page
    assert f"expired {(stale.created_at + timedelta(days=30)):%Y-%m-%d %H:%M}" in page
    assert "works for 30 days after it is made" in page


def test_expired_tokens_do_not_count_against_the_limit(settings):
    from annotator.services.workers import MAX_TOKENS_PER_WORKER, create_api_token

    worker = WorkerFactory()
    for i in range(MAX_TOKENS_PER_WORKER):
        create_api_token(worker, f"old {i}")
    ApiToken.objects.update(created_at=timezone.now() - timedelta(days=settings.API_TOKEN_LIFETIME_DAYS + 1))
    create_api_token(worker, "new")  # the expired ones no longer take a place
    assert worker.api_tokens.count() == MAX_TOKENS_PER_WORKER + 1


def test_a_worker_cannot_revoke_someone_elses_token():
    other = ApiToken.objects.create(
        worker=WorkerFactory(), name="theirs", key_prefix="abcdefgh", key_sha256="0" * 64
    )
    logged_in(WorkerFactory()).post(f"/work/api-tokens/{other.pk}/revoke/")
    assert ApiToken.objects.filter(pk=other.pk).exists()
