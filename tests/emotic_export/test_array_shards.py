"""A snapshot's arrays made in shards: by the builder, by helpers handing rows in, by whoever takes over a dead one's.

Whoever makes which rows, the files are those one process makes, byte for byte.
The helpers run here in the test's process, through the same functions their
Celery task calls; tests/emotic_export/test_array_shards_workers.py runs them in
real workers.
"""

from __future__ import annotations

import logging

import pytest
from django.core.files.storage import default_storage

from catalog.models import Image
from emotic.formats.arrays import PixelTask, write_split_arrays
from emotic.formats import layout
from emotic.formats.layout import array_names
from emotic_export.array_shards import (
    ShardError,
    claim_shard,
    complete_split,
    discard_shards,
    hand_in,
    make_array_shards,
    plan_shards,
)
from emotic_export.models import ArrayShard
from emotic_export.services import ExportOptions, build_snapshot, collect_dataset, create_snapshot, export_to_directory
from emotic_export.storage import shard_parts_prefix
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory

NPY_ONLY = ExportOptions(formats=("npy",))


@pytest.fixture
def train_images(db, media_in_tmp, settings):
    """Five photos in train, one or two people each: shards of two images make three shards."""
    settings.EXPORT_ARRAY_SHARD_IMAGES = 2
    images = []
    for n in range(5):
        image = ImageFactory(file=True, split="train", width=320, height=240, filename=f"shard-{n}.jpg")
        for p in range(1 + n % 2):
            EmotionAnnotationFactory(person=PersonFactory(image=image, x1=10 + 150 * p, y1=10, x2=150 + 150 * p, y2=230))
        images.append(image)
    return images


def the_split():
    """The train split's records, opener and storage keys, as a snapshot's build has them."""
    dataset = collect_dataset(NPY_ONLY)
    key_of_id = dict(Image.objects.values_list("id", "storage_key"))
    keys = {record.relative_path: key_of_id[pk] for record, pk in zip(dataset.images, dataset.image_ids)}
    return dataset.images, (lambda record: default_storage.open(keys[record.relative_path])), keys


def write_train(folder, fill=None):
    images, opener, _ = the_split()
    folder.mkdir()
    return write_split_arrays(folder, "train", images, opener, fill=fill)


def same_files(one, other) -> bool:
    return all((one / name).read_bytes() == (other / name).read_bytes() for name in array_names("train").values())


def parts_left(snapshot) -> list[str]:
    try:
        return default_storage.listdir(shard_parts_prefix(snapshot.name))[1]
    except FileNotFoundError:
        return []


def test_a_stored_snapshot_has_the_arrays_one_process_writes_and_keeps_no_shards(train_images, tmp_path, caplog):
    snapshot = create_snapshot(name="sharded", options=NPY_ONLY)
    with caplog.at_level(logging.INFO, logger="emotic_export.array_shards"):
        snapshot = build_snapshot(snapshot.pk)
    assert snapshot.state == "complete"
    assert "snapshot sharded: train arrays in 3 shards, 0 made by helpers" in caplog.text  # no worker here: the builder made all
    reference = export_to_directory(tmp_path / "reference", NPY_ONLY)
    for name in array_names("train").values():
        with default_storage.open(f"{snapshot.storage_key}/{layout.ARRAYS_DIR}/{name}") as stored:
            assert stored.read() == (reference / layout.ARRAYS_DIR / name).read_bytes(), name
    assert not ArrayShard.objects.exists() and parts_left(snapshot) == []


def test_rows_helpers_hand_in_are_copied_into_place(train_images, tmp_path):
    snapshot = create_snapshot(name="handed-in", options=NPY_ONLY)
    _, _, keys = the_split()

    def helpers_first(split, tasks, pixels, done):
        assert plan_shards(snapshot, split, tasks, keys) == 3
        assert make_array_shards(snapshot.pk) == 3  # a helper takes every shard and hands its rows in
        assert set(ArrayShard.objects.values_list("state", flat=True)) == {"done"} and len(parts_left(snapshot)) == 6
        complete_split(snapshot, split, pixels, done)

    written = write_train(tmp_path / "sharded", fill=helpers_first)
    assert written.rows == 7
    write_train(tmp_path / "one-process")
    assert same_files(tmp_path / "sharded", tmp_path / "one-process")
    assert set(ArrayShard.objects.values_list("state", flat=True)) == {"merged"} and parts_left(snapshot) == []


def test_rows_handed_in_through_s3_are_copied_into_place(train_images, s3_storage, media_in_tmp, tmp_path):
    for image in train_images:  # the fixture stored the photos on local disk: store them in the bucket
        with (media_in_tmp / image.storage_key).open("rb") as photo:
            default_storage.save(image.storage_key, photo)
    snapshot = create_snapshot(name="on-s3", options=NPY_ONLY)
    _, _, keys = the_split()

    def helpers_first(split, tasks, pixels, done):
        plan_shards(snapshot, split, tasks, keys)
        assert make_array_shards(snapshot.pk) == 3
        complete_split(snapshot, split, pixels, done)

    write_train(tmp_path / "sharded", fill=helpers_first)
    write_train(tmp_path / "one-process")
    assert same_files(tmp_path / "sharded", tmp_path / "one-process")
    assert parts_left(snapshot) == []


def test_a_shard_whose_worker_died_is_taken_over_once_its_claim_runs_out(train_images, tmp_path, settings):
    settings.EXPORT_ARRAY_SHARD_CLAIM_SECONDS = 1
    snapshot = create_snapshot(name="taken-over", options=NPY_ONLY)
    _, _, keys = the_split()

    def a_helper_dies_holding_the_first(split, tasks, pixels, done):
        plan_shards(snapshot, split, tasks, keys)
        assert claim_shard(snapshot.pk).index == 0  # and is never heard of again
        complete_split(snapshot, split, pixels, done)

    write_train(tmp_path / "sharded", fill=a_helper_dies_holding_the_first)
    write_train(tmp_path / "one-process")
    assert same_files(tmp_path / "sharded", tmp_path / "one-process")
    first = ArrayShard.objects.get(index=0)
    assert (first.state, first.attempts, first.part_key) == ("merged", 2, "")


def test_a_helper_that_lost_its_claim_keeps_nothing(train_images):
    snapshot = create_snapshot(name="stale", options=NPY_ONLY)
    images, _, keys = the_split()
    first_rows = [0, 1, 3, 4, 6]
    plan_shards(snapshot, "train", [PixelTask(i, tuple(p.body_bbox for p in i.people), r) for i, r in zip(images, first_rows)], keys)
    shard = claim_shard(snapshot.pk)
    ArrayShard.objects.filter(pk=shard.pk).update(claim="someone-else")  # its claim ran out and another worker took it
    assert hand_in(shard) is False
    assert parts_left(snapshot) == []
    assert ArrayShard.objects.get(pk=shard.pk).claim == "someone-else" and ArrayShard.objects.get(pk=shard.pk).state == "pending"


def test_a_bad_image_fails_the_helpers_shard_and_the_split_names_it(train_images, tmp_path):
    with default_storage.open(train_images[3].storage_key, "wb") as broken:
        broken.write(b"not a photo any more")
    snapshot = create_snapshot(name="broken", options=NPY_ONLY)
    _, _, keys = the_split()

    def helpers_first(split, tasks, pixels, done):
        plan_shards(snapshot, split, tasks, keys)
        assert make_array_shards(snapshot.pk) == 1  # the first shard; the second holds the bad photo
        complete_split(snapshot, split, pixels, done)

    with pytest.raises(ShardError, match=r"^train shard 1: web/images/shard-3\.jpg: cannot open or decode the image"):
        write_train(tmp_path / "sharded", fill=helpers_first)
    assert list((tmp_path / "sharded").iterdir()) == []  # no half-written split


def test_a_shard_tried_too_often_fails_the_split(train_images, tmp_path, settings):
    settings.EXPORT_ARRAY_SHARD_ATTEMPTS = 2
    snapshot = create_snapshot(name="given-up", options=NPY_ONLY)
    _, _, keys = the_split()

    def twice_lost_already(split, tasks, pixels, done):
        plan_shards(snapshot, split, tasks, keys)
        ArrayShard.objects.filter(index=0).update(attempts=2, error="WorkerLostError: the worker died")
        complete_split(snapshot, split, pixels, done)

    with pytest.raises(ShardError, match=r"^train shard 0: not finished after 2 attempts .*; last: WorkerLostError: the worker died$"):
        write_train(tmp_path / "sharded", fill=twice_lost_already)


def test_a_failed_build_keeps_no_shards_and_says_why(train_images):
    with default_storage.open(train_images[0].storage_key, "wb") as broken:
        broken.write(b"not a photo any more")
    snapshot = create_snapshot(name="fails", options=NPY_ONLY)
    with pytest.raises(Exception, match="shard-0.jpg: cannot open or decode the image"):
        build_snapshot(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.state == "failed" and "shard-0.jpg: cannot open or decode the image" in snapshot.error
    assert not ArrayShard.objects.exists() and parts_left(snapshot) == []


def test_discarding_forgets_the_shards_and_the_rows_handed_in(train_images):
    snapshot = create_snapshot(name="discarded", options=NPY_ONLY)
    images, _, keys = the_split()
    plan_shards(snapshot, "train", [PixelTask(images[0], (images[0].people[0].body_bbox,), 0)], keys)
    assert make_array_shards(snapshot.pk) == 1 and len(parts_left(snapshot)) == 2
    discard_shards(snapshot)
    assert not ArrayShard.objects.exists() and parts_left(snapshot) == []
