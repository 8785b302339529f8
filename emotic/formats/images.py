"""Decoding source images the way annotators saw them, as 8-bit RGB.

Browsers show a photo turned by its EXIF orientation, composite transparency
over the page and show CMYK, palette and 16-bit greyscale files as colour, so
boxes drawn in the browser refer to that picture; the arrays must match it.

JPEGs can be decoded at 1/2, 1/4 or 1/8 of their size (Pillow's ``draft``
mode, libjpeg's DCT scaling), several times faster than a full decode. A
``DecodedPicture`` remembers the reduction, so boxes given in the record's
pixels still find the same part of the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps

from emotic.formats.common import FormatError
from emotic.records import ImageRecord

# Opens the stored file of an image record as a binary stream; Django passes ``storage.open``.
ImageOpener = Callable[[ImageRecord], BinaryIO]

BACKGROUND = (255, 255, 255)  # what transparent pixels become: the white page they were shown on
JPEG_REDUCTIONS = (8, 4, 2, 1)  # the scales libjpeg decodes at directly

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


@dataclass(frozen=True)
class DecodedPicture:
    """An RGB picture of a record, possibly decoded at reduced scale.

    ``origin`` is where the record's pixel (0, 0) lies in ``picture``: a
    reduced decode rounds the size up, and the partial last pixel lands
    first when the orientation runs an axis backwards.
    """

    picture: Image.Image
    reduction: int  # record pixels per picture pixel: 1, 2, 4 or 8
    origin: tuple[float, float]

    def picture_box(self, box: Box) -> Box:
        """A box in record pixels, in this picture's (fractional) pixels."""
        x0, y0 = self.origin
        x1, y1, x2, y2 = box
        r = self.reduction
        return (x0 + x1 / r, y0 + y1 / r, x0 + x2 / r, y0 + y2 / r)

    def resized(self, box: Box, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
        """The part of the picture under ``box`` (record pixels) resized to ``size``.

        As cropping then resizing does, pixels outside the box's whole-pixel
        bounds never leak in; at full scale it is exactly that.
        """
        x1, y1, x2, y2 = self.picture_box(box)
        left, top = math.floor(x1), math.floor(y1)
        right = min(math.ceil(x2), self.picture.width)
        bottom = min(math.ceil(y2), self.picture.height)
        bounds = (left, top, right, bottom)
        part = self.picture if bounds == (0, 0, *self.picture.size) else self.picture.crop(bounds)
        return part.resize(size, resample, box=(x1 - left, y1 - top, x2 - left, y2 - top))


def decode_rgb(image: ImageRecord, open_image: ImageOpener, *, max_reduction: int = 1) -> DecodedPicture:
    """The record's image as RGB, oriented so that the record's size and boxes fit it.

    Our records hold the size shown in the browser (EXIF applied). Files made
    by MATLAB, which ignores EXIF (the official EMOTIC annotations), hold the
    stored size; when only that one fits, the stored orientation is kept.
    A JPEG is decoded at the largest of 1/2, 1/4, 1/8 not above ``max_reduction``;
    other formats always at full size.
    """
    expected = (image.width, image.height)
    try:
        with open_image(image) as stream, Image.open(stream) as stored:
            stored_size = stored.size
            orientation = stored.getexif().get(ExifTags.Base.Orientation, 1)
            turned = orientation in ORIENTATION_AXES and orientation != 1
            axes = ORIENTATION_AXES[orientation if turned else 1]
            upright_size = stored_size[::-1] if axes[0] else stored_size
            fits_upright, fits_stored = upright_size == expected, stored_size == expected
            reduction = _draft(stored, max_reduction) if fits_upright or fits_stored else 1
            stored.load()
            if fits_upright:
                picture = to_rgb(ImageOps.exif_transpose(stored) if turned else stored)
                origin = _origin(stored_size, stored.size, reduction, axes)
            elif fits_stored:
                picture = to_rgb(stored)
                origin = (0.0, 0.0)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # Pillow's ways to refuse a file
        raise FormatError(image.relative_path, f"cannot open or decode the image ({error})") from None
    if not (fits_upright or fits_stored):
        raise FormatError(
            image.relative_path, f"decoded image is {upright_size[0]}x{upright_size[1]} but the record says "
            f"{image.width}x{image.height}"
        )
    return DecodedPicture(picture, reduction, origin)


def open_rgb(image: ImageRecord, open_image: ImageOpener) -> Image.Image:
    """The record's image as RGB at full size (see ``decode_rgb``)."""
    return decode_rgb(image, open_image).picture


def _draft(stored: Image.Image, max_reduction: int) -> int:
    """Ask a JPEG decoder for the largest allowed reduction; returns the one it will use."""
    width, height = stored.size
    reduction = next(r for r in JPEG_REDUCTIONS if r <= max(max_reduction, 1) and r <= min(width, height))
    drafted = None if reduction == 1 else stored.draft(stored.mode, (width // reduction, height // reduction))
    if drafted is None:  # not a JPEG, or nothing to reduce
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
