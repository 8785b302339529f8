"""Decoding source images the way annotators saw them, as 8-bit RGB.

Browsers show a photo turned by its EXIF orientation, composite transparency
over the page and show CMYK, palette and 16-bit greyscale files as colour, so
boxes drawn in the browser refer to that picture; the arrays must match it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from emotic.formats.common import FormatError
from emotic.records import ImageRecord

# Opens the stored file of an image record as a binary stream; Django passes ``storage.open``.
ImageOpener = Callable[[ImageRecord], BinaryIO]

BACKGROUND = (255, 255, 255)  # what transparent pixels become: the white page they were shown on


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


def open_rgb(image: ImageRecord, open_image: ImageOpener) -> Image.Image:
    """The record's image as RGB, oriented so that the record's size and boxes fit it.

    Our records hold the size shown in the browser (EXIF applied). Files made
    by MATLAB, which ignores EXIF (the official EMOTIC annotations), hold the
    stored size; when only that one fits, the stored orientation is kept.
    """
    expected = (image.width, image.height)
    try:
        with open_image(image) as stream, Image.open(stream) as stored:
            stored.load()
            upright = ImageOps.exif_transpose(stored)
            if upright.size == expected:
                return to_rgb(upright)
            if stored.size == expected:
                return to_rgb(stored)
            found = upright.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # Pillow's ways to refuse a file
        raise FormatError(f"{image.relative_path}: cannot open or decode the image ({error})") from None
    raise FormatError(
        f"{image.relative_path}: decoded image is {found[0]}x{found[1]} but the record says "
        f"{image.width}x{image.height}"
    )
