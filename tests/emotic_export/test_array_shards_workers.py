"""A snapshot's arrays made by several real Celery workers, and taken over when a helper is killed.

The workers are those of the fault tests (tests/faults/conftest.py): real
processes on a private Redis, sharing the test's PostgreSQL database and
media folder. A stored photo turned into a FIFO holds whoever decodes it until
the test releases it, so each test knows which worker makes which shard.
"""

from __future__ import annotations

import os

import pytest

from emotic.formats import layout
from emotic.formats.layout import array_names
from emotic_export.models import ArrayShard, DatasetSnapshot
from emotic_export.services import ExportOptions, create_snapshot, export_to_directory
from emotic_export.storage import shard_parts_prefix
from emotic_export.tasks import build_snapshot_task
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory
from tests.faults.conftest import private_redis, publishing_to, start_worker, wait_until, worker_environment  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
NPY_ONLY = ExportOptions(formats=("npy",))
# The fault tests' workers get a task back from Redis 2 s after a worker took it unacknowledged; a build held
# at a FIFO takes longer, and must not be handed to the second worker too: as in production, minutes.
ONE_PHOTO_A_SHARD = {"EXPORT_ARRAY_SHARD_IMAGES": "1", "EXPORT_ARRAY_SHARD_CLAIM_SECONDS": "5", "FAULT_VISIBILITY_TIMEOUT": "600"}


def photos(count: int):
    images = []
    for n in range(count):
        image = ImageFactory(file=True, split="train", width=320, height=240, filename=f"worker-{n}.jpg")
        for p in range(1 + n % 2):
            EmotionAnnotationFactory(person=PersonFactory(image=image, x1=10 + 150 * p, y1=10, x2=150 + 150 * p, y2=230))
        images.append(image)
    return images


class Blocked:
    """A stored photo turned into a FIFO: whoever decodes it waits there until the test releases it."""

    def __init__(self, media, image) -> None:
        self.path = media / image.storage_key
        self.content = self.path.read_bytes()
        self.path.unlink()
        os.mkfifo(self.path)
        self.writer: int | None = None

    def reader_waiting(self) -> bool:
        try:
            self.writer = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # nobody has opened it to read yet
            return False
        return True

    def release(self) -> None:
        """The waiting reader gets the photo; the FIFO becomes the photo again."""
        os.set_blocking(self.writer, True)
        view = memoryview(self.content)
        while view:
            view = view[os.write(self.writer, view):]
        self.restore()

    def restore(self) -> None:
        if self.writer is not None:
            os.close(self.writer)
            self.writer = None
        self.path.unlink()
        self.path.write_bytes(self.content)


def assert_arrays_of_one_process(snapshot: DatasetSnapshot, media, tmp_path) -> None:
    reference = export_to_directory(tmp_path / "reference", NPY_ONLY)
    for name in array_names("train").values():
        stored = media / snapshot.storage_key / layout.ARRAYS_DIR / name
        assert stored.read_bytes() == (reference / layout.ARRAYS_DIR / name).read_bytes(), name
    assert not ArrayShard.objects.exists() and not [p for p in (media / shard_parts_prefix(snapshot.name)).rglob("*") if p.is_file()]


def complete(snapshot: DatasetSnapshot) -> bool:
    return DatasetSnapshot.objects.get(pk=snapshot.pk).state == DatasetSnapshot.State.COMPLETE


def test_a_second_worker_makes_shards_beside_the_builder(media_in_tmp, private_redis, start_worker, tmp_path):  # noqa: F811
    images = photos(6)
    first_photo = Blocked(media_in_tmp, images[0])
    snapshot = create_snapshot(name="two-workers", options=NPY_ONLY)
    with publishing_to(private_redis.url):
        build_snapshot_task.delay(snapshot.pk)
    builder = start_worker("celery", **ONE_PHOTO_A_SHARD)
    wait_until(first_photo.reader_waiting, "the builder to reach the first photo", worker=builder)
    helper = start_worker("celery", **ONE_PHOTO_A_SHARD)
    wait_until(lambda: ArrayShard.objects.filter(snapshot=snapshot, state="done").count() == 5,
               "the second worker to hand in the other five shards", worker=helper)
    first_photo.release()
    wait_until(lambda: complete(snapshot), "the build to complete", worker=builder)
    assert "snapshot two-workers: train arrays in 6 shards, 5 made by helpers" in builder.log()
    snapshot.refresh_from_db()
    assert_arrays_of_one_process(snapshot, media_in_tmp, tmp_path)


def test_a_killed_helpers_shard_is_taken_over_by_the_builder(media_in_tmp, private_redis, start_worker, tmp_path):  # noqa: F811
    images = photos(4)
    first_photo, second_photo = Blocked(media_in_tmp, images[0]), Blocked(media_in_tmp, images[1])
    snapshot = create_snapshot(name="helper-killed", options=NPY_ONLY)
    with publishing_to(private_redis.url):
        build_snapshot_task.delay(snapshot.pk)
    builder = start_worker("celery", **ONE_PHOTO_A_SHARD)
    wait_until(first_photo.reader_waiting, "the builder to reach the first photo", worker=builder)
    helper = start_worker("celery", **ONE_PHOTO_A_SHARD)
    wait_until(second_photo.reader_waiting, "the helper to reach the second photo", worker=helper)
    helper.kill()  # SIGKILL while it holds the second shard: its claim runs out, nobody hands it in
    second_photo.restore()
    first_photo.release()
    wait_until(lambda: complete(snapshot), "the build to complete", worker=builder)
    log = builder.log()
    assert "snapshot helper-killed: train shard 1 taken over (attempt 2)" in log
    assert "snapshot helper-killed: train arrays in 4 shards, 0 made by helpers" in log
    snapshot.refresh_from_db()
    assert_arrays_of_one_process(snapshot, media_in_tmp, tmp_path)
