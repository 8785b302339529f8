"""An admin starts a training run; a real Celery worker trains it; the admin sees progress and metrics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from emotic_export.models import DatasetSnapshot
from tests.factories import UserFactory
from tests.training.conftest import write_snapshot
from training.models import TrainingRun
from training.services import TrainingRunError, request_cancel, run_training, start_training_run

ROOT = Path(__file__).resolve().parents[2]
TINY = {"epochs": 2, "batch_size": 4, "num_workers": 0, "device": "cpu", "learning_rate": 0.001, "seed": 1}


def stored_snapshot(media: Path, name: str = "synthetic", formats=("npy",)) -> DatasetSnapshot:
    write_snapshot(media / "snapshots" / name / "arrays")
    return DatasetSnapshot.objects.create(
        name=name, state="complete", storage_key=f"snapshots/{name}", completed_at=timezone.now(), formats=list(formats)
    )


@pytest.fixture
def celery_worker(media_in_tmp, tmp_path):
    """A real worker process on the training queue, sharing the test database, broker and media folder.

    It listens on the broker this test process already publishes to (the app's
    connection pool is set up once per process), with stale training messages
    of earlier runs removed first.
    """
    from config.celery import app

    broker = app.conf.broker_url
    redis.Redis.from_url(broker).delete("training")
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(media_in_tmp),
        "TRAINING_WORK_DIR": str(tmp_path / "training-work"),
    }
    log = (tmp_path / "worker.log").open("w")  # a file, not a pipe: a full pipe would stall the worker
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "training", "--pool=solo",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()


def wait_for(run_id: int, states: set[str], timeout: float = 300) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = TrainingRun.objects.get(pk=run_id)
        if run.state in states:
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {run.state} after {timeout}s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_admin_flow_from_start_to_finished_metrics_with_a_real_worker(client, media_in_tmp, celery_worker):
    snapshot = stored_snapshot(media_in_tmp)
    client.force_login(UserFactory(username="researcher", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:training_trainingrun_add"),
        {"snapshot": snapshot.pk, "mode": "body", "optimizer": "adamw", **TINY},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = TrainingRun.objects.get()
    assert run.hyperparameters["epochs"] == 2

    run = wait_for(run.pk, {"succeeded", "failed"})
    assert run.state == "succeeded", run.error
    assert run.epoch == 2 and run.step == 4 and len(run.history) == 2
    assert 0 <= run.best_val_map <= 1
    assert 0 <= run.metrics["mean_average_precision"] <= 1
    assert Path(media_in_tmp, run.checkpoint_key).is_file()

    page = client.get(reverse("admin:training_trainingrun_change", args=[run.pk]))
    assert page.status_code == 200
    assert b"average_precision.png" in page.content and b"val mAP" in page.content
    plot = client.get(reverse("training:report", args=[run.pk, "loss_curves.png"]))
    assert plot.status_code == 200 and b"".join(plot.streaming_content).startswith(b"\x89PNG")
    status = client.get(reverse("training:status", args=[run.pk])).json()
    assert status["state"] == "succeeded" and status["epoch"] == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_running_run_is_cancelled_from_the_admin_and_shows_live_progress(client, media_in_tmp, celery_worker):
    snapshot = stored_snapshot(media_in_tmp)
    run = start_training_run(snapshot=snapshot, mode="body", hyperparameters={**TINY, "epochs": 200})
    wait_for(run.pk, {"running"})
    deadline = time.monotonic() + 120
    while TrainingRun.objects.get(pk=run.pk).step == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    status = client.get(reverse("training:status", args=[run.pk])).json()  # what the admin page polls
    assert status["state"] == "running" and status["step"] > 0
    response = client.post(
        reverse("admin:training_trainingrun_changelist"),
        {"action": "cancel_runs", "_selected_action": [run.pk]},
        follow=True,
    )
    assert "Asked 1 run(s) to stop." in response.content.decode()
    run = wait_for(run.pk, {"cancelled", "failed", "succeeded"})
    assert run.state == "cancelled" and run.epoch < 200
    assert not request_cancel(run)  # a finished run cannot be asked again


@pytest.mark.django_db
def test_a_run_needs_a_complete_trainable_snapshot_and_valid_hyperparameters(media_in_tmp):
    building = DatasetSnapshot.objects.create(name="half", state="building")
    with pytest.raises(TrainingRunError, match="^snapshot: half is building"):
        start_training_run(snapshot=building, mode="body")
    nothing_to_train_on = DatasetSnapshot.objects.create(
        name="jsonl-only", state="complete", storage_key="snapshots/jsonl-only", completed_at=timezone.now(),
        formats=["jsonl"],
    )
    with pytest.raises(TrainingRunError, match=r"^snapshot: jsonl-only has neither the baseline arrays \(npy\) nor"):
        start_training_run(snapshot=nothing_to_train_on, mode="body")
    ready = stored_snapshot(media_in_tmp, "ready")
    with pytest.raises(TrainingRunError, match="^epochs: "):
        start_training_run(snapshot=ready, mode="body", hyperparameters={"epochs": 0})
    with pytest.raises(TrainingRunError, match="^learning_rat"):
        start_training_run(snapshot=ready, mode="body", hyperparameters={"learning_rate": -1})
    with pytest.raises(TrainingRunError, match="^body_weights: '/etc/passwd' is not a weights file in TRAINING_WEIGHTS_DIR"):
        start_training_run(snapshot=ready, mode="body", hyperparameters={"body_weights": "/etc/passwd"})
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_the_admin_form_names_a_bad_hyperparameter(client, media_in_tmp):
    snapshot = stored_snapshot(media_in_tmp)
    client.force_login(UserFactory(username="researcher", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:training_trainingrun_add"),
        {"snapshot": snapshot.pk, "mode": "body", "optimizer": "adamw", **TINY, "batch_size": 1},
    )
    assert response.status_code == 200
    assert b"<li>Batch size: Ensure this value is greater than or equal to 2.</li>" in response.content
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_queued_run_is_cancelled_at_once_and_the_worker_that_picks_it_up_does_nothing(media_in_tmp, settings, tmp_path):
    settings.TRAINING_WORK_DIR = tmp_path / "training-work"
    run = start_training_run(snapshot=stored_snapshot(media_in_tmp), mode="body", hyperparameters=TINY)

    assert request_cancel(run)
    run.refresh_from_db()
    assert run.state == "cancelled" and run.cancel_requested and run.finished_at is not None
    finished_at = run.finished_at

    picked_up = run_training(run.pk)  # the task's message, delivered after the cancel
    assert picked_up.state == "cancelled" and picked_up.finished_at == finished_at
    assert picked_up.started_at is None and picked_up.step == 0
    assert not (tmp_path / "training-work" / "runs" / str(run.pk)).exists()


@pytest.mark.django_db
def test_cancelling_a_finished_run_changes_nothing(media_in_tmp):
    snapshot = stored_snapshot(media_in_tmp)
    finished_at = timezone.now()
    for state in ("succeeded", "failed", "cancelled"):
        run = TrainingRun.objects.create(snapshot=snapshot, mode="body", state=state, finished_at=finished_at)
        assert not request_cancel(run)
        run.refresh_from_db()
        assert (run.state, run.finished_at, run.cancel_requested) == (state, finished_at, False)


def _cancel_form(page) -> tuple[str, str] | None:
    """The run page's cancel form: its action and CSRF token, or None when the page has none."""
    found = re.search(r'<form method="post" action="([^"]+)" id="cancel-run">\s*'
                      r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return found.groups() if found else None


@pytest.mark.django_db
def test_the_run_page_cancels_the_run_with_a_csrf_protected_post(media_in_tmp):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="researcher", is_staff=True, is_superuser=True))
    snapshot = stored_snapshot(media_in_tmp)
    queued = start_training_run(snapshot=snapshot, mode="body", hyperparameters=TINY)
    page_url = reverse("admin:training_trainingrun_change", args=[queued.pk])

    action, token = _cancel_form(client.get(page_url))
    assert action == reverse("admin:training_trainingrun_cancel", args=[queued.pk])
    assert client.post(action).status_code == 403  # no token, no cancel
    assert TrainingRun.objects.get(pk=queued.pk).state == "queued"

    response = client.post(action, {"csrfmiddlewaretoken": token}, follow=True)
    assert response.redirect_chain == [(page_url, 302)]
    assert f"Run {queued.pk} cancelled." in response.content.decode()
    assert TrainingRun.objects.get(pk=queued.pk).state == "cancelled"
    assert _cancel_form(response) is None  # nothing left to cancel, so no button

    running = TrainingRun.objects.create(snapshot=snapshot, mode="body", state="running")
    action, token = _cancel_form(client.get(reverse("admin:training_trainingrun_change", args=[running.pk])))
    response = client.post(action, {"csrfmiddlewaretoken": token}, follow=True)
    assert f"Run {running.pk} asked to stop; it stops at its next step." in response.content.decode()
    running.refresh_from_db()
    assert running.state == "running" and running.cancel_requested

    # A stale page's button, pressed after the run finished: nothing changes, and the page says why.
    finished = TrainingRun.objects.create(snapshot=snapshot, mode="body", state="succeeded", finished_at=timezone.now())
    response = client.post(reverse("admin:training_trainingrun_cancel", args=[finished.pk]),
                           {"csrfmiddlewaretoken": token}, follow=True)
    assert f"Run {finished.pk} has already succeeded; nothing to cancel." in response.content.decode()
    finished.refresh_from_db()
    assert finished.state == "succeeded" and not finished.cancel_requested
    assert client.get(reverse("admin:training_trainingrun_cancel", args=[finished.pk])).status_code == 405
