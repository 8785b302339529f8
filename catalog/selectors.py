"""Reads of the photo library for the other apps."""

from __future__ import annotations

from collections.abc import Iterable

from catalog.models import Image


def images_by_source_url(urls: Iterable[str]) -> dict[str, Image]:
    """The stored images downloaded from these URLs, by URL (an image found again need not be fetched again)."""
    urls = {url for url in urls if url}
    return {image.source_url: image for image in Image.objects.filter(source_url__in=urls)} if urls else {}
