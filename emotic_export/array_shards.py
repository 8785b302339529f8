"""A snapshot's npy pixel rows made by any number of Celery workers, on any number of machines.

The builder (the snapshot's own task) cuts each split's images into shards of
``EXPORT_ARRAY_SHARD_IMAGES``, stored as ``ArrayShard`` rows holding what a worker
needs (each image's storage key, size, boxes and first row), and queues up to
``EXPORT_ARRAY_HELPERS`` helper tasks. Builder and helpers then take shards by
claim, as crawl items are taken: under row locks, for a limited time (a worker
that dies frees its shard when the claim runs out), a limited number of times.
A helper writes its shard's rows as two small ``.npy`` files, stores them and
marks the shard done; the builder writes the shards it takes straight into the
split's files and copies the helpers' rows in as they come, so the files are the
same byte for byte whoever made which rows. With one worker the builder makes
everything and the queued helpers find nothing left; with N each takes shards as
fast as it can. The machines share the storage, as they do for every file.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.files import open_stored
from emotic.errors import FieldError
from emotic.formats.arrays import PixelFill, PixelRows, PixelTask, local_pixels
from emotic_export.models import ArrayShard, DatasetSnapshot
from emotic_export.storage import delete_prefix, save_moving, shard_parts_prefix

logger = logging.getLogger(__name__)

# How long the builder waits before looking again for rows handed in, when it has nothing to take.
POLL_SECONDS = 0.1
PART_KINDS = ("context", "body")


class ShardError(FieldError):
    """A shard failed; ``field`` names it (``train shard 3``), ``reason`` says why (the image at fault)."""


@dataclass(frozen=True)
class StoredPicture:
    """An image as a shard's worker knows it: where it is stored, and what decoding needs (``Picture``)."""

    key: str
    relative_path: str
    width: int
    height: int


def _open_picture(picture: StoredPicture):
    return open_stored(picture.key)


# --- planning ------------------------------------------------------------------------
def plan_shards(snapshot: DatasetSnapshot, split: str, tasks: Sequence[PixelTask], key_of_path: Mapping[str, str]) -> int:
    """Store the split's shards (pending); returns how many."""
    size = settings.EXPORT_ARRAY_SHARD_IMAGES
    shards = []
    for index, start in enumerate(range(0, len(tasks), size)):
        chunk = tasks[start : start + size]
        work = [
            {"key": key_of_path[t.image.relative_path], "path": t.image.relative_path, "width": t.image.width,
             "height": t.image.height, "boxes": [list(box) for box in t.boxes], "first_row": t.first_row}
            for t in chunk
        ]
        rows = sum(len(t.boxes) for t in chunk)
        shards.append(ArrayShard(snapshot=snapshot, split=split, index=index, first_row=chunk[0].first_row, rows=rows, work=work))
    ArrayShard.objects.bulk_create(shards)
    return len(shards)


def shard_tasks(shard: ArrayShard, *, from_row: int = 0) -> list[PixelTask]:
    """The shard's images as pixel tasks, rows counted from ``from_row`` (its own first row for a part of its own)."""
    return [
        PixelTask(StoredPicture(item["key"], item["path"], item["width"], item["height"]),
                  tuple(tuple(box) for box in item["boxes"]), item["first_row"] - from_row)
        for item in shard.work
    ]


def discard_shards(snapshot: DatasetSnapshot) -> None:
    """Forget the snapshot's shards and the rows handed in (before a build, and after it, whatever its end).

    A helper still at work on one finds its claim gone when it finishes and removes what it stored.
    """
    ArrayShard.objects.filter(snapshot=snapshot).delete()
    delete_prefix(shard_parts_prefix(snapshot.name))


# --- claiming ------------------------------------------------------------------------
def claim_shard(snapshot_id: int, split: str | None = None) -> ArrayShard | None:
    """Take a pending shard no live worker holds (of ``split``, or any); a shard tried too often fails instead."""
    now = timezone.now()
    with transaction.atomic():
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        query = ArrayShard.objects.select_for_update(skip_locked=True, of=("self",)).select_related("snapshot")
        query = query.filter(free, snapshot_id=snapshot_id, state=ArrayShard.State.PENDING)
        shard = (query.filter(split=split) if split else query).order_by("id").first()
        if shard is None:
            return None
        shard.attempts += 1
        if shard.attempts > settings.EXPORT_ARRAY_SHARD_ATTEMPTS:
            shard.state, shard.claim, shard.claimed_until = ArrayShard.State.FAILED, "", None
            shard.error = f"not finished after {settings.EXPORT_ARRAY_SHARD_ATTEMPTS} attempts (its workers stopped or died); last: {shard.error}"
            shard.save(update_fields=["attempts", "state", "claim", "claimed_until", "error"])
            logger.warning("snapshot %s: gave up on %s shard %d", shard.snapshot.name, shard.split, shard.index)
            return None
        shard.claim = uuid.uuid4().hex
        shard.claimed_until = now + timedelta(seconds=settings.EXPORT_ARRAY_SHARD_CLAIM_SECONDS)
        shard.save(update_fields=["attempts", "claim", "claimed_until"])
    if shard.attempts > 1:
        logger.warning("snapshot %s: %s shard %d taken over (attempt %d)", shard.snapshot.name, shard.split, shard.index, shard.attempts)
    return shard


def _claimed(shard: ArrayShard):
    """The shard's row while this claim is in force (a stale worker's result matches nothing)."""
    return ArrayShard.objects.filter(pk=shard.pk, claim=shard.claim, state=ArrayShard.State.PENDING)


# --- helpers -------------------------------------------------------------------------
def make_array_shards(snapshot_id: int) -> int:
    """A helper's work: make shards of the snapshot and hand their rows in until none is left; returns how many.

    A bad image fails its shard (and so the build, which names it); any other
    error frees the claim for another try, up to ``EXPORT_ARRAY_SHARD_ATTEMPTS``.
    """
    made = 0
    while (shard := claim_shard(snapshot_id)) is not None:
        try:
            made += hand_in(shard)
        except FieldError as error:
            _claimed(shard).update(state=ArrayShard.State.FAILED, error=f"{error.field}: {error.reason}", claimed_until=None)
            logger.warning("snapshot %s: %s shard %d failed: %s", shard.snapshot.name, shard.split, shard.index, error)
            return made
        except Exception as error:
            _claimed(shard).update(claimed_until=None, error=f"{type(error).__name__}: {error}"[:2000])
            raise
    return made


def hand_in(shard: ArrayShard) -> bool:
    """Make a claimed shard's rows, store them and mark it done; False (and nothing kept) if the claim was lost meanwhile."""
    stem = _store_part(shard)
    if _claimed(shard).update(state=ArrayShard.State.DONE, part_key=stem, claimed_until=None):
        return True
    _delete_part(stem)  # taken over meanwhile, or the build started again: these rows are nobody's
    return False


def _store_part(shard: ArrayShard) -> str:
    """Make the shard's rows as two ``.npy`` files and store them; returns their common key stem."""
    stem = f"{shard_parts_prefix(shard.snapshot.name)}/{shard.split}-{shard.index:05d}-{shard.claim}"
    with tempfile.TemporaryDirectory(prefix="shard-", dir=settings.EXPORT_WORK_DIR) as work:
        paths = [Path(work) / f"{kind}.npy" for kind in PART_KINDS]
        with PixelRows(*paths, shard.rows) as pixels:
            local_pixels(_open_picture)(shard.split, shard_tasks(shard, from_row=shard.first_row), pixels, lambda rows: None)
        for kind, path in zip(PART_KINDS, paths):
            save_moving(f"{stem}-{kind}.npy", path)
    return stem


def _delete_part(stem: str) -> None:
    for kind in PART_KINDS:
        default_storage.delete(f"{stem}-{kind}.npy")


# --- the builder ---------------------------------------------------------------------
def sharded_pixels(
    snapshot: DatasetSnapshot, key_of_path: Mapping[str, str], *, helpers: int, queue_helpers: Callable[[int, int], None]
) -> PixelFill:
    """The pixel rows of each split made by this process and up to ``helpers`` helper tasks (a ``PixelFill``);
    ``queue_helpers(snapshot_id, count)`` queues them (``services``, which owns the app's tasks)."""

    def fill(split: str, tasks: Sequence[PixelTask], pixels: PixelRows, done: Callable[[int], None]) -> None:
        count = plan_shards(snapshot, split, tasks, key_of_path)
        first = claim_shard(snapshot.pk, split)  # the first shard is the builder's: helpers start on the next ones
        queue_helpers(snapshot.pk, min(helpers, count - 1))
        spent = complete_split(snapshot, split, pixels, done, first=first)
        if not count:
            return
        by_helpers = ArrayShard.objects.filter(snapshot=snapshot, split=split).exclude(part_key="").count()
        logger.info(
            "snapshot %s: %s arrays in %d shards, %d made by helpers; the builder made %d in %.2f s, "
            "copied the helpers' in %.2f s, waited %.2f s", snapshot.name, split, count, by_helpers, count - by_helpers,
            spent.making, spent.copying, spent.waiting,
        )

    return fill


@dataclass
class BuilderTime:
    """Where the builder's seconds went (logged, and read by bench/bench_snapshot_workers.py)."""

    making: float = 0.0
    copying: float = 0.0
    waiting: float = 0.0


def complete_split(
    snapshot: DatasetSnapshot, split: str, pixels: PixelRows, done: Callable[[int], None], *, first: ArrayShard | None = None
) -> BuilderTime:
    """The builder's part: make the shards nobody holds, copy in what helpers hand in, until every shard is in place.

    A shard whose helper died is taken over once its claim runs out; a failed shard fails the split, naming it.
    """
    spent = BuilderTime()
    shard = first
    while True:
        started = time.perf_counter()
        if shard is not None:
            local_pixels(_open_picture)(split, shard_tasks(shard), pixels, lambda rows: None)
            if _claimed(shard).update(state=ArrayShard.State.MERGED, claimed_until=None):
                done(shard.rows)
        made = time.perf_counter()
        spent.making += made - started
        merged = _merge_handed_in(snapshot, split, pixels, done)
        spent.copying += time.perf_counter() - made
        left = ArrayShard.objects.filter(snapshot=snapshot, split=split).exclude(state=ArrayShard.State.MERGED)
        failed = left.filter(state=ArrayShard.State.FAILED).first()
        if failed is not None:
            raise ShardError(f"{split} shard {failed.index}", failed.error)
        if shard is None and not merged:
            if not left.exists():
                return spent
            time.sleep(POLL_SECONDS)
            spent.waiting += POLL_SECONDS
        shard = claim_shard(snapshot.pk, split)


def _merge_handed_in(snapshot: DatasetSnapshot, split: str, pixels: PixelRows, done: Callable[[int], None]) -> int:
    """Copy the rows helpers handed in into place; returns how many shards."""
    merged = 0
    for shard in ArrayShard.objects.filter(snapshot=snapshot, split=split, state=ArrayShard.State.DONE):
        name = f"{split} shard {shard.index}"
        with open_stored(f"{shard.part_key}-context.npy") as context, open_stored(f"{shard.part_key}-body.npy") as body:
            rows = pixels.copy_rows(shard.first_row, context, body, name=name)
        if rows != shard.rows:
            raise ShardError(name, f"handed in {rows} rows, expected {shard.rows}")
        ArrayShard.objects.filter(pk=shard.pk, state=ArrayShard.State.DONE).update(state=ArrayShard.State.MERGED)
        _delete_part(shard.part_key)
        done(rows)
        merged += 1
    return merged
