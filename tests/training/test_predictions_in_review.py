"""A trained model can be chosen on the image review page to show its predictions for each person."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from emotic_export.models import DatasetSnapshot
from tests.factories import ImageFactory, PersonFactory, UserFactory
from tests.training.conftest import write_snapshot
from training.hyperparameters import Hyperparameters
from training.loop import train_model
from training.models import TrainingRun
from training.predict import load_predictor

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """One epoch of a real body+context model on a tiny snapshot, trained once for this module."""
    root = tmp_path_factory.mktemp("trained")
    hyperparameters = Hyperparameters(mode="body_context", epochs=1, batch_size=4, num_workers=0, device="cpu", seed=2)
    return train_model(write_snapshot(root / "arrays"), root / "run", hyperparameters).best_checkpoint


@pytest.fixture
def trained_run(checkpoint) -> TrainingRun:
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s", completed_at=timezone.now())
    run = TrainingRun.objects.create(snapshot=snapshot, mode="body_context", state="succeeded", best_val_map=0.25)
    with checkpoint.open("rb") as handle:
        run.checkpoint_key = default_storage.save(f"training-runs/{run.pk}/best.pt", File(handle))
    run.save(update_fields=["checkpoint_key"])
    run.local_checkpoint = checkpoint
    return run


def test_the_review_page_shows_the_chosen_models_predictions(client, trained_run):
    image = ImageFactory(file=True, width=320, height=240)
    person = PersonFactory(image=image, x1=20, y1=10, x2=180, y2=230)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:annotator_image_review", args=[image.pk])

    without = client.get(url)
    assert without.status_code == 200
    assert f'<option value="{trained_run.pk}"'.encode() in without.content
    assert b"quality-prediction" not in without.content

    page = client.get(url, {"model": trained_run.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert "quality-prediction" in html and f"Model (run {trained_run.pk})" in html
    with default_storage.open(image.storage_key, "rb") as handle:
        from PIL import Image as PILImage

        expected = load_predictor(trained_run.local_checkpoint, device="cpu").predict(PILImage.open(handle).convert("RGB"), person.box)
    assert f"<td>{round(expected.vad['valence'], 2)}</td>" in html
    top_name = max(expected.scores, key=expected.scores.get)
    assert f"top scores: {top_name}" in html


def test_a_missing_checkpoint_is_explained_not_a_crash(client, trained_run):
    default_storage.delete(trained_run.checkpoint_key)
    image = ImageFactory(file=True)
    PersonFactory(image=image)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:annotator_image_review", args=[image.pk]), {"model": trained_run.pk})
    assert page.status_code == 200
    assert b"No predictions: the checkpoint" in page.content and b"missing from storage" in page.content
