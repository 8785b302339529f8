"""Reads of the photo library for the other apps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from catalog.models import Image


def images_by_source_url(urls: Iterable[str]) -> dict[str, Image]:
    """The stored images downloaded from these URLs, by URL (an image found again need not be fetched again)."""
    urls = {url for url in urls if url}
    return {image.source_url: image for image in Image.objects.filter(source_url__in=urls)} if urls else {}


def images(
    *, split: str | None = None, source_id: int | None = None, original_database: str | None = None,
    license_code: str | None = None, created_after: datetime | None = None,
) -> QuerySet[Image]:
    """The library's images, filtered (None: any; split "" is the images not yet placed), by id."""
    rows = Image.objects.defer("http_headers").order_by("id")
    if split is not None:
        rows = rows.filter(split=split)
    if source_id is not None:
        rows = rows.filter(source_id=source_id)
    if original_database is not None:
        rows = rows.filter(original_database=original_database)
    if license_code is not None:
        rows = rows.filter(license_code=license_code)
    if created_after is not None:
        rows = rows.filter(created_at__gt=created_after)
    return rows
