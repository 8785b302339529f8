"""Ingest: validated bytes become one stored file and one Image row, at most once.

``ingest_image_bytes`` is the entry point for a single image (the demo
loader calls it). The crawl pipeline calls the halves itself: ``prepare_image``
and ``write_blob`` in fetch threads, then ``commit_prepared_images`` for a
batch in the thread that owns the database connection.

People boxes a source gives with an image (COCO's, EMOTIC's) are checked and
turned upright with the image here, since only here is the image's
orientation known; the result carries them, and the caller hands them to
the annotator's intake (``annotator.services.intake``), which owns people.

Storage is content-addressed, so writing a file twice is harmless. The rules
that keep storage and database consistent: a row is inserted only under the
ingest lock and only after checking (under the lock) that its file exists;
a file is deleted only under the lock and only when no row names it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from catalog.dedup import phash_index, phash_to_int
from catalog.files import is_reference, store_new
from catalog.imaging import Box, ImageRejected, PreparedImage, prepare_image
from catalog.models import Image, ImageRejectReason, Source
from emotic.boxes import BoxError, clip_box, validate_box
from emotic.names import UnsafeName, clean_component, clean_filename, clean_folder

logger = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock that serialises inserts across processes.
INGEST_ADVISORY_LOCK = 0x454D4F5449430001  # "EMOTIC" + 1
_process_lock = threading.Lock()


class IngestOutcome(StrEnum):
    STORED = "stored"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IngestResult:
    """What became of the bytes. ``image`` is the new row, or the stored image it duplicates."""

    outcome: IngestOutcome
    image: Image | None = None
    reason: str = ""
    detail: str = ""
    distance: int | None = None
    people_boxes: tuple[Box, ...] = ()  # the source's people boxes, upright on the stored image (not for near duplicates)

    @property
    def stored(self) -> bool:
        return self.outcome == IngestOutcome.STORED

    @classmethod
    def rejected(cls, reason: str, detail: str) -> IngestResult:
        return cls(IngestOutcome.REJECTED, reason=str(reason), detail=detail)


@dataclass(frozen=True)
class Provenance:
    """Where an image came from; copied onto the Image row."""

    source: Source
    original_database: str
    filename: str = ""  # empty: named after the content hash
    folder: str = ""
    source_url: str = ""
    page_url: str = ""
    source_record: str = ""
    license: str = ""
    http_headers: dict = field(default_factory=dict)
    fetched_at: datetime | None = None
    license_code: str = ""
    license_url: str = ""
    creator: str = ""
    attribution: str = ""


def ingest_image_bytes(
    data: bytes,
    *,
    source: Source,
    filename: str,
    original_database: str,
    folder: str = "",
    source_url: str = "",
    page_url: str = "",
    source_record: str = "",
    license: str = "",  # noqa: A002 - the provenance field's name
    http_headers: dict | None = None,
    people_boxes: Sequence[Box] = (),
    fetched_at: datetime | None = None,
) -> IngestResult:
    """Validate, deduplicate and store one image with its provenance. Idempotent.

    ``people_boxes`` are [x1, y1, x2, y2) on the pixels as decoded, before EXIF
    orientation (the frame COCO, ADE20K and EMOTIC annotate in); they are cut
    to the image and turned with it, and come back in the result. A bad one
    rejects the image before anything is written. An empty ``filename`` means
    one is made from the content hash.
    """
    try:
        prepared = prepare_image(data, max_pixels=settings.MAX_IMAGE_PIXELS, min_side=settings.SCRAPER_MIN_IMAGE_SIDE)
    except ImageRejected as rejected:
        return IngestResult.rejected(rejected.reason, rejected.detail)
    provenance = Provenance(
        source=source,
        original_database=original_database,
        filename=filename,
        folder=folder,
        source_url=source_url,
        page_url=page_url,
        source_record=source_record,
        license=license,
        http_headers=dict(http_headers or {}),
        fetched_at=fetched_at,
    )
    return commit_prepared_image(prepared, provenance, people_boxes)


# --- storage ------------------------------------------------------------------
def write_blob(prepared: PreparedImage) -> bool:
    """Store the content under its key unless it is there already; True if this call wrote it."""
    return store_new(prepared.storage_key, prepared.content)


def discard_blob_if_unreferenced(key: str) -> None:
    if is_reference(key):  # a dataset's own file, kept where it lies: never ours to delete
        return
    with ingest_lock():
        if not Image.objects.filter(storage_key=key).exists():
            default_storage.delete(key)


@contextmanager
def ingest_lock() -> Iterator[None]:
    """One inserter at a time, held until the transaction commits (the caller's, when it holds one).

    On PostgreSQL an advisory transaction lock serialises every thread and
    process (each thread has its own connection). Elsewhere (SQLite) the
    transaction begins first (``BEGIN IMMEDIATE`` takes the database's write
    lock) and a process lock is taken inside it: no thread ever waits for
    the database while holding the Python lock, so two threads cannot hold
    one lock each and wait for the other's.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INGEST_ADVISORY_LOCK])
            yield
        else:
            with _process_lock:
                yield


# --- committing -----------------------------------------------------------------
def _upright_boxes(prepared: PreparedImage, boxes: Sequence[Box]) -> list[Box] | IngestResult:
    """The importer's boxes cut to the image and turned upright with it, or the rejection naming the first bad one.

    Cutting happens in the frame the boxes are given in (the decoded pixels);
    the upright box is checked again by the same rules, as every stored box is.
    """
    result = []
    for index, box in enumerate(boxes):
        field = f"people_boxes[{index}]"
        try:
            clipped = clip_box(box, prepared.raw_width, prepared.raw_height, field=field)
            result.append(validate_box(prepared.upright_box(clipped), prepared.width, prepared.height, field=field))
        except BoxError as error:
            return IngestResult.rejected(ImageRejectReason.INVALID_BOX, str(error))
    return result


def _new_image(prepared: PreparedImage, provenance: Provenance, reference: str = "") -> Image:
    return Image(
        source=provenance.source,
        storage_key=reference or prepared.storage_key,
        sha256=prepared.sha256,
        phash=prepared.phash,
        width=prepared.width,
        height=prepared.height,
        format=prepared.format,
        original_database=provenance.original_database,
        folder=provenance.folder,
        filename=provenance.filename or f"{prepared.sha256[:24]}.{prepared.extension}",
        source_url=provenance.source_url,
        page_url=provenance.page_url,
        source_record=provenance.source_record,
        license=provenance.license,
        license_code=provenance.license_code,
        license_url=provenance.license_url,
        creator=provenance.creator,
        attribution=provenance.attribution,
        http_headers=provenance.http_headers,
        fetched_at=provenance.fetched_at or timezone.now(),
    )


def _field_errors(image: Image) -> str | None:
    """Provenance that the row would refuse, named by field, checked before anything is written.

    The image's place in a dataset is checked by the one rule for names
    (``emotic.names``): ``folder`` and ``filename`` must be safe relative POSIX
    names (no ``..``, absolute folder, backslash or control character, within
    the columns' lengths), and ``original_database`` one plain name (a snapshot
    falls back to ``<original_database>/images``). A spelling with one meaning is
    normalised on the row (``./mscoco//images/`` becomes ``mscoco/images``); the
    rest is refused as ``bad_record`` naming the field.
    """
    try:
        image.folder = clean_folder(image.folder)
        image.filename = clean_filename(image.filename)
        clean_component(image.original_database, "original_database", Image._meta.get_field("original_database").max_length)
    except UnsafeName as error:
        return str(error)
    try:
        image.clean_fields(exclude=["source", "split", "storage_key", "sha256"])
    except ValidationError as error:
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
    return None


@dataclass(frozen=True)
class IngestRequest:
    """One prepared image to commit. ``blob_written``: its file was already written by the caller;
    ``reference``: not copied, the row names the file where it lies (``catalog.files.reference_key``)."""

    prepared: PreparedImage
    provenance: Provenance
    people_boxes: Sequence[Box] = ()
    blob_written: bool = False
    reference: str = ""


def commit_prepared_image(
    prepared: PreparedImage, provenance: Provenance, people_boxes: Sequence[Box] = (), *, blob_written: bool = False
) -> IngestResult:
    """Decide duplicate or new, and for a new image make sure its file and its rows exist together.

    When the file is not written yet, duplicates are looked for first, so a
    duplicate never costs a write.
    """
    if not blob_written:
        early = _duplicate_before_writing(prepared, provenance, people_boxes)
        if early is not None:
            return early
        blob_written = write_blob(prepared)
    return commit_prepared_images([IngestRequest(prepared, provenance, people_boxes, blob_written)])[0]


def _duplicate_before_writing(prepared: PreparedImage, provenance: Provenance, people_boxes: Sequence[Box]) -> IngestResult | None:
    """A rejection or a duplicate that is clear without writing anything, or None."""
    boxes = _upright_boxes(prepared, people_boxes)
    if isinstance(boxes, IngestResult):
        return boxes
    problems = _field_errors(_new_image(prepared, provenance))
    if problems:
        return IngestResult.rejected(ImageRejectReason.BAD_RECORD, problems)
    existing = Image.objects.filter(sha256=prepared.sha256).first()
    if existing is not None:
        return IngestResult(IngestOutcome.EXACT_DUPLICATE, existing, people_boxes=tuple(boxes))
    near = phash_index.nearest(prepared.phash, settings.SCRAPER_NEAR_DUPLICATE_DISTANCE)
    if near is not None:
        return IngestResult(IngestOutcome.NEAR_DUPLICATE, Image.objects.get(id=near.image_id), distance=near.distance)
    return None


def commit_prepared_images(requests: Sequence[IngestRequest]) -> list[IngestResult]:
    """Commit several prepared images in one transaction, under one lock; results in the same order.

    Duplicates are decided against the database and within the batch (the
    first of two equal images is stored). Either every new row of the batch
    is written or none is: on a database failure the new files are removed
    again (unless another row uses them) and the error is raised. Files
    written for images that turn out near duplicates or are refused are
    removed too.
    """
    results: list[IngestResult | None] = [None] * len(requests)
    plans: list[tuple[int, Image, list[Box]]] = []
    for index, request in enumerate(requests):
        boxes = _upright_boxes(request.prepared, request.people_boxes)
        if isinstance(boxes, IngestResult):
            results[index] = boxes
            continue
        image = _new_image(request.prepared, request.provenance, request.reference)
        problems = _field_errors(image)
        if problems:
            results[index] = IngestResult.rejected(ImageRejectReason.BAD_RECORD, problems)
            continue
        plans.append((index, image, boxes))
    try:
        with ingest_lock():
            _decide_and_insert(requests, plans, results)
    except Exception:
        logger.exception("a batch of %d images could not be committed; removing their new files", len(plans))
        for index, _image, _boxes in plans:
            discard_blob_if_unreferenced(requests[index].prepared.storage_key)
        raise
    for request, result in zip(requests, results):  # near duplicates and refused images: their files are not needed
        if request.blob_written and result.outcome in (IngestOutcome.NEAR_DUPLICATE, IngestOutcome.REJECTED):
            discard_blob_if_unreferenced(request.prepared.storage_key)
    return results  # type: ignore[return-value]


def _decide_and_insert(
    requests: Sequence[IngestRequest], plans: list[tuple[int, Image, list[Box]]], results: list[IngestResult | None]
) -> None:
    """Under the lock: sort each plan into exact duplicate, near duplicate or new, and write the new rows."""
    max_distance = settings.SCRAPER_NEAR_DUPLICATE_DISTANCE
    stored = {image.sha256: image for image in Image.objects.filter(sha256__in={image.sha256 for _, image, _ in plans})}
    nearest = phash_index.nearest_many([image.phash for _, image, _ in plans], max_distance) if plans else []
    near_images = Image.objects.in_bulk({match.image_id for match in nearest if match is not None})
    new: list[tuple[int, Image, list[Box]]] = []
    new_by_sha: dict[str, Image] = {}
    new_hashes: list[tuple[int, Image]] = []  # (pHash as an int, image) of the images new in this batch
    twins: list[tuple[int, str, list[Box]]] = []  # exact duplicates of an image new in this batch
    for (index, image, boxes), near in zip(plans, nearest):
        if image.sha256 in stored:
            results[index] = IngestResult(IngestOutcome.EXACT_DUPLICATE, stored[image.sha256], people_boxes=tuple(boxes))
            continue
        if image.sha256 in new_by_sha:
            twins.append((index, image.sha256, boxes))
            continue
        if near is not None and near.image_id in near_images:  # (a row deleted since the look is no match)
            results[index] = IngestResult(IngestOutcome.NEAR_DUPLICATE, near_images[near.image_id], distance=near.distance)
            continue
        phash = phash_to_int(image.phash)
        sibling = min((((phash ^ other).bit_count(), twin) for other, twin in new_hashes), default=None, key=lambda p: p[0])
        if sibling is not None and sibling[0] <= max_distance:  # a near duplicate of an image new in this batch
            results[index] = IngestResult(IngestOutcome.NEAR_DUPLICATE, sibling[1], distance=sibling[0])
            continue
        new.append((index, image, boxes))
        new_by_sha[image.sha256] = image
        new_hashes.append((phash, image))
    for index, _image, _boxes in new:
        prepared = requests[index].prepared
        if not requests[index].reference:  # written again if a failed ingest of the same bytes removed it
            store_new(prepared.storage_key, prepared.content)
    Image.objects.bulk_create([image for _, image, _ in new])
    for index, image, boxes in new:
        results[index] = IngestResult(IngestOutcome.STORED, image, people_boxes=tuple(boxes))
    for index, sha, boxes in twins:
        results[index] = IngestResult(IngestOutcome.EXACT_DUPLICATE, new_by_sha[sha], people_boxes=tuple(boxes))
