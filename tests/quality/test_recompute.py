"""The dashboard's "recompute now": it needs the change permission, and one recomputation is pending at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from quality import tasks
from quality.models import QualityReport, Recomputation
from quality.services import pending_recomputation, queue_recompute, run_recomputation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
RECOMPUTE = "admin:quality_qualityreport_recompute"
DASHBOARD = "admin:quality_qualityreport_changelist"


@pytest.fixture
def sent(monkeypatch):
    """The task messages sent (the broker is not needed: what matters is how many)."""
    messages = []
    monkeypatch.setattr(tasks.recompute_quality, "delay", lambda *args: messages.append(args))
    return messages


def staff_with(client, *codenames):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="quality", codename__in=codenames))
    client.force_login(user)
    return user


def test_view_only_staff_cannot_queue_a_recomputation(client, sent, django_capture_on_commit_callbacks):
    staff_with(client, "view_qualityreport")
    page = client.get(reverse(DASHBOARD)).content.decode()
    assert "Recompute now" not in page
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(reverse(RECOMPUTE)).status_code == 403
    assert sent == [] and not Recomputation.objects.exists()


def test_the_change_permission_queues_one(client, sent, django_capture_on_commit_callbacks):
    user = staff_with(client, "view_qualityreport", "change_qualityreport")
    assert "Recompute now" in client.get(reverse(DASHBOARD)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse(RECOMPUTE)).status_code == 302
    recomputation = Recomputation.objects.get()
    assert (recomputation.state, recomputation.trigger, recomputation.requested_by) == ("queued", "admin", user.username)
    assert sent == [("admin", recomputation.pk)]


def test_a_second_request_while_one_is_pending_says_so_and_queues_nothing(admin_client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse(RECOMPUTE))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse(RECOMPUTE), follow=True)
    assert "A recomputation is already queued or running (queued since" in response.content.decode()
    assert "Recompute now" not in response.content.decode() and "A recomputation is queued" in response.content.decode()
    assert len(sent) == 1 and Recomputation.objects.count() == 1


def test_the_slot_is_free_again_when_the_recomputation_finishes(admin_client, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse(RECOMPUTE))
    ((trigger, recomputation_id),) = sent
    report_id = tasks._recompute_quality(trigger, recomputation_id)  # what the worker runs
    done = Recomputation.objects.get(pk=recomputation_id)
    assert (done.state, done.active, done.report_id) == ("done", None, report_id)
    assert QualityReport.objects.get().trigger == "admin"
    assert tasks._recompute_quality(trigger, recomputation_id) is None  # delivered twice: nothing runs twice
    assert QualityReport.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse(RECOMPUTE))
    assert len(sent) == 2 and Recomputation.objects.filter(active=True).count() == 1


def test_a_failed_recomputation_frees_the_slot(monkeypatch):
    recomputation = queue_recompute("admin")
    monkeypatch.setattr("quality.services.recompute_quality", lambda trigger: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_recomputation("admin", recomputation.pk)
    recomputation.refresh_from_db()
    assert (recomputation.state, recomputation.active) == ("failed", None) and "ZeroDivisionError" in recomputation.error
    assert pending_recomputation() is None


def test_the_beat_skips_its_turn_while_one_is_pending():
    queued = queue_recompute("admin")
    assert run_recomputation("schedule") is None and not QualityReport.objects.exists()
    assert run_recomputation("admin", queued.pk) is not None
    report = run_recomputation("schedule")  # nothing pending now: the beat's own run
    assert report.trigger == "schedule" and Recomputation.objects.get(report=report).state == "done"


def test_one_lost_for_longer_than_the_timeout_no_longer_blocks(settings, sent):
    settings.QUALITY_RECOMPUTE_TIMEOUT_MINUTES = 30
    lost = queue_recompute("admin")
    assert queue_recompute("admin") is None
    Recomputation.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    assert pending_recomputation() is None
    again = queue_recompute("admin")
    assert again is not None and again.pk != lost.pk
    lost.refresh_from_db()
    assert (lost.state, lost.active) == ("failed", None) and lost.error.startswith("timed out")


def test_the_database_holds_at_most_one_pending(db):
    Recomputation.objects.create(trigger="admin")
    with pytest.raises(IntegrityError), transaction.atomic():
        Recomputation.objects.create(trigger="schedule", state="running")
