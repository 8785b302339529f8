"""A trained model can be chosen on the image review page to show its predictions for each person."""

from __future__ import annotations

from html import unescape
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from emotic_export.models import DatasetSnapshot
from tests.factories import ImageFactory, PersonFactory, UserFactory, jpeg_bytes
from tests.training.conftest import write_snapshot
from training.core.hyperparameters import Hyperparameters
from tests.training.test_bad_input import _best_checkpoint
from training.core.loop import train_model
from training.core.model import EmoticNet
from training.models import TrainingRun
from training.core.predict import load_predictor
from training.predictions import _checkpoint_path

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """One epoch of a real body+context model on a tiny snapshot, trained once for this module."""
    root = tmp_path_factory.mktemp("trained")
    hyperparameters = Hyperparameters(mode="body_context", epochs=1, batch_size=4, num_workers=0, device="cpu", seed=2)
    return train_model(write_snapshot(root / "arrays"), root / "run", hyperparameters).best_checkpoint


def run_with_checkpoint(checkpoint: Path, mode: str = "body_context") -> TrainingRun:
    """A finished run whose best.pt is ``checkpoint``, saved in the default storage."""
    snapshot, _ = DatasetSnapshot.objects.get_or_create(
        name="s", defaults={"state": "complete", "storage_key": "snapshots/s", "completed_at": timezone.now()}
    )
    run = TrainingRun.objects.create(snapshot=snapshot, mode=mode, state="succeeded", best_val_map=0.25)
    with checkpoint.open("rb") as handle:
        run.checkpoint_key = default_storage.save(f"training-runs/{run.pk}/best.pt", File(handle))
    run.save(update_fields=["checkpoint_key"])
    run.local_checkpoint = checkpoint
    return run


@pytest.fixture(autouse=True)
def work_dir(settings, tmp_path) -> Path:
    """Where a web process keeps checkpoints fetched from S3, fresh for each test."""
    settings.TRAINING_WORK_DIR = tmp_path / "training-work"
    return settings.TRAINING_WORK_DIR


@pytest.fixture
def trained_run(checkpoint) -> TrainingRun:
    return run_with_checkpoint(checkpoint)


def review_page(client, image, run):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client.get(reverse("admin:quality_image_review", args=[image.pk]), {"model": run.pk})


def test_the_review_page_shows_the_chosen_models_predictions(client, trained_run):
    image = ImageFactory(file=True, width=320, height=240)
    person = PersonFactory(image=image, x1=20, y1=10, x2=180, y2=230)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = reverse("admin:quality_image_review", args=[image.pk])

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
    page = client.get(reverse("admin:quality_image_review", args=[image.pk]), {"model": trained_run.pk})
    assert page.status_code == 200
    assert b"No predictions: the checkpoint" in page.content and b"missing from storage" in page.content


def test_on_s3_the_checkpoint_is_fetched_once_to_the_web_processs_disk(client, s3_storage, checkpoint, work_dir):
    client_s3, bucket = s3_storage
    run = run_with_checkpoint(checkpoint)  # into the bucket
    image = ImageFactory(file=True, width=320, height=240)
    PersonFactory(image=image, x1=20, y1=10, x2=180, y2=230)

    page = review_page(client, image, run)

    assert page.status_code == 200 and b"quality-prediction" in page.content
    fetched = work_dir / "predictors" / f"run-{run.pk}.pt"
    assert fetched.read_bytes() == checkpoint.read_bytes()
    assert not list(fetched.parent.glob("*.partial"))
    client_s3.delete_object(Bucket=bucket, Key=run.checkpoint_key)
    assert _checkpoint_path(run) == fetched  # read from disk, not fetched again


@pytest.mark.parametrize(
    ("make_checkpoint", "reason"),
    [
        (lambda path: path.write_bytes(b"not a checkpoint") and path, "not a readable checkpoint"),
        # Saved as mode "body" but holding body+context weights.
        (lambda path: _best_checkpoint(path, mode="body", model=EmoticNet("body_context")),
         "weights do not fit mode 'body'"),
    ],
    ids=["corrupt", "another-architecture"],
)
def test_an_unusable_checkpoint_is_explained_on_the_page_not_a_crash(client, tmp_path, make_checkpoint, reason):
    run = run_with_checkpoint(make_checkpoint(tmp_path / "best.pt"), mode="body")
    image = ImageFactory(file=True)
    PersonFactory(image=image)

    page = review_page(client, image, run)

    assert page.status_code == 200
    text = unescape(page.content.decode())
    assert f"No predictions: the checkpoint of run {run.pk} cannot be used (" in text and reason in text
    assert "quality-prediction" not in text


def test_an_image_file_missing_from_storage_is_explained_on_the_page_not_a_crash(client, trained_run):
    image = ImageFactory(file=True)
    PersonFactory(image=image)
    default_storage.delete(image.storage_key)

    page = review_page(client, image, trained_run)

    assert page.status_code == 200
    assert f"No predictions: the image file {image.storage_key} is missing from storage".encode() in page.content


def test_a_stored_file_smaller_than_its_boxes_is_explained_on_the_page_not_a_crash(client, trained_run):
    image = ImageFactory(file=True, width=320, height=240)
    person = PersonFactory(image=image, x1=20, y1=10, x2=180, y2=230)
    default_storage.delete(image.storage_key)  # replaced behind the database's back by a smaller picture
    default_storage.save(image.storage_key, ContentFile(jpeg_bytes(100, 80, seed=1)))

    page = review_page(client, image, trained_run)

    assert page.status_code == 200
    assert f"No predictions: person {person.pk}: box: [20, 10, 180, 230] lies outside the image (100 x 80 pixels)" \
        in page.content.decode()
