"""The ingest pipeline for one chunk of a job's items.

Threads do what waits on the network or the CPU and touches no database:
fetch (or read the local file), validate and hash, write the content-addressed
file. The calling thread, which owns the database connection, then commits
each result and records it on its item. A failure on one item is recorded on
that item; the chunk goes on.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotator.models import Image
from scraper.fetching import FetchRejected, PoliteFetcher
from scraper.imaging import ImageRejected, PreparedImage, prepare_image
from scraper.ingest import (
    IngestOutcome,
    Provenance,
    commit_prepared_image,
    discard_blob_if_unreferenced,
    write_blob,
)
from scraper.models import CrawlItem, CrawlJob, RejectReason
from scraper.services.emotic_annotations import import_original_answers, keep_original_split

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Work:
    """What a thread needs to know about an item (plain values: threads never touch the ORM)."""

    item_id: int
    image_url: str
    local_path: str


@dataclass
class _Acquired:
    prepared: PreparedImage | None = None
    blob_written: bool = False
    rejection: tuple[str, str] | None = None
    final_url: str = ""
    http_headers: dict | None = None
    fetched_at: datetime | None = None


def _read_local(path: Path, max_bytes: int) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise FetchRejected(RejectReason.TOO_LARGE, f"{path.name} is {size} bytes, more than {max_bytes}")
    return path.read_bytes()


def _acquire(work: _Work, fetcher: PoliteFetcher) -> _Acquired:
    """Fetch or read, validate, hash and store the file (runs in a worker thread)."""
    acquired = _Acquired()
    try:
        local = Path(work.local_path) if work.local_path else None
        if local is not None and (local.is_file() or not work.image_url):
            try:
                data = _read_local(local, settings.SCRAPER_MAX_DOWNLOAD_BYTES)
            except FileNotFoundError:
                raise FetchRejected(RejectReason.MISSING_FILE, f"{work.local_path} does not exist") from None
            except OSError as error:
                raise FetchRejected(RejectReason.MISSING_FILE, f"{work.local_path} cannot be read: {error}") from None
            acquired.fetched_at = datetime.now(UTC)
        else:
            resource = fetcher.fetch_image(work.image_url, max_bytes=settings.SCRAPER_MAX_DOWNLOAD_BYTES)
            data = resource.content
            acquired.final_url, acquired.http_headers, acquired.fetched_at = resource.url, resource.headers, resource.fetched_at
        acquired.prepared = prepare_image(
            data, max_pixels=settings.MAX_IMAGE_PIXELS, min_side=settings.SCRAPER_MIN_IMAGE_SIDE
        )
        acquired.blob_written = write_blob(acquired.prepared)
    except (FetchRejected, ImageRejected) as rejected:
        acquired.rejection = (str(rejected.reason), rejected.detail)
    return acquired


def _finish(item: CrawlItem, state: str, *, image: Image | None = None, reason: str = "", detail: str = "") -> None:
    item.state, item.image, item.reason, item.detail = state, image, reason, detail[:1000]
    item.claimed_until = None
    item.save(
        update_fields=["state", "image", "reason", "detail", "claimed_until", "http_headers", "fetched_at", "updated_at"]
    )
    if state == CrawlItem.State.REJECTED:
        logger.info("job %s: %s rejected (%s): %s", item.job_id, item.key, reason, detail)


def _commit(item: CrawlItem, acquired: _Acquired) -> None:
    prepared = acquired.prepared
    assert prepared is not None
    provenance = Provenance(
        source=item.source,
        original_database=item.original_database,
        filename=item.filename,
        folder=item.folder,
        source_url=item.image_url,
        page_url=item.page_url,
        source_record=item.source_record,
        license=item.license,
        http_headers=acquired.http_headers or {},
        fetched_at=acquired.fetched_at,
    )
    boxes = [tuple(box) for box in item.people]
    try:
        with transaction.atomic():
            result = commit_prepared_image(prepared, provenance, boxes, blob_written=acquired.blob_written)
            notes = _import_original_labels(item, result)
    except Exception as error:  # the item stays pending; its attempts count stops endless retries
        logger.exception("job %s: %s could not be committed", item.job_id, item.key)
        discard_blob_if_unreferenced(prepared.storage_key)
        item.claimed_until = None
        item.detail = f"attempt {item.attempts} failed: {error}"[:1000]
        item.save(update_fields=["claimed_until", "detail", "updated_at"])
        return
    if result.outcome == IngestOutcome.REJECTED:
        _finish(item, CrawlItem.State.REJECTED, reason=result.reason, detail=result.detail)
    elif result.outcome == IngestOutcome.NEAR_DUPLICATE:
        detail = f"near duplicate of image {result.image.pk} (distance {result.distance})"
        if item.people:
            detail += "; its people and annotations were not imported (the boxes belong to other pixels)"
        _finish(item, result.outcome, image=result.image, detail=detail)
    else:
        _finish(item, result.outcome, image=result.image, detail="; ".join(notes))


def _import_original_labels(item: CrawlItem, result) -> list[str]:
    """For an EMOTIC import: the original answers of each person, and the image's original split."""
    if result.outcome not in (IngestOutcome.STORED, IngestOutcome.EXACT_DUPLICATE):
        return []
    notes = import_original_answers(result.people, item.annotations) if item.annotations else []
    split = item.extra.get("split") if item.job.kind == CrawlJob.Kind.EMOTIC else None
    if split:
        note = keep_original_split(result.image, split)
        notes += [note] if note else []
    return notes


def _resolve_known_urls(items: list[CrawlItem]) -> list[CrawlItem]:
    """Items whose URL an earlier crawl already stored are duplicates without a download; return the rest."""
    urls = {item.image_url for item in items if item.image_url and not item.local_path}
    known = dict(Image.objects.filter(source_url__in=urls).values_list("source_url", "id")) if urls else {}
    remaining = []
    for item in items:
        image_id = known.get(item.image_url) if not item.local_path else None
        if image_id is None:
            remaining.append(item)
        else:
            _finish(item, CrawlItem.State.EXACT_DUPLICATE, image=Image.objects.get(id=image_id), detail="already stored from this URL")
    return remaining


def process_items(items: list[CrawlItem], fetcher: PoliteFetcher) -> None:
    """Acquire the items in parallel and commit each as it arrives."""
    items = _resolve_known_urls(items)
    if not items:
        return
    by_id = {item.id: item for item in items}
    workers = min(len(items), settings.SCRAPER_MAX_CONCURRENT_REQUESTS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scraper-fetch") as pool:
        futures = {
            pool.submit(_acquire, _Work(item.id, item.image_url, item.local_path), fetcher): item.id for item in items
        }
        for future in as_completed(futures):
            item = by_id[futures[future]]
            try:
                acquired = future.result()
            except Exception as error:  # storage unreachable, or a bug: leave the item for a later attempt
                logger.exception("job %s: %s could not be acquired", item.job_id, item.key)
                item.claimed_until = None
                item.detail = f"attempt {item.attempts} failed: {error}"[:1000]
                item.save(update_fields=["claimed_until", "detail", "updated_at"])
                continue
            item.http_headers = acquired.http_headers or {}
            item.fetched_at = acquired.fetched_at
            if acquired.rejection is not None:
                reason, detail = acquired.rejection
                _finish(item, CrawlItem.State.REJECTED, reason=reason, detail=detail)
            else:
                _commit(item, acquired)
