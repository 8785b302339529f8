"""A Celery worker killed with SIGKILL in the middle of a snapshot build, a crawl and a training run.

Tasks are acknowledged late, so Redis hands a dead worker's task to another
worker once its visibility timeout passes. Each test kills a real worker at a
known point of its job, checks that nothing half-done is visible, starts a
second worker and checks that the job then finishes correctly.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from catalog.models import Image
from emotic.formats.manifest import verify_manifest
from emotic_export.models import DatasetSnapshot
from emotic_export.services import ExportOptions, create_snapshot
from emotic_export.tasks import build_snapshot_task
from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import create_crawl_job, enqueue_crawl_job
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory, UserFactory
from tests.faults.conftest import publishing_to, wait_until
from tests.catalog.images import jpeg
from tests.scraper.local_server import LocalServer, Route
from tests.training.conftest import write_snapshot
from training.models import TrainingRun
from training.services import start_training_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def stored_files(media: Path, under: str = "") -> set[str]:
    root = media / under
    return {p.relative_to(media).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()


# --- a snapshot build ----------------------------------------------------------------------
def annotated_images(count: int) -> list[Image]:
    images = []
    for n in range(count):
        image = ImageFactory(file=True, split="train", width=320, height=240, filename=f"fault-{n}.jpg")
        EmotionAnnotationFactory(person=PersonFactory(image=image, x1=10, y1=10, x2=200, y2=230))
        images.append(image)
    return images


@pytest.fixture
def blocking_image(media_in_tmp):
    """Turn one stored image into a FIFO: a build that copies it blocks there until the test says."""
    holders: list[int] = []

    def block(image: Image) -> tuple[Path, bytes]:
        path = media_in_tmp / image.storage_key
        content = path.read_bytes()
        path.unlink()
        os.mkfifo(path)
        return path, content

    def reader_is_waiting(path: Path) -> bool:
        """True once the worker has opened the FIFO to read; the write end is kept open (no EOF)."""
        try:
            holders.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            return True
        except OSError:
            return False

    yield block, reader_is_waiting
    for descriptor in holders:
        os.close(descriptor)


def test_a_snapshot_build_killed_midway_is_invisible_and_finishes_on_another_worker(
    media_in_tmp, private_redis, start_worker, blocking_image
):
    block, reader_is_waiting = blocking_image
    images = annotated_images(3)
    fifo, real_content = block(images[1])
    snapshot = create_snapshot(name="fault-test", options=ExportOptions(formats=("mat", "jsonl")))
    with publishing_to(private_redis.url):
        build_snapshot_task.delay(snapshot.pk)
    first = start_worker("celery")
    wait_until(lambda: reader_is_waiting(fifo), "the build to reach the blocking image", worker=first)
    assert DatasetSnapshot.objects.get(pk=snapshot.pk).state == DatasetSnapshot.State.BUILDING
    first.kill()

    snapshot.refresh_from_db()
    assert snapshot.state == DatasetSnapshot.State.BUILDING and not snapshot.archive_key and snapshot.completed_at is None
    assert stored_files(media_in_tmp, "snapshots") == set()  # nothing of it in storage
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert admin.get(f"/admin/exports/snapshots/{snapshot.pk}/download/").status_code == 404

    fifo.unlink()
    fifo.write_bytes(real_content)
    second = start_worker("celery")
    wait_until(lambda: DatasetSnapshot.objects.get(pk=snapshot.pk).state == DatasetSnapshot.State.COMPLETE,
               "the redelivered build to complete", worker=second)
    snapshot.refresh_from_db()
    folder = media_in_tmp / snapshot.storage_key
    assert verify_manifest(folder) == []  # every file present, whole, and listed
    assert sorted(p.name for p in (folder / "emotic" / "web" / "images").iterdir()) == ["fault-0.jpg", "fault-1.jpg", "fault-2.jpg"]
    assert (folder / "emotic" / "web" / "images" / "fault-1.jpg").read_bytes() == real_content
    with tarfile.open(media_in_tmp / snapshot.archive_key) as archive:
        assert f"{snapshot.name}/manifest.json" in archive.getnames()
    assert admin.get(f"/admin/exports/snapshots/{snapshot.pk}/download/").status_code == 200


# --- a crawl -----------------------------------------------------------------------------------
@pytest.fixture
def web():
    server = LocalServer().start()
    yield server
    server.stop()


def test_a_crawl_killed_midway_is_taken_over_and_stores_each_image_once(
    media_in_tmp, tmp_path, private_redis, start_worker, web
):
    for n in range(6):
        web.routes[f"/photo-{n}.jpg"] = Route(jpeg(100 + n), headers={"Content-Type": "image/jpeg"})
    # The first request for this one hangs, as a slow server would; later ones answer at once.
    slow = Route(jpeg(200), headers={"Content-Type": "image/jpeg"})
    web.routes["/slow.jpg"] = lambda count: Route(slow.body, headers=slow.headers, delay=60.0 if count == 1 else 0.0)
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(web.url(path) for path in web.routes) + "\n")
    job = create_crawl_job("urls", {"path": str(urls)})
    with publishing_to(private_redis.url):
        enqueue_crawl_job(job)
    first = start_worker("crawl")  # crawls have a queue of their own
    wait_until(lambda: web.hits("/slow.jpg") >= 1, "the crawl to reach the slow image", worker=first)
    first.kill()

    job.refresh_from_db()
    assert job.state == CrawlJob.State.RUNNING
    for image in Image.objects.all():  # whatever was committed is whole
        assert (media_in_tmp / image.storage_key).is_file()

    second = start_worker("crawl")
    wait_until(lambda: CrawlJob.objects.get(pk=job.pk).state == CrawlJob.State.DONE, "the crawl to finish", worker=second)
    job.refresh_from_db()
    assert (job.found, job.stored, job.rejected) == (7, 7, 0), job.rejected_by_reason
    assert set(CrawlItem.objects.filter(job=job).values_list("state", flat=True)) == {CrawlItem.State.STORED}
    assert Image.objects.count() == 7
    assert stored_files(media_in_tmp, "images") == set(Image.objects.values_list("storage_key", flat=True))


# --- a training run ----------------------------------------------------------------------------
def test_a_training_run_killed_midway_resumes_on_another_worker(media_in_tmp, private_redis, start_worker):
    write_snapshot(media_in_tmp / "snapshots" / "synthetic" / "arrays")
    snapshot = DatasetSnapshot.objects.create(
        name="synthetic", state="complete", storage_key="snapshots/synthetic", completed_at=timezone.now(), formats=["npy"]
    )
    hyperparameters = {"epochs": 3, "batch_size": 4, "num_workers": 0, "device": "cpu", "learning_rate": 0.001, "seed": 1}
    with publishing_to(private_redis.url):
        run = start_training_run(snapshot=snapshot, mode="body", hyperparameters=hyperparameters)
    first = start_worker("training")
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).epoch >= 1, "the first epoch", timeout=240, worker=first)
    first.kill()

    run.refresh_from_db()
    assert run.state == TrainingRun.State.RUNNING and 1 <= run.epoch < 3
    assert not run.checkpoint_key and not run.report_key and not run.metrics  # no half report is shown
    first_epochs = list(run.history)

    second = start_worker("training")
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).state in {"succeeded", "failed"}, "the resumed run",
               timeout=300, worker=second)
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED, run.error
    assert run.epoch == 3 and [entry["epoch"] for entry in run.history] == [1, 2, 3]
    assert run.history[: len(first_epochs)] == first_epochs  # resumed from the checkpoint, not started over
    assert (media_in_tmp / run.checkpoint_key).is_file() and 0 <= run.metrics["mean_average_precision"] <= 1
