"""Checking downloaded bytes by decoding them, and hashing what will be stored.

No database access here: this runs in fetch threads. The real type
comes from decoding (a Content-Type header or a file name proves nothing),
Pillow's decompression-bomb limit is enforced before any pixels are decoded,
and images are stored upright (EXIF orientation applied).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
import scipy.fftpack
from PIL import Image, ImageOps, UnidentifiedImageError

from catalog.models import ImageRejectReason as RejectReason

# Formats a browser shows and Pillow decodes safely; MPO is a camera JPEG with extra frames.
ACCEPTED_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
EXIF_ORIENTATION_TAG = 0x0112
# imagehash.phash's defaults: a 64-bit hash from a 32x32 image.
PHASH_SIZE = 8
PHASH_HIGHFREQ_FACTOR = 4
# JPEGs are decoded at the smallest DCT scale that keeps this many pixels a side (enough for the hash).
PHASH_DECODE_SIDE = 96


class ImageRejected(Exception):
    """The bytes are not an image we keep; ``reason`` is an ``ImageRejectReason`` value."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class PreparedImage:
    """A validated image: the bytes to store and what the database records about them."""

    sha256: str  # of the bytes received: the same download is recognised again
    phash: str  # 64-bit perceptual hash of the upright pixels, hex
    format: str
    extension: str
    width: int  # upright (as stored)
    height: int
    raw_width: int  # as decoded, before EXIF orientation
    raw_height: int
    orientation: int
    content: bytes  # what is stored: the bytes received, or re-encoded upright

    @property
    def storage_key(self) -> str:
        """Content-addressed key in the default storage."""
        return f"images/{self.sha256[:2]}/{self.sha256}.{self.extension}"

    def upright_box(self, box: Box) -> Box:
        """A box given on the decoded pixels, moved to the upright (stored) image."""
        return orient_box(box, self.orientation, self.raw_width, self.raw_height)


def orient_box(box: Box, orientation: int, width: int, height: int) -> Box:
    """Map [x1, y1, x2, y2) through the transpose that EXIF ``orientation`` asks for.

    Corner points are mapped in continuous coordinates ([0, width] x [0, height]),
    which keeps half-open pixel boxes exact under flips and quarter turns.
    """
    x1, y1, x2, y2 = box
    w, h = width, height
    point_maps = {
        1: lambda x, y: (x, y),
        2: lambda x, y: (w - x, y),  # mirror
        3: lambda x, y: (w - x, h - y),  # rotate 180
        4: lambda x, y: (x, h - y),  # flip vertically
        5: lambda x, y: (y, x),  # transpose
        6: lambda x, y: (h - y, x),  # rotate 90 clockwise
        7: lambda x, y: (h - y, w - x),  # transverse
        8: lambda x, y: (y, w - x),  # rotate 90 counter-clockwise
    }
    mapped = [point_maps.get(orientation, point_maps[1])(x, y) for x, y in ((x1, y1), (x2, y2))]
    xs, ys = [p[0] for p in mapped], [p[1] for p in mapped]
    return (min(xs), min(ys), max(xs), max(ys))


def _sniff_non_image(data: bytes) -> ImageRejected | None:
    """Recognise text that servers label as images: SVG and HTML pages."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in head):
        return ImageRejected(RejectReason.UNSUPPORTED_FORMAT, "SVG (vector) images are not accepted")
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head[:512]:
        return ImageRejected(RejectReason.NOT_AN_IMAGE, "the content is an HTML page, not an image")
    return None


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(RejectReason.DECOMPRESSION_BOMB, str(error)) from None
    except UnidentifiedImageError:
        raise ImageRejected(RejectReason.NOT_AN_IMAGE, "Pillow recognises no image format in the content") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(RejectReason.TRUNCATED, f"the image header is corrupt: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            RejectReason.DECOMPRESSION_BOMB,
            f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}",
        )
    return image


def _decode(image: Image.Image) -> None:
    """Decode every pixel (this is what proves the file is whole)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(RejectReason.DECOMPRESSION_BOMB, str(error)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageRejected(RejectReason.TRUNCATED, f"the image cannot be decoded: {error}") from None


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 when absent or invalid). PNG keeps EXIF after the pixels, so this may decode."""
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageRejected(RejectReason.TRUNCATED, f"the image cannot be decoded: {error}") from None
    return orientation if orientation in range(1, 9) else 1


def _encode_like(image: Image.Image, original: Image.Image) -> bytes:
    """Re-encode upright pixels in the original's format, keeping the colour profile."""
    output = io.BytesIO()
    fmt = "JPEG" if original.format in ("JPEG", "MPO") else original.format
    options: dict = {}
    if original.info.get("icc_profile"):
        options["icc_profile"] = original.info["icc_profile"]
    if fmt == "JPEG":
        options.update(quality=95)
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
    elif fmt == "WEBP":
        options.update(quality=95)
    exif = image.getexif()
    if exif:
        exif.pop(EXIF_ORIENTATION_TAG, None)
        options["exif"] = exif.tobytes()
    image.save(output, format=fmt, **options)
    return output.getvalue()


def perceptual_hash(image: Image.Image) -> str:
    """imagehash's pHash (8x8 low frequencies of the DCT of a 32x32 grey image), resized with a reducing gap.

    ``imagehash.phash`` resizes the full photo with Lanczos; Pillow's reducing
    gap first shrinks by whole factors to three times the target, which is a
    few times cheaper and as stable for resized and re-encoded copies.
    """
    side = PHASH_SIZE * PHASH_HIGHFREQ_FACTOR
    small = image.convert("L").resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(small, dtype=np.float64)
    low = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:PHASH_SIZE, :PHASH_SIZE]
    return str(imagehash.ImageHash(low > np.median(low)))


def prepare_image(data: bytes, *, max_pixels: int, min_side: int) -> PreparedImage:
    """Validate ``data`` as an image and compute what ingest needs, or raise ``ImageRejected``."""
    if not data:
        raise ImageRejected(RejectReason.NOT_AN_IMAGE, "the content is empty")
    sniffed = _sniff_non_image(data)
    if sniffed is not None:
        raise sniffed
    image = _open(data, max_pixels)
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(
            RejectReason.UNSUPPORTED_FORMAT,
            f"{image.format} images are not accepted (accepted: {', '.join(sorted(set(ACCEPTED_FORMATS)))})",
        )
    raw_width, raw_height = image.size
    if min(raw_width, raw_height) < min_side:
        raise ImageRejected(
            RejectReason.TOO_SMALL, f"{raw_width}x{raw_height} is smaller than {min_side} pixels on a side"
        )
    orientation = _orientation(image)
    fmt = image.format
    content = data
    if orientation != 1:  # re-encoded upright, so it needs every pixel
        _decode(image)
        upright = ImageOps.exif_transpose(image)
        content = _encode_like(upright, image)
    else:
        if fmt in ("JPEG", "MPO"):
            # Decode at a reduced scale (libjpeg's DCT scaling): every block of the file is still
            # entropy-decoded, so a truncated file fails as it would at full size, for half the cost;
            # the small image is all the hash needs.
            image.draft(None, (PHASH_DECODE_SIDE, PHASH_DECODE_SIDE))
        _decode(image)
        upright = image
    width, height = (raw_height, raw_width) if orientation >= 5 else (raw_width, raw_height)
    return PreparedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        phash=perceptual_hash(upright),
        format="JPEG" if fmt == "MPO" else fmt,
        extension=ACCEPTED_FORMATS[fmt],
        width=width,
        height=height,
        raw_width=raw_width,
        raw_height=raw_height,
        orientation=orientation,
        content=content,
    )
