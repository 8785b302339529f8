"""Decoding source images the way annotators saw them, as 8-bit RGB.

Browsers show a photo turned by its EXIF orientation, composite transparency
over the page and show CMYK, palette and 16-bit greyscale files as colour, so
boxes drawn in the browser refer to that picture; the arrays must match it.

JPEGs can be decoded at 1/2, 1/4 or 1/8 of their size (libjpeg's DCT
scaling), several times faster than a full decode. A ``DecodedPicture``
remembers the reduction, so boxes given in the record's pixels still find the
same part of the picture.

Speed, measured by bench/bench_decoders.py (docs/benchmarks.md, issue 17):
the plain RGB and greyscale JPEGs that are nearly every photo are decoded by
simplejpeg straight into a NumPy array (libjpeg-turbo, the same pixels as
Pillow's decoder, without Pillow's copies: 1.5 against 2.4 ms for a 640 x 480
photo), and resized by ``resize_box`` with OpenCV (0.34 against 1.8 ms for
224 x 224). Pillow still
reads every header (size, EXIF) and decodes whatever else comes: CMYK,
palettes, transparency, 16-bit, PNG, WebP.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import cv2
import numpy as np
import simplejpeg
from PIL import ExifTags, Image

from emotic.formats.common import FormatError
from emotic.records import ImageRecord

# OpenCV's own thread pool does not survive a fork (a forked process waits on it for ever), and
# work is spread over processes here (the arrays writer's pool, DataLoader workers): one thread.
cv2.setNumThreads(0)


class Picture(Protocol):
    """What decoding needs of an image: its size as annotated and a name for errors (an ``ImageRecord`` is one)."""

    width: int
    height: int

    @property
    def relative_path(self) -> str: ...


# Opens the stored file of an image record (or another ``Picture``) as a binary stream; Django passes ``storage.open``.
ImageOpener = Callable[[Picture], BinaryIO]

BACKGROUND = (255, 255, 255)  # what transparent pixels become: the white page they were shown on
JPEG_REDUCTIONS = (8, 4, 2, 1)  # the scales libjpeg decodes at directly
JPEG_FORMATS = ("JPEG", "MPO")  # Pillow's names; an MPO (a phone's multi-picture file) starts with a plain JPEG

# EXIF orientation -> how the upright picture's axes come from the stored one:
# (axes swapped, upright x runs backwards, upright y runs backwards); the same
# turns as Pillow's ``ImageOps.exif_transpose``.
ORIENTATION_AXES = {
    1: (False, False, False),
    2: (False, True, False),  # mirrored left-right
    3: (False, True, True),  # turned 180 degrees
    4: (False, False, True),  # mirrored top-bottom
    5: (True, False, False),  # transposed
    6: (True, True, False),  # stored turned left
    7: (True, True, True),  # transversed
    8: (True, False, True),  # stored turned right
}

Box = tuple[float, float, float, float]


def folder_opener(root: Path | str) -> ImageOpener:
    """Open images laid out as EMOTIC ships them: ``<root>/<folder>/<filename>``."""
    root = Path(root)
    return lambda image: (root / image.folder / image.filename).open("rb")


def to_rgb(picture: Image.Image) -> Image.Image:
    """8-bit RGB of any Pillow mode; transparency composited over ``BACKGROUND``."""
    if picture.mode.startswith("I;16"):  # 16-bit greyscale: keep the high byte, not a clipped low one
        picture = Image.fromarray((np.asarray(picture) >> 8).astype(np.uint8), mode="L")
    transparent = picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info
    if transparent:
        rgba = picture.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba).convert("RGB")
    return picture.convert("RGB")


def largest_reduction(
    width: int, height: int, boxes: Iterable[Box], *, min_image_side: int, min_box_side: int
) -> int:
    """The largest JPEG reduction keeping the image ``min_image_side`` and every box ``min_box_side`` a side.

    Decoding below the size the arrays are resized to would lose detail, so
    an image with one small person is decoded at full size.
    """
    smallest_box_side = min((min(x2 - x1, y2 - y1) for x1, y1, x2, y2 in boxes), default=math.inf)
    for reduction in JPEG_REDUCTIONS:
        if min(width, height) / reduction >= min_image_side and smallest_box_side / reduction >= min_box_side:
            return reduction
    return 1


def resize_box(pixels: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """The part of ``pixels`` (H x W x C uint8) under ``box`` resized to ``size`` (width, height).

    ``box`` may fall between pixels (a reduced decode's boxes do); pixels
    outside its whole-pixel bounds never leak in, as with cropping then
    resizing. Shrinking averages: an area reduction by the whole factor, then
    bilinear interpolation for the rest (under 2, where bilinear misses no
    pixel), so the picture is smoothed as Pillow's antialiased resize does,
    at a fifth of its cost; enlarging is bilinear. Against Pillow's bilinear
    resize the result differs by 0.6 of 255 on average on photos, up to 1.9
    on pixel noise shrunk by 1 to 2 times (tests/emotic/test_formats_speedups.py).
    """
    x1, y1, x2, y2 = box
    out_width, out_height = size
    height, width = pixels.shape[:2]
    left, top = math.floor(x1), math.floor(y1)
    right, bottom = min(math.ceil(x2), width), min(math.ceil(y2), height)
    if right <= left or bottom <= top:
        raise ValueError(f"box {box} holds no pixel of a {width}x{height} picture")
    scale_x, scale_y = (x2 - x1) / out_width, (y2 - y1) / out_height
    # Whole reduction factors, no larger than the part allows (a box may end past the picture).
    factor_x = max(1, min(int(scale_x), right - left))
    factor_y = max(1, min(int(scale_y), bottom - top))
    columns, rows = (right - left) // factor_x, (bottom - top) // factor_y
    part = pixels[top : top + rows * factor_y, left : left + columns * factor_x]
    if factor_x > 1 or factor_y > 1:
        part = cv2.resize(part, (columns, rows), interpolation=cv2.INTER_AREA)
    # Output pixel i's centre lies at x1 + (i + 1/2) * scale in the picture; OpenCV puts pixel centres on whole numbers.
    step_x, step_y = scale_x / factor_x, scale_y / factor_y
    matrix = np.array([
        [step_x, 0.0, (x1 - left) / factor_x + step_x / 2 - 0.5],
        [0.0, step_y, (y1 - top) / factor_y + step_y / 2 - 0.5],
    ])  # fmt: skip
    resized = cv2.warpAffine(
        part, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return resized.reshape(out_height, out_width, -1) if pixels.ndim == 3 else resized


@dataclass(frozen=True)
class DecodedPicture:
    """An RGB picture of a record (H x W x 3 uint8), possibly decoded at reduced scale.

    ``origin`` is where the record's pixel (0, 0) lies in ``pixels``: a
    reduced decode rounds the size up, and the partial last pixel lands
    first when the orientation runs an axis backwards.
    """

    pixels: np.ndarray
    reduction: int  # record pixels per picture pixel: 1, 2, 4 or 8
    origin: tuple[float, float]

    @property
    def size(self) -> tuple[int, int]:
        return (self.pixels.shape[1], self.pixels.shape[0])

    def picture_box(self, box: Box) -> Box:
        """A box in record pixels, in this picture's (fractional) pixels."""
        x0, y0 = self.origin
        x1, y1, x2, y2 = box
        r = self.reduction
        return (x0 + x1 / r, y0 + y1 / r, x0 + x2 / r, y0 + y2 / r)

    def resized(self, box: Box, size: tuple[int, int]) -> np.ndarray:
        """The part of the picture under ``box`` (record pixels) resized to ``size`` (see ``resize_box``)."""
        return resize_box(self.pixels, self.picture_box(box), size)


def decode_rgb(image: Picture, open_image: ImageOpener, *, max_reduction: int = 1) -> DecodedPicture:
    """The record's image as RGB, oriented so that the record's size and boxes fit it.

    Our records hold the size shown in the browser (EXIF applied). Files made
    by MATLAB, which ignores EXIF (the official EMOTIC annotations), hold the
    stored size; when only that one fits, the stored orientation is kept.
    A JPEG is decoded at the largest of 1/2, 1/4, 1/8 not above ``max_reduction``;
    other formats always at full size.
    """
    expected = (image.width, image.height)
    try:
        with open_image(image) as stream:
            data = stream.read()
        with Image.open(io.BytesIO(data)) as stored:
            stored_size = stored.size
            orientation = stored.getexif().get(ExifTags.Base.Orientation, 1)
            turned = orientation in ORIENTATION_AXES and orientation != 1
            axes = ORIENTATION_AXES[orientation if turned else 1]
            upright_size = stored_size[::-1] if axes[0] else stored_size
            fits_upright, fits_stored = upright_size == expected, stored_size == expected
            if fits_upright or fits_stored:
                reduction = _allowed_reduction(stored, max_reduction)
                pixels = _decode_jpeg(data, reduction) if _plain_jpeg(stored) else None
                if pixels is None:  # not a plain JPEG, or one only Pillow's tolerance reads
                    reduction = _draft(stored, reduction)
                    pixels = np.asarray(to_rgb(stored))
                decoded_size = (pixels.shape[1], pixels.shape[0])
                if fits_upright and turned:
                    pixels = _turn_upright(pixels, axes)
                    origin = _origin(stored_size, decoded_size, reduction, axes)
                else:
                    origin = (0.0, 0.0)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # ways to refuse a file
        raise FormatError(image.relative_path, f"cannot open or decode the image ({error})") from None
    if not (fits_upright or fits_stored):
        raise FormatError(
            image.relative_path, f"decoded image is {upright_size[0]}x{upright_size[1]} but the record says "
            f"{image.width}x{image.height}"
        )
    return DecodedPicture(pixels, reduction, origin)


def open_rgb(image: ImageRecord, open_image: ImageOpener) -> Image.Image:
    """The record's image as an RGB Pillow image at full size (see ``decode_rgb``)."""
    return Image.fromarray(decode_rgb(image, open_image).pixels)


def _plain_jpeg(stored: Image.Image) -> bool:
    """A JPEG libjpeg-turbo turns into RGB by itself: YCbCr or greyscale (not CMYK), nothing transparent."""
    return stored.format in JPEG_FORMATS and stored.mode in ("RGB", "L") and "transparency" not in stored.info


def _decode_jpeg(data: bytes, reduction: int) -> np.ndarray | None:
    """RGB pixels at 1/``reduction`` of the stored size (rounded up, as libjpeg's DCT scaling gives).

    None where libjpeg-turbo warns about the data (a damaged segment, say):
    Pillow decides about those files as it always has.
    """
    try:
        if reduction == 1:
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
        height, width = simplejpeg.decode_jpeg_header(data)[:2]
        return simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_width=math.ceil(width / reduction), min_height=math.ceil(height / reduction),
            min_factor=reduction,
        )
    except ValueError:
        return None


def _turn_upright(pixels: np.ndarray, axes: tuple[bool, bool, bool]) -> np.ndarray:
    """The stored pixels turned as a viewer applying the EXIF orientation shows them."""
    swapped, x_backwards, y_backwards = axes
    if swapped:
        pixels = pixels.transpose(1, 0, 2)
    if x_backwards:
        pixels = pixels[:, ::-1]
    if y_backwards:
        pixels = pixels[::-1]
    return np.ascontiguousarray(pixels)


def _allowed_reduction(stored: Image.Image, max_reduction: int) -> int:
    """The largest of ``JPEG_REDUCTIONS`` not above ``max_reduction`` that a JPEG of this size can be decoded at."""
    if stored.format not in JPEG_FORMATS:
        return 1
    width, height = stored.size
    return next(r for r in JPEG_REDUCTIONS if r <= max(max_reduction, 1) and r <= min(width, height))


def _draft(stored: Image.Image, reduction: int) -> int:
    """Ask Pillow's JPEG decoder for an allowed ``reduction``; returns the one it will use."""
    width, height = stored.size
    drafted = None if reduction == 1 else stored.draft(stored.mode, (width // reduction, height // reduction))
    if drafted is None:  # nothing to reduce
        return 1
    _, (_, _, reduced_width, _) = drafted
    return round(width / reduced_width)


def _origin(stored_size: tuple[int, int], decoded_size: tuple[int, int], reduction: int, axes) -> tuple[float, float]:
    """Where the upright record's (0, 0) lies in the upright decoded picture."""
    swapped, x_backwards, y_backwards = axes
    # The decoded picture covers whole pixels: ceil(size / reduction); the spare fraction ends each stored axis.
    spare = [decoded - stored / reduction for decoded, stored in zip(decoded_size, stored_size)]
    if swapped:
        spare.reverse()
    return (spare[0] if x_backwards else 0.0, spare[1] if y_backwards else 0.0)
