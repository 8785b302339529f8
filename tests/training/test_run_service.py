"""``run_training`` as a worker calls it, inline: the snapshot fetched from real storage, failures and notes.

The Celery round trip itself is tested in test_runs; here the service runs in
the test process, so each case costs one tiny training and no worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files import File
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from emotic_export.models import DatasetSnapshot
from tests.factories import UserFactory
from tests.training.conftest import write_snapshot
from tests.training.test_data_from_mat import emotic_download
from training.core.devices import DeviceError
from training.models import TrainingRun
from training.services import TrainingRunError, _local_snapshot_arrays, run_training, start_training_run

pytestmark = pytest.mark.django_db
TINY = {"epochs": 1, "batch_size": 2, "num_workers": 0, "device": "cpu", "learning_rate": 0.001, "seed": 1}


@pytest.fixture(autouse=True)
def work_dir(settings, tmp_path) -> Path:
    """The worker's own disk (fetched snapshots, run folders), fresh for each test."""
    settings.TRAINING_WORK_DIR = tmp_path / "training-work"
    settings.TRAINING_WORK_DIR.mkdir()
    return settings.TRAINING_WORK_DIR


def store_folder(folder: Path, prefix: str) -> list[str]:
    """Every file of ``folder`` saved under ``prefix`` in the default storage, as the exporter leaves it."""
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as handle:
            keys.append(default_storage.save(f"{prefix}/{path.relative_to(folder).as_posix()}", File(handle)))
    return keys


def snapshot_row(name: str, formats: list[str]) -> DatasetSnapshot:
    return DatasetSnapshot.objects.create(
        name=name, state="complete", storage_key=f"snapshots/{name}", completed_at=timezone.now(), formats=formats
    )


def test_on_s3_the_arrays_are_fetched_once_and_the_results_stored_in_the_bucket(s3_storage, tmp_path, work_dir):
    client, bucket = s3_storage
    arrays = write_snapshot(tmp_path / "exported" / "arrays")
    store_folder(arrays, "snapshots/on-s3/arrays")
    run = start_training_run(snapshot=snapshot_row("on-s3", ["npy"]), mode="body", hyperparameters=TINY)

    run = run_training(run.pk)

    assert run.state == "succeeded", run.error
    cache = work_dir / "snapshots" / "on-s3" / "arrays"
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in arrays.iterdir())
    assert all((cache / p.name).read_bytes() == p.read_bytes() for p in arrays.iterdir())
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="training-runs/")["Contents"]}
    assert run.checkpoint_key == f"training-runs/{run.pk}/best.pt" and run.checkpoint_key in keys
    assert f"training-runs/{run.pk}/report/average_precision.png" in keys
    assert run.metrics["evaluated_split"] == "test" and "note" not in run.metrics
    assert not [p for p in work_dir.iterdir() if p.name.startswith(".fetch-")]  # no staging left behind

    # Snapshots never change, so a later run reads the cache and not the bucket.
    _, names = default_storage.listdir("snapshots/on-s3/arrays")
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"snapshots/on-s3/arrays/{n}"} for n in names]})
    assert default_storage.listdir("snapshots/on-s3/arrays") == ([], [])
    assert _local_snapshot_arrays(run.snapshot) == cache


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_a_snapshot_exported_without_arrays_trains_from_its_mat_and_images(request, storage, tmp_path, work_dir):
    if storage == "s3":
        request.getfixturevalue("s3_storage")
    store_folder(emotic_download(tmp_path / "exported", people_per_split=4), "snapshots/mat-only")
    snapshot = snapshot_row("mat-only", ["mat", "jsonl"])
    run = start_training_run(snapshot=snapshot, mode="body", hyperparameters=TINY)

    run = run_training(run.pk)

    assert run.state == "succeeded", run.error
    assert run.metrics["evaluated_split"] == "test" and len(run.history) == 1
    cache = work_dir / "snapshots" / "mat-only" / "arrays"
    assert {f"{split}_cat_arr.npy" for split in ("train", "val", "test")} <= {p.name for p in cache.iterdir()}
    assert np.load(cache / "test_cat_arr.npy").shape == (4, 26)
    # The arrays are built on the worker's disk; the stored snapshot stays as exported.
    assert sorted(default_storage.listdir("snapshots/mat-only")[0]) == ["Annotations", "emotic"]


def test_a_snapshot_with_neither_arrays_nor_mat_is_refused_naming_the_formats_it_needs():
    with pytest.raises(TrainingRunError, match=r"^snapshot: jsonl-only has neither the baseline arrays \(npy\) nor "
                                        r"Annotations.mat with its images \(mat\), only jsonl, coco; export a new "
                                        r"snapshot with the npy or mat format"):
        start_training_run(snapshot=snapshot_row("jsonl-only", ["jsonl", "coco"]), mode="body")
    assert not TrainingRun.objects.exists()


def test_a_cuda_run_on_a_worker_without_a_gpu_fails_naming_the_device(media_in_tmp, monkeypatch, work_dir):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # whatever this machine has
    store_folder(write_snapshot(media_in_tmp / "exported" / "arrays"), "snapshots/gpu-wanted/arrays")
    run = start_training_run(snapshot=snapshot_row("gpu-wanted", ["npy"]), mode="body",
                             hyperparameters={**TINY, "device": "cuda"})

    with pytest.raises(DeviceError):  # re-raised, so Celery records the task as failed too
        run_training(run.pk)

    run.refresh_from_db()
    assert run.state == "failed" and run.finished_at is not None
    assert run.error == "DeviceError: device: 'cuda' was asked for but no CUDA device is available"
    assert not run.checkpoint_key and not (work_dir / "runs" / str(run.pk) / "last.pt").exists()


@pytest.mark.parametrize(
    ("test_split", "why"),
    [(None, "has no test split (test_cat_arr.npy is missing)"), (0, "has an empty test split")],
    ids=["missing", "empty"],
)
def test_a_snapshot_without_test_samples_is_evaluated_on_val_and_the_run_says_so(
    client, media_in_tmp, test_split, why
):
    arrays = write_snapshot(media_in_tmp / "snapshots" / "no-test" / "arrays", {"train": 6, "val": 4})
    if test_split == 0:  # what the exporter writes for a split with nobody in it
        for name, shape in (("context", (0, 224, 224, 3)), ("body", (0, 128, 128, 3))):
            np.save(arrays / f"test_{name}_arr.npy", np.zeros(shape, np.uint8))
        np.save(arrays / "test_cat_arr.npy", np.zeros((0, 26), np.float32))
        np.save(arrays / "test_cont_arr.npy", np.zeros((0, 3), np.float32))
    run = start_training_run(snapshot=snapshot_row("no-test", ["npy"]), mode="body", hyperparameters=TINY)

    run = run_training(run.pk)

    assert run.state == "succeeded", run.error
    note = f"The snapshot {why}, so these metrics are on the validation split"
    assert run.metrics["evaluated_split"] == "val" and run.metrics["note"].startswith(note)
    with default_storage.open(run.report_key) as handle:
        report = json.load(handle)
    assert report["split"] == "val" and report["metrics"]["note"] == run.metrics["note"]
    client.force_login(UserFactory(username="researcher", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:training_trainingrun_change", args=[run.pk]))
    assert note in page.content.decode()
