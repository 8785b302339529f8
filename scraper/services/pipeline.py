"""The ingest pipeline for one chunk of a job's items.

Threads do what waits on the network or the CPU and touches no database:
fetch (or read the local file), validate and hash, write the content-addressed
file. The calling thread, which owns the database connection, commits
whatever has arrived as one batch, in one transaction: the catalog stores
the images (``catalog.ingest``), the annotator receives them with the people
and answers the dataset gave (``annotator.services.intake``), and a dataset's
own split is kept (``catalog.splits``). Then it records the outcome on each
item. A failure on one item is recorded on that item; the chunk goes on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import ForeignKey, JSONField
from django.utils import timezone

from annotator.services.intake import Arrival, receive_images
from catalog.files import reference_key
from catalog.models import Image
from catalog.selectors import images_by_source_url
from catalog.splits import keep_dataset_splits
from scraper.fetching import FetchRejected, PoliteFetcher
from scraper.fetching.cancel import FetchCancelled, cancellable, cancelled, shutting_down
from catalog.imaging import ImageRejected, PreparedImage, prepare_image
from catalog.ingest import (
    IngestOutcome,
    IngestRequest,
    IngestResult,
    Provenance,
    commit_prepared_images,
    discard_blob_if_unreferenced,
    write_blob,
)
from scraper.models import CrawlItem, CrawlJob, RejectReason
from scraper.sources.base import within_import_roots

logger = logging.getLogger(__name__)
CANCEL_CHECK_SECONDS = 1.0
# Arrivals are committed together once this many have come, or the first of them has waited this long:
# each commit holds the ingest lock for a few round trips whatever its size, and other processes wait for it.
COMMIT_BATCH = 64
COMMIT_WAIT_SECONDS = 0.5

# Datasets whose person boxes are final: their people go straight to emotion tasks.
TRUSTED_BOX_KINDS = frozenset({CrawlJob.Kind.COCO, CrawlJob.Kind.ADE20K, CrawlJob.Kind.EMOTIC})


@dataclass(frozen=True)
class _Work:
    """What a thread needs to know about an item (plain values: threads never touch the ORM)."""

    image_url: str
    local_path: str


@dataclass
class _Acquired:
    cancelled: bool = False  # a wait was cut short (job cancelled, worker shutting down): try again later
    prepared: PreparedImage | None = None
    blob_written: bool = False
    reference: str = ""  # kept where it lies (CATALOG_LOCAL_IMAGES=reference): the row's key
    rejection: tuple[str, str] | None = None
    final_url: str = ""
    http_headers: dict | None = None
    fetched_at: datetime | None = None


def _read_local(path: Path, max_bytes: int) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise FetchRejected(RejectReason.TOO_LARGE, f"{path.name} is {size} bytes, more than {max_bytes}")
    return path.read_bytes()


def _acquire(work: _Work, fetcher: PoliteFetcher, stop: threading.Event) -> _Acquired:
    """Fetch or read, validate, hash and store the file (runs in a worker thread); every wait ends on ``stop``."""
    acquired = _Acquired()
    with cancellable(stop):
        try:
            if cancelled():
                raise FetchCancelled("stopped before it started")
            _acquire_into(acquired, work, fetcher)
        except FetchCancelled:
            acquired.cancelled = True
    return acquired


def _acquire_into(acquired: _Acquired, work: _Work, fetcher: PoliteFetcher) -> None:
    try:
        local = Path(work.local_path) if work.local_path else None
        read_from = None  # the local file the bytes came from
        if local is not None and not within_import_roots(local):  # a job from before, or a link swapped in since
            raise FetchRejected(RejectReason.BAD_RECORD, "local_path: outside the import roots (SCRAPER_IMPORT_ROOTS); not read")
        if local is not None and (local.is_file() or not work.image_url):
            try:
                data = _read_local(local, settings.SCRAPER_MAX_DOWNLOAD_BYTES)
            except FileNotFoundError:
                raise FetchRejected(RejectReason.MISSING_FILE, f"{work.local_path} does not exist") from None
            except OSError as error:
                raise FetchRejected(RejectReason.MISSING_FILE, f"{work.local_path} cannot be read: {error}") from None
            acquired.fetched_at, read_from = datetime.now(UTC), local
        else:
            resource = fetcher.fetch_image(work.image_url, max_bytes=settings.SCRAPER_MAX_DOWNLOAD_BYTES)
            data = resource.content
            acquired.final_url, acquired.http_headers, acquired.fetched_at = resource.url, resource.headers, resource.fetched_at
        acquired.prepared = prepare_image(
            data, max_pixels=settings.MAX_IMAGE_PIXELS, min_side=settings.SCRAPER_MIN_IMAGE_SIDE
        )
        acquired.reference = _reference(read_from, acquired.prepared) if read_from is not None else ""
        if not acquired.reference:
            acquired.blob_written = write_blob(acquired.prepared)
    except (FetchRejected, ImageRejected) as rejected:
        acquired.rejection = (str(rejected.reason), rejected.detail)


def _reference(local: Path, prepared: PreparedImage) -> str:
    """The key that keeps a local file where it lies, when the settings ask for it and the file is what is stored
    (a turned photo is stored upright, re-encoded: that one is copied); else "" (copy it)."""
    if settings.CATALOG_LOCAL_IMAGES != "reference" or prepared.orientation != 1:
        return ""
    key = reference_key(local)
    return key if len(key) <= Image._meta.get_field("storage_key").max_length else ""


OUTCOME_FIELDS = ["state", "image", "reason", "detail", "claimed_until", "http_headers", "fetched_at", "extra", "updated_at"]


def _set_outcome(item: CrawlItem, state: str, *, image: Image | None = None, reason: str = "", detail: str = "") -> None:
    """Record what became of the item on the instance; the caller saves it."""
    item.state, item.image, item.reason, item.detail = state, image, reason, detail[:1000]
    item.claimed_until, item.updated_at = None, timezone.now()
    if state == CrawlItem.State.REJECTED:
        logger.info("job %s: %s rejected (%s): %s", item.job_id, item.key, reason, detail)


def _set_result(item: CrawlItem, result: IngestResult, notes: list[str] = ()) -> None:
    if result.outcome == IngestOutcome.REJECTED:
        _set_outcome(item, CrawlItem.State.REJECTED, reason=result.reason, detail=result.detail)
    elif result.outcome == IngestOutcome.NEAR_DUPLICATE:
        detail = f"near duplicate of image {result.image.pk} (distance {result.distance})"
        if item.people:
            detail += "; its people and annotations were not imported (the boxes belong to other pixels)"
        _set_outcome(item, result.outcome, image=result.image, detail=detail)
    else:
        _set_outcome(item, result.outcome, image=result.image, detail="; ".join(notes))


def _save_outcomes(items: list[CrawlItem]) -> None:
    """Write the outcome fields of the items in one statement (PostgreSQL) or one ``executemany``.

    This runs while the batch holds the ingest lock, so every round trip to
    the database counts twice: other processes wait for the lock, and this
    thread waits for the GIL again after each one (the fetch threads hold it).
    On PostgreSQL the values go as one array per column into one
    ``UPDATE ... FROM unnest(...)``; elsewhere as an ``executemany``.
    Model.save per item, or bulk_update's CASE expressions, cost more CPU
    than the rest of an image's ingest.
    """
    if not items:
        return
    fields = [CrawlItem._meta.get_field(name) for name in OUTCOME_FIELDS]
    quote = connection.ops.quote_name
    table, pk = quote(CrawlItem._meta.db_table), quote(CrawlItem._meta.pk.column)
    if connection.vendor == "postgresql":
        columns = [[item.pk for item in items]] + [[_column_value(field, item) for item in items] for field in fields]
        types = ["bigint"] + [_postgres_array_type(field) for field in fields]
        sql = "UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({pk}, {names}) WHERE t.{pk} = v.{pk}".format(
            table=table,
            sets=", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields),
            arrays=", ".join(f"%s::{kind}[]" for kind in types),
            pk=pk,
            names=", ".join(quote(field.column) for field in fields),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, columns)
        return
    sql = "UPDATE {} SET {} WHERE {} = %s".format(table, ", ".join(f"{quote(field.column)} = %s" for field in fields), pk)
    rows = [[field.get_db_prep_save(getattr(item, field.attname), connection) for field in fields] + [item.pk] for item in items]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _column_value(field, item: CrawlItem):
    """One item's value of an outcome field, as its array in ``_save_outcomes`` carries it (JSON as text)."""
    value = getattr(item, field.attname)
    if isinstance(field, JSONField):
        return json.dumps(value, cls=field.encoder)
    return value


def _postgres_array_type(field) -> str:
    if isinstance(field, JSONField):
        return "jsonb"
    if isinstance(field, ForeignKey):
        return "bigint"
    return field.db_type(connection)


def _put_back(item: CrawlItem) -> None:
    """A fetch cut short by a cancel or a shutdown: the item waits, pending, with the attempt it was claimed with undone."""
    item.claimed_until, item.attempts = None, max(0, item.attempts - 1)
    item.detail = "left for later: its job was cancelled or its worker shut down while it waited"
    item.save(update_fields=["claimed_until", "attempts", "detail", "updated_at"])


def _leave_for_later(item: CrawlItem, error: Exception) -> None:
    """The item stays pending for another attempt; its attempts count stops endless retries."""
    item.claimed_until = None
    item.detail = f"attempt {item.attempts} failed: {error}"[:1000]
    item.save(update_fields=["claimed_until", "detail", "updated_at"])


def _request(item: CrawlItem, acquired: _Acquired) -> IngestRequest:
    provenance = Provenance(
        source=item.source,
        original_database=item.original_database,
        filename=item.filename,
        folder=item.folder,
        source_url=item.image_url,
        page_url=item.page_url,
        source_record=item.source_record,
        license=item.license,
        license_code=item.license_code,
        license_url=item.license_url,
        creator=item.creator,
        attribution=item.attribution,
        http_headers=acquired.http_headers or {},
        fetched_at=acquired.fetched_at,
    )
    boxes = [tuple(box) for box in item.people]
    return IngestRequest(acquired.prepared, provenance, boxes, acquired.blob_written, acquired.reference)


def _hand_over(arrivals: list[tuple[CrawlItem, IngestResult]]) -> list[list[str]]:
    """Stored images (and ones stored before) go to the annotator with their items' people and answers, all
    at once, and keep the dataset's split; returns, per arrival, notes on what was left out."""
    notes: list[list[str]] = [[] for _ in arrivals]
    handed = [
        (position, item, result)
        for position, (item, result) in enumerate(arrivals)
        if result.outcome in (IngestOutcome.STORED, IngestOutcome.EXACT_DUPLICATE)
    ]
    for boxes_final in (True, False):  # one job's items share its kind; grouped all the same
        group = [entry for entry in handed if (entry[1].job.kind in TRUSTED_BOX_KINDS) == boxes_final]
        received = receive_images(
            [Arrival(result.image, result.people_boxes, item.annotations) for _, item, result in group], boxes_final=boxes_final
        )
        for (position, _, _), outcome in zip(group, received):
            notes[position] += outcome.notes
    placements = [
        (position, result.image, item.extra["split"])
        for position, item, result in handed
        if item.job.kind == CrawlJob.Kind.EMOTIC and item.extra.get("split")
    ]
    if placements:  # no query for a batch without splits (every URL list's)
        for (position, _, _), note in zip(placements, keep_dataset_splits([(image, split) for _, image, split in placements])):
            notes[position] += [note] if note else []
    return notes


def _commit(arrivals: list[tuple[CrawlItem, _Acquired]]) -> list[tuple[IngestResult, list[str]]]:
    """Store the arrivals, hand them over and record each item's outcome, all in one transaction: an image
    never waits for its people, and a kill leaves no image stored whose item still waits."""
    requests = [_request(item, acquired) for item, acquired in arrivals]
    try:
        with transaction.atomic():
            results = commit_prepared_images(requests)
            notes = _hand_over([(item, result) for (item, _), result in zip(arrivals, results)])
            for (item, _), result, note in zip(arrivals, results, notes):
                _set_result(item, result, note)
            _save_outcomes([item for item, _ in arrivals])  # with the rows: a kill leaves both or neither
            return list(zip(results, notes))
    except Exception:
        for request in requests:  # rolled back: files no row names are not kept
            discard_blob_if_unreferenced(request.prepared.storage_key)
        raise


def _commit_parts(arrivals: list[tuple[CrawlItem, _Acquired]]) -> list[tuple[IngestResult, list[str]] | Exception]:
    """Commit the arrivals in one transaction; if that fails, each half in its own, down to the one at fault.

    Bad records never get here (they are refused before any write, counted under
    their reason); this is for a failure nobody foresaw, which then costs a few
    more transactions, not one per item.
    """
    try:
        return _commit(arrivals)
    except Exception as error:
        if len(arrivals) == 1:
            return [error]
    middle = len(arrivals) // 2
    return _commit_parts(arrivals[:middle]) + _commit_parts(arrivals[middle:])


def _commit_batch(arrivals: list[tuple[CrawlItem, _Acquired]]) -> None:
    """Commit the arrivals as one batch, their outcomes recorded with them; an item that cannot be committed
    is left for a later attempt."""
    if not arrivals:
        return
    for (item, _), outcome in zip(arrivals, _commit_parts(arrivals)):
        if isinstance(outcome, Exception):
            logger.error("job %s: %s could not be committed", item.job_id, item.key, exc_info=outcome)
            _leave_for_later(item, outcome)


def _resolve_known_urls(items: list[CrawlItem]) -> list[CrawlItem]:
    """Items whose URL an earlier crawl already stored are duplicates without a download; return the rest."""
    urls = {item.image_url for item in items if item.image_url and not item.local_path}
    known = images_by_source_url(urls)
    remaining, finished = [], []
    for item in items:
        image = known.get(item.image_url) if not item.local_path else None
        if image is None:
            remaining.append(item)
        else:
            _set_outcome(item, CrawlItem.State.EXACT_DUPLICATE, image=image, detail="already stored from this URL")
            finished.append(item)
    _save_outcomes(finished)
    return remaining


def _record(arrivals: list[tuple[CrawlItem, Future]]) -> None:
    """Record the items whose acquisition has finished, committing the good ones as one batch."""
    finished: list[CrawlItem] = []
    batch: list[tuple[CrawlItem, _Acquired]] = []
    for item, future in arrivals:
        try:
            acquired = future.result()
        except Exception as error:  # storage unreachable, or a bug: leave the item for a later attempt
            logger.exception("job %s: %s could not be acquired", item.job_id, item.key)
            _leave_for_later(item, error)
            continue
        if acquired.cancelled:
            _put_back(item)
            continue
        item.http_headers, item.fetched_at = acquired.http_headers or {}, acquired.fetched_at
        if acquired.final_url and acquired.final_url != item.image_url:  # redirected: keep where the bytes came from
            item.extra = {**item.extra, "final_url": acquired.final_url}
        if acquired.rejection is not None:
            reason, detail = acquired.rejection
            _set_outcome(item, CrawlItem.State.REJECTED, reason=reason, detail=detail)
            finished.append(item)
        else:
            batch.append((item, acquired))
    _save_outcomes(finished)
    _commit_batch(batch)


def process_items(
    items: list[CrawlItem], fetcher: PoliteFetcher, still_wanted: Callable[[], bool] = lambda: True
) -> None:
    """Acquire the items in parallel; commit what has arrived in batches (``COMMIT_BATCH``, ``COMMIT_WAIT_SECONDS``).

    Every ``CANCEL_CHECK_SECONDS`` the calling thread asks ``still_wanted()``
    (the job was not cancelled) and looks for a shutdown; when either says
    stop, every fetch thread's wait ends at once and the items not done go
    back to pending.
    """
    items = _resolve_known_urls(items)
    if not items:
        return
    local = all(item.local_path and not item.image_url for item in items)
    pool = _thread_pool(settings.SCRAPER_MAX_CONCURRENT_REQUESTS, local)
    stop = threading.Event()
    futures = {pool.submit(_acquire, _Work(item.image_url, item.local_path), fetcher, stop): item for item in items}
    pending, arrived, first_arrival, last_check = set(futures), [], 0.0, time.monotonic()
    while pending or arrived:
        timeout = CANCEL_CHECK_SECONDS if not arrived else max(0.0, first_arrival + COMMIT_WAIT_SECONDS - time.monotonic())
        done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED) if pending else (set(), pending)
        if done and not arrived:
            first_arrival = time.monotonic()
        arrived += done
        if arrived and (len(arrived) >= COMMIT_BATCH or not pending or time.monotonic() >= first_arrival + COMMIT_WAIT_SECONDS):
            _record([(futures[future], future) for future in arrived])
            arrived = []
        if stop.is_set() or (not shutting_down.is_set() and time.monotonic() < last_check + CANCEL_CHECK_SECONDS):
            continue
        last_check = time.monotonic()
        if shutting_down.is_set() or not still_wanted():
            logger.info("stopping a chunk of %d items: the job was cancelled or the worker is shutting down", len(pending))
            stop.set()


_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _thread_pool(max_requests: int, local: bool) -> ThreadPoolExecutor:
    """The process's threads for acquiring items, kept from chunk to chunk (starting 32 threads a chunk
    costs more than a chunk of local files takes to read on a busy machine).

    Local files wait on the disk and the CPU, not on servers: a few threads per
    core keep both busy. A forked process (a Celery worker) makes its own.
    """
    workers = min(max_requests, 4 * (os.cpu_count() or 1)) if local else max_requests
    key = (os.getpid(), workers)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scraper-fetch")
        return _pools[key]
