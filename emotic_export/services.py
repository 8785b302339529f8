"""Snapshots: create, build (inline or in a Celery worker), export to a folder.

A snapshot is immutable: once complete it is never rebuilt. Its files are
written in a private staging folder, uploaded, and only then is the row
marked complete, so nobody sees a half-written snapshot; a failed or killed
build removes what it uploaded and can simply be started again.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Image
from catalog.files import open_stored, stored_exists
from catalog.splits import place_unsplit_images
from emotic.errors import FieldError
from emotic.formats.manifest import MANIFEST_NAME, count_records, sha256_of
from emotic.splits import DEFAULT_RATIOS, SplitError, validate_ratios, stratified_split
from emotic.formats.arrays import PixelFill
from emotic_export.array_shards import discard_shards, sharded_pixels
from emotic_export.building import LABEL_RULES, BuiltDataset, build_dataset, category_counts_per_image, placeable_images
from emotic_export.files import FORMATS, agreement_figures, write_snapshot_folder
from emotic_export.models import DatasetSnapshot
from emotic_export.release_notes import release_notes
from emotic_export.selectors import exportable_answer_rows, images_with_exportable_people
from emotic_export.storage import delete_prefix, save_moving, snapshot_prefix

logger = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


class ExportError(FieldError):
    """Bad export options or state; ``field`` names the option or state at fault, ``reason`` says why."""


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = FORMATS
    ratios: Mapping[str, float] = None  # type: ignore[assignment]
    seed: int = 0
    label_rule: str = "union-mean"
    require_review: bool = False

    def __post_init__(self) -> None:
        if self.ratios is None:
            object.__setattr__(self, "ratios", dict(DEFAULT_RATIOS))
        formats = tuple(dict.fromkeys(self.formats))
        if not formats:
            raise ExportError("formats", "choose at least one of " + ", ".join(FORMATS))
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise ExportError("formats", f"unknown format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
        object.__setattr__(self, "formats", formats)
        if self.label_rule not in LABEL_RULES:
            raise ExportError("label_rule", f"must be one of {', '.join(LABEL_RULES)}, got {self.label_rule!r}")
        try:
            validate_ratios(self.ratios)
        except SplitError as error:
            raise ExportError(error.field, error.reason) from None
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ExportError("seed", f"must be a non-negative integer, got {self.seed!r}")


# --- splits -------------------------------------------------------------------
def assign_splits(images: list[Image], annotations, *, ratios: Mapping[str, float], seed: int) -> dict[int, str]:
    """Give every image without a split one, stratified by its categories; placed images keep theirs.

    The new splits are stored (``catalog.splits``), so later snapshots keep
    them (an admin may still move an image).
    """
    fixed = {image.id: image.split for image in images if image.split}
    counts = category_counts_per_image(images, annotations)
    splits = stratified_split([image.id for image in images], counts, fixed=fixed, ratios=ratios, seed=seed)
    # Placed images are passed too: nothing moves them, and their split is read again (an admin may have just moved one).
    return place_unsplit_images(splits)


def collect_dataset(options: ExportOptions) -> BuiltDataset:
    """The snapshot's records. Images whose names cannot be placed are left out before any split
    is drawn, and listed in ``BuiltDataset.skipped``."""
    images = list(images_with_exportable_people(require_review=options.require_review))
    annotations = exportable_answer_rows(require_review=options.require_review)
    if not images:
        raise ExportError("annotations", "there are no exportable annotations yet (none submitted, or all rejected)")
    images, skipped = placeable_images(images)
    if not images:
        raise ExportError("annotations", "no annotated image can be placed in a snapshot (see their folder and file names)")
    splits = assign_splits(images, annotations, ratios=options.ratios, seed=options.seed)
    dataset = build_dataset(images, annotations, splits, options.label_rule)
    return replace(dataset, skipped=skipped)


def _storage_keys(dataset: BuiltDataset) -> dict[str, str]:
    """Each image's storage key by its path in the snapshot."""
    key_of_id = dict(Image.objects.filter(id__in=dataset.image_ids).values_list("id", "storage_key"))
    return {record.relative_path: key_of_id[pk] for record, pk in zip(dataset.images, dataset.image_ids)}


def _array_pixels(snapshot: DatasetSnapshot | None, keys: dict[str, str]) -> PixelFill | None:
    """Who makes the arrays' pixels: a stored snapshot's build spreads them over the Celery workers
    (``array_shards``); otherwise, or with no helpers (or Celery running tasks inline), this machine's
    ``EXPORT_ARRAY_WORKERS`` processes."""
    helpers = 0 if settings.CELERY_TASK_ALWAYS_EAGER else settings.EXPORT_ARRAY_HELPERS
    if snapshot is None or not helpers:
        return None
    return sharded_pixels(snapshot, keys, helpers=helpers, queue_helpers=_queue_array_helpers)


def _queue_array_helpers(snapshot_id: int, count: int) -> None:
    from emotic_export.tasks import make_array_shards_task

    for _ in range(count):
        transaction.on_commit(lambda: make_array_shards_task.delay(snapshot_id))


def _details(name: str, options: ExportOptions) -> dict:
    return {
        "name": name,
        "created_at": timezone.now().isoformat(),
        "label_rule": options.label_rule,
        "selection": "accepted annotations" if options.require_review else "annotations not rejected",
        "split_rule": "stratified (iterative stratification), images keep earlier splits",
        "split_ratios": dict(options.ratios),
        "split_seed": options.seed,
    }


def _without_missing_files(dataset: BuiltDataset) -> tuple[BuiltDataset, list[dict]]:
    """Leave out images whose file is gone from storage, and say which (the manifest lists them)."""
    key_of_id = dict(Image.objects.filter(id__in=dataset.image_ids).values_list("id", "storage_key"))
    kept, kept_ids, skipped = [], [], []
    for record, pk in zip(dataset.images, dataset.image_ids):
        if stored_exists(key_of_id[pk]):
            kept.append(record)
            kept_ids.append(pk)
        else:
            skipped.append({"image_id": pk, "path": record.relative_path, "reason": f"file {key_of_id[pk]} is missing from storage"})
    if not kept:
        raise ExportError("annotations", "every annotated image is missing from storage; nothing to export")
    return BuiltDataset(kept, kept_ids, dataset.answers_by_split, dataset.skipped), [*dataset.skipped, *skipped]


def write_export(
    directory: Path, name: str, options: ExportOptions, progress: Progress | None = None, *, snapshot: DatasetSnapshot | None = None
) -> BuiltDataset:
    dataset, skipped = _without_missing_files(collect_dataset(options))
    if skipped:
        logger.warning("snapshot %s: %d image(s) left out (missing from storage, or names that cannot be placed)", name, len(skipped))
    keys = _storage_keys(dataset)
    write_snapshot_folder(
        directory,
        dataset.images,
        formats=options.formats,
        open_image=lambda record: open_stored(keys[record.relative_path]),
        agreement=agreement_figures(dataset.answers_by_split),
        details={**_details(name, options), "skipped_images": skipped, "collection": release_notes(dataset.image_ids)},
        credits=_credits(dataset),
        progress=progress,
        array_workers=settings.EXPORT_ARRAY_WORKERS or None,
        pixel_fill=_array_pixels(snapshot, keys),
    )
    return dataset


def _credits(dataset: BuiltDataset) -> list[dict]:
    """Each image's licence and provenance, by its path in the snapshot (``CREDITS.csv``)."""
    fields = ("license", "license_code", "license_url", "creator", "attribution", "source_url", "page_url", "original_database")
    rows = {row["id"]: row for row in Image.objects.filter(id__in=dataset.image_ids).values("id", *fields)}
    return [{"path": record.relative_path, **{f: rows[pk][f] for f in fields}}
            for record, pk in zip(dataset.images, dataset.image_ids)]


# --- a folder on disk ---------------------------------------------------------
def export_to_directory(out: Path | str, options: ExportOptions, *, name: str = "", progress: Progress | None = None) -> Path:
    """Write a snapshot into ``out``, which must not exist yet; it appears only when complete."""
    out = Path(out).resolve()
    if out.exists():
        raise ExportError("out", f"{out} already exists; snapshots are immutable, choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        write_export(staging, name or out.name, options, progress)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


# --- stored snapshots -----------------------------------------------------------
def create_snapshot(*, name: str = "", description: str = "", created_by=None, options: ExportOptions | None = None) -> DatasetSnapshot:
    options = options or ExportOptions()
    with transaction.atomic():
        version = (DatasetSnapshot.objects.select_for_update().aggregate(v=Max("version"))["v"] or 0) + 1
        name = slugify(name) if name else f"emotic-v{version}"
        if not name:
            raise ExportError("name", "must contain letters or digits")
        if DatasetSnapshot.objects.filter(name=name).exists():
            raise ExportError("name", f"a snapshot called {name!r} exists already; snapshots are immutable")
        return DatasetSnapshot.objects.create(
            name=name,
            version=version,
            description=description,
            created_by=created_by,
            formats=list(options.formats),
            split_rule="stratified",
            split_ratios=dict(options.ratios),
            split_seed=options.seed,
            label_rule=options.label_rule,
            require_review=options.require_review,
        )


def queue_snapshot_build(snapshot: DatasetSnapshot) -> None:
    """Build the snapshot in a Celery worker once the current transaction commits."""
    from emotic_export.tasks import build_snapshot_task

    transaction.on_commit(lambda: build_snapshot_task.delay(snapshot.pk))


def snapshot_options(snapshot: DatasetSnapshot) -> ExportOptions:
    return ExportOptions(
        formats=tuple(snapshot.formats),
        ratios=snapshot.split_ratios or dict(DEFAULT_RATIOS),
        seed=snapshot.split_seed,
        label_rule=snapshot.label_rule,
        require_review=snapshot.require_review,
    )


def _upload_folder(folder: Path, prefix: str) -> None:
    """Store the staged folder's files under ``prefix`` (moved, on local storage: the folder is spent afterwards)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            save_moving(f"{prefix}/{path.relative_to(folder).as_posix()}", path)
        except FileExistsError as error:
            raise ExportError("storage", str(error)) from None


def archive_compression(formats: tuple[str, ...]) -> int:
    """The archive's gzip level: none when it holds photos or pixel arrays, which deflate hardly shrinks.

    Measured (docs/benchmarks.md): 84 MiB of arrays took 2.2 s at any level from 1 to 9 for 2 % less,
    0.2 s stored; the metadata formats alone shrink several times, so they keep level 6.
    """
    return 0 if {"npy", "mat"} & set(formats) else 6


def _throttled(snapshot_id: int, progress: Progress | None) -> Progress:
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if progress:
            progress(fraction, message)
        if now - last[0] >= 1.0 or fraction >= 1.0:
            last[0] = now
            DatasetSnapshot.objects.filter(pk=snapshot_id).update(progress=min(max(fraction, 0.0), 1.0) * 0.9)

    return report


def build_snapshot(snapshot_id: int, progress: Progress | None = None) -> DatasetSnapshot:
    """Build a pending, failed or interrupted snapshot; a complete one is left as it is."""
    with transaction.atomic():
        snapshot = DatasetSnapshot.objects.select_for_update().get(pk=snapshot_id)
        if snapshot.state == DatasetSnapshot.State.COMPLETE:
            return snapshot
        snapshot.state, snapshot.progress, snapshot.error = DatasetSnapshot.State.BUILDING, 0.0, ""
        snapshot.save(update_fields=["state", "progress", "error"])

    prefix = snapshot_prefix(snapshot)
    archive_key = f"{prefix}.tar.gz"
    try:
        options = snapshot_options(snapshot)
        delete_prefix(prefix)  # an interrupted earlier attempt may have left files
        discard_shards(snapshot)
        if default_storage.exists(archive_key):
            default_storage.delete(archive_key)
        with tempfile.TemporaryDirectory(prefix="snapshot-", dir=settings.EXPORT_WORK_DIR) as work:
            folder = Path(work) / snapshot.name
            started = time.perf_counter()
            dataset = write_export(folder, snapshot.name, options, _throttled(snapshot.pk, progress), snapshot=snapshot)
            written = time.perf_counter()
            archive = Path(work) / f"{snapshot.name}.tar.gz"
            with tarfile.open(archive, "w:gz", compresslevel=archive_compression(options.formats)) as tar:
                tar.add(folder, arcname=snapshot.name)
            archived = time.perf_counter()
            manifest_sha = sha256_of(folder / MANIFEST_NAME)
            _upload_folder(folder, prefix)
            save_moving(archive_key, archive)
            logger.info(
                "snapshot %s: files written in %.2f s, archived in %.2f s, uploaded in %.2f s", snapshot.name,
                written - started, archived - written, time.perf_counter() - archived,
            )
            agreement = agreement_figures(dataset.answers_by_split)
            counts = count_records(dataset.images)
    except Exception as error:
        delete_prefix(prefix)
        if default_storage.exists(archive_key):
            default_storage.delete(archive_key)
        DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
            state=DatasetSnapshot.State.FAILED, error=f"{type(error).__name__}: {error}", progress=0.0
        )
        logger.exception("snapshot %s failed", snapshot.name)
        raise
    finally:
        discard_shards(snapshot)

    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
        state=DatasetSnapshot.State.COMPLETE,
        progress=1.0,
        completed_at=timezone.now(),
        storage_key=prefix,
        archive_key=archive_key,
        manifest_sha256=manifest_sha,
        counts=counts,
        agreement=agreement,
    )
    snapshot.refresh_from_db()
    return snapshot
