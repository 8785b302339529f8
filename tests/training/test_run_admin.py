"""The training admin's pages: typed fields and weight files to choose from, the warning when no pretrained
weights are set, errors at the top, metrics flagged when computed on too few samples, the plots, and the
checkpoint and report downloads (staff only, streamed from the storage).

Weights are tiny files of the right shape (a ResNet-18 state_dict saved by the test); runs are trained
inline by ``run_training``, as a worker would (the Celery round trip is test_runs' business).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from emotic_export.models import DatasetSnapshot
from tests.factories import UserFactory
from tests.training.conftest import write_snapshot
from training.core.model import resnet18_trunk
from training.models import TrainingRun
from training.services import TrainingRunError, run_training, start_training_run

pytestmark = pytest.mark.django_db
TINY = {"epochs": "1", "batch_size": "2", "learning_rate": "0.001", "optimizer": "adamw", "device": "cpu", "seed": "1", "num_workers": "0"}
ADD = "admin:training_trainingrun_add"


@pytest.fixture
def weights(settings, tmp_path) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    settings.TRAINING_WEIGHTS_DIR = folder
    settings.TRAINING_BODY_WEIGHTS = settings.TRAINING_CONTEXT_WEIGHTS = ""
    settings.TRAINING_WORK_DIR = tmp_path / "training-work"
    return folder


def resnet18_file(path: Path) -> Path:
    """A ResNet-18 trunk's state_dict with an ImageNet-style fc layer, as torchvision publishes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = resnet18_trunk().state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, path)
    return path


def snapshot(media: Path, name: str = "tiny") -> DatasetSnapshot:
    write_snapshot(media / "snapshots" / name / "arrays", {"train": 4, "val": 4, "test": 6})
    return DatasetSnapshot.objects.create(name=name, state="complete", storage_key=f"snapshots/{name}",
                                          completed_at=timezone.now(), formats=["npy"])


def test_the_new_run_form_has_typed_fields_and_offers_the_weight_files(admin_client, weights):
    resnet18_file(weights / "resnet18-imagenet.pth")
    resnet18_file(weights / "places" / "resnet18_places365.pth.tar")
    (weights / "README.txt").write_text("not weights")
    (weights / ".hidden.pth").write_bytes(b"")
    outside = resnet18_file(weights.parent / "elsewhere" / "secret.pth")
    (weights / "link-out.pth").symlink_to(outside)  # a link leading out of the folder is not offered
    page = admin_client.get(reverse(ADD)).content.decode()
    for field in ("id_epochs", "id_batch_size", "id_learning_rate", "id_body_weights", "id_context_weights"):
        assert f'id="{field}"' in page
    assert 'name="hyperparameters"' not in page  # no raw JSON any more
    assert '<option value="resnet18-imagenet.pth">' in page and '<option value="places/resnet18_places365.pth.tar">' in page
    assert "README.txt" not in page and ".hidden.pth" not in page and "link-out.pth" not in page
    assert "Passes over the training split" in page  # help text
    assert 'id="weights-warning"' not in page


def test_the_form_warns_when_no_pretrained_weights_are_set(admin_client, weights, settings, media_in_tmp):
    page = admin_client.get(reverse(ADD)).content.decode()
    assert 'id="weights-warning"' in page and "No pretrained weights are set: TRAINING_WEIGHTS_DIR" in page
    settings.TRAINING_BODY_WEIGHTS = "/models/resnet18.pth"  # the worker's own default counts
    page = admin_client.get(reverse(ADD)).content.decode()
    assert 'id="weights-warning"' not in page
    assert "none chosen: the worker&#x27;s TRAINING_BODY_WEIGHTS (/models/resnet18.pth)" in page

    settings.TRAINING_BODY_WEIGHTS = ""
    response = admin_client.post(reverse(ADD), {"snapshot": snapshot(media_in_tmp).pk, "mode": "body", **TINY}, follow=True)
    run = TrainingRun.objects.get()
    assert "no pretrained weights are set for the body stream: it starts from random weights" in response.content.decode()
    page = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()
    assert 'id="weights-warning"' in page and "none: random initialisation" in page


def test_a_run_is_started_with_the_typed_values_and_the_chosen_file(admin_client, weights, media_in_tmp):
    resnet18_file(weights / "resnet18-imagenet.pth")
    response = admin_client.post(reverse(ADD), {"snapshot": snapshot(media_in_tmp).pk, "mode": "body",
                                                 "body_weights": "resnet18-imagenet.pth", **TINY})
    assert response.status_code == 302, response.content.decode()[:3000]
    run = TrainingRun.objects.get()
    assert {k: run.hyperparameters[k] for k in ("epochs", "batch_size", "learning_rate", "device", "body_weights")} == {
        "epochs": 1, "batch_size": 2, "learning_rate": 0.001, "device": "cpu", "body_weights": "resnet18-imagenet.pth"
    }
    assert run.hyperparameters["context_weights"] is None


def test_bad_values_are_named_at_the_top_of_the_form_and_nothing_starts(admin_client, weights, media_in_tmp):
    resnet18_file(weights / "resnet18-imagenet.pth")
    ready = snapshot(media_in_tmp)
    cases = [
        ({"epochs": "0"}, "Epochs: Ensure this value is greater than or equal to 1."),
        ({"batch_size": "1"}, "Batch size: Ensure this value is greater than or equal to 2."),
        ({"learning_rate": "-1"}, "Learning rate: must lie in (0, inf], got -1.0"),
        ({"body_weights": "../../etc/passwd"}, "Body stream weights: Select a valid choice. ../../etc/passwd is not one"),
        ({"context_weights": "resnet18-imagenet.pth"}, "Context stream weights: mode &#x27;body&#x27; has no context stream; leave it empty"),
    ]
    for change, shown in cases:
        page = admin_client.post(reverse(ADD), {"snapshot": ready.pk, "mode": "body", **TINY, **change}).content.decode()
        top = page.index('id="form-errors"')
        assert shown in page[top:top + 2000], shown
        assert top < page.index('id="id_snapshot"')  # above the fields
    assert not TrainingRun.objects.exists()


def test_the_service_takes_only_a_file_of_the_weights_folder(weights, media_in_tmp):
    ready = snapshot(media_in_tmp)
    with pytest.raises(TrainingRunError, match=r"^body_weights: '/etc/passwd' is not a weights file in TRAINING_WEIGHTS_DIR .*; files there: none$"):
        start_training_run(snapshot=ready, mode="body", hyperparameters={"body_weights": "/etc/passwd"})
    assert not TrainingRun.objects.exists()


def test_weights_of_the_wrong_shape_fail_the_run_and_the_error_is_at_the_top(admin_client, weights, media_in_tmp):
    torch.save({"conv1.weight": torch.zeros(3, 3, 3, 3)}, weights / "wrong.pth")
    run = start_training_run(snapshot=snapshot(media_in_tmp), mode="body",
                             hyperparameters={"epochs": 1, "batch_size": 2, "num_workers": 0, "device": "cpu", "body_weights": "wrong.pth"})
    with pytest.raises(Exception):
        run_training(run.pk)
    run.refresh_from_db()
    assert run.state == "failed" and "wrong.pth" in run.error and "does not fit the ResNet-18 body stream" in run.error
    page = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()
    error_at = page.index('id="run-error"')
    assert error_at < page.index("field-snapshot") and "does not fit the ResNet-18 body stream" in page[error_at:error_at + 1500]


def test_a_finished_run_shows_flagged_metrics_its_plots_and_offers_its_files_to_staff(admin_client, weights, media_in_tmp):
    resnet18_file(weights / "resnet18-imagenet.pth")
    run = start_training_run(snapshot=snapshot(media_in_tmp), mode="body", hyperparameters={
        "epochs": 1, "batch_size": 2, "num_workers": 0, "device": "cpu", "seed": 1, "body_weights": "resnet18-imagenet.pth"})
    run = run_training(run.pk)
    assert run.state == "succeeded", run.error
    assert run.metrics["samples"] == 6
    page = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()
    assert "Too few samples:</b> computed on 6 sample(s), fewer than TRAINING_MIN_EVALUATION_SAMPLES (100)" in page
    assert "26 of 26 categories have fewer than 10 positives (TRAINING_MIN_CATEGORY_POSITIVES)" in page
    assert 'id="category-ap"' in page and page.count('class="weak"') == 26
    assert "body: resnet18-imagenet.pth" in page and 'id="weights-warning"' not in page
    for plot in ("loss_curves.png", "average_precision.png", "precision_recall.png"):
        assert reverse("training:report", args=[run.pk, plot]) in page
    checkpoint_url, report_url = (reverse(f"training:{name}_download", args=[run.pk]) for name in ("checkpoint", "report"))
    assert checkpoint_url in page and report_url in page

    response = admin_client.get(checkpoint_url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.pk}-best.pt"'
    with default_storage.open(run.checkpoint_key, "rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()
    response = admin_client.get(report_url)
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.pk}-report.json"'
    assert json.loads(b"".join(response.streaming_content))["metrics"]["samples"] == 6

    # Staff only, with the permission to see runs; anyone else gets nothing.
    assert Client().get(checkpoint_url).status_code == 302  # to the log-in page
    worker = Client()
    worker.force_login(UserFactory(username="someone"))
    assert worker.get(checkpoint_url).status_code == 302
    staff = UserFactory(username="staff-without-training", is_staff=True)
    staff_client = Client()
    staff_client.force_login(staff)
    assert staff_client.get(checkpoint_url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_trainingrun"))
    assert staff_client.get(report_url).status_code == 200


def test_a_run_without_files_yet_offers_no_download(admin_client, weights, media_in_tmp):
    run = TrainingRun.objects.create(snapshot=snapshot(media_in_tmp), mode="body", state="running")
    assert admin_client.get(reverse("training:checkpoint_download", args=[run.pk])).status_code == 404
    assert admin_client.get(reverse("training:report_download", args=[run.pk])).status_code == 404
