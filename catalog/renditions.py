"""Resized renditions of images (JPEG for the review page, WebP for the task page), made once and cached in storage.

The annotation page shows a rendition no larger than
``settings.IMAGE_RENDITION_MAX_SIDE`` on its longer side; boxes stay in the
original's pixels and the page scales them. Images already small enough are
served as they are.
"""

from __future__ import annotations

import io
import logging

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from catalog.files import open_stored
from catalog.models import Image

logger = logging.getLogger(__name__)

JPEG_QUALITY = 85
RENDITION_KNOWN_SECONDS = 24 * 3600


def _known_key(key: str) -> str:
    """Cache key saying the rendition is in this storage (bucket or folder: tests and deployments differ)."""
    where = getattr(default_storage, "bucket_name", None) or getattr(default_storage, "location", "")
    return f"rendition-stored:{where}:{key}"


def forget_rendition(key: str) -> None:
    """The rendition turned out to be missing: the next request checks storage again."""
    cache.delete(_known_key(key))


def rendition_key(image: Image, max_side: int) -> str:
    """Where the rendition lives: named by content hash, so it never goes stale."""
    return f"renditions/{image.sha256[:2]}/{image.sha256}-{max_side}.jpg"


def rendition_size(image: Image, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(image.width, image.height))
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def ensure_rendition(image: Image, max_side: int | None = None) -> str:
    """Storage key of the image as shown to workers, making the rendition if it is missing."""
    max_side = max_side or settings.IMAGE_RENDITION_MAX_SIDE
    if max(image.width, image.height) <= max_side:
        return image.storage_key
    key = rendition_key(image, max_side)
    known = _known_key(key)
    if cache.get(known) or default_storage.exists(key):  # on S3 exists() is a request: remembered
        cache.set(known, True, RENDITION_KNOWN_SECONDS)
        return key
    with open_stored(image.storage_key) as original:
        picture = PILImage.open(original)
        picture.draft("RGB", rendition_size(image, max_side))  # JPEG: decode at reduced scale, much faster
        picture = picture.convert("RGB")
        picture = picture.resize(rendition_size(image, max_side), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    saved = default_storage.save(key, ContentFile(buffer.getvalue()))
    cache.set(known, True, RENDITION_KNOWN_SECONDS)
    logger.info("made rendition %s of image %s", saved, image.pk)
    return saved


# --- the task page's renditions: WebP, by the image's identity, one per long side -------------

WEBP_QUALITY = 80


def web_side(image: Image, side: int) -> int:
    """The long side a ``side`` rendition really has: never more than the image's own (no enlarging)."""
    return min(side, max(image.width, image.height))


def web_rendition_key(image: Image, side: int) -> str:
    """Named by content hash and real size: two requested sides that come out the same share one file."""
    return f"renditions/{image.sha256[:2]}/{image.sha256}-{web_side(image, side)}.webp"


def ensure_web_rendition(image: Image, side: int) -> str:
    """Storage key of the WebP rendition of ``image`` with long side ``side`` (or its own), made once.

    Made even when the image is small: a stored PNG of 512 pixels can weigh
    800 KB, its WebP a tenth of that. Requests arriving together may both make
    it; they write the same bytes under the same name (the storage keeps one).
    """
    key = web_rendition_key(image, side)
    known = _known_key(key)
    if cache.get(known) or default_storage.exists(key):
        cache.set(known, True, RENDITION_KNOWN_SECONDS)
        return key
    size = rendition_size(image, web_side(image, side))
    with open_stored(image.storage_key) as original:
        picture = PILImage.open(original)
        picture.draft("RGB", size)
        picture = picture.convert("RGB")
        if picture.size != size:
            picture = picture.resize(size, PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(buffer.getvalue()))
    cache.set(known, True, RENDITION_KNOWN_SECONDS)
    logger.info("made rendition %s of image %s", key, image.pk)
    return key
