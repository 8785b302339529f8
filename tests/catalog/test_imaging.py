"""Validation by decoding: every rejection reason, and EXIF orientation applied to pixels and boxes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from catalog.imaging import ImageRejected, orient_box, prepare_image
from tests.catalog.images import encode, jpeg, photo

LIMITS = dict(max_pixels=10_000_000, min_side=64)


def rejection(data: bytes, **limits) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        prepare_image(data, **{**LIMITS, **limits})
    return caught.value


def test_a_jpeg_is_accepted_with_its_hashes():
    data = jpeg(1)
    prepared = prepare_image(data, **LIMITS)
    assert (prepared.format, prepared.extension, prepared.width, prepared.height) == ("JPEG", "jpg", 320, 240)
    assert prepared.content == data  # stored as received when already upright
    assert len(prepared.sha256) == 64 and len(prepared.phash) == 16
    assert prepared.storage_key == f"images/{prepared.sha256[:2]}/{prepared.sha256}.jpg"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP"])
def test_other_browser_formats_are_accepted(fmt):
    assert prepare_image(encode(photo(2), fmt), **LIMITS).format == fmt


def test_html_served_as_an_image_is_not_an_image():
    error = rejection(b"<!DOCTYPE html><html><body>Access denied</body></html>")
    assert error.reason == "not_an_image" and "HTML" in error.detail


def test_svg_is_refused_as_an_unsupported_format():
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="500" height="500"></svg>'
    error = rejection(svg)
    assert error.reason == "unsupported_format" and "SVG" in error.detail


def test_a_format_outside_the_list_is_refused():
    error = rejection(encode(photo(3), "TIFF"))
    assert error.reason == "unsupported_format" and "TIFF" in error.detail


def test_random_bytes_are_not_an_image():
    assert rejection(bytes(range(256)) * 10).reason == "not_an_image"


def test_empty_content_is_not_an_image():
    assert rejection(b"").reason == "not_an_image"


def test_a_truncated_jpeg_is_rejected_as_truncated():
    data = jpeg(4, noise=20)
    error = rejection(data[: len(data) // 2])
    assert error.reason == "truncated" and "truncated" in error.detail


def test_a_corrupt_png_is_rejected():
    data = bytearray(encode(photo(5), "PNG"))
    data[200:260] = bytes(60)  # zero out part of the compressed pixel data
    assert rejection(bytes(data)).reason == "truncated"


def test_a_one_pixel_image_is_too_small():
    error = rejection(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert error.reason == "too_small" and "1x1" in error.detail


def test_a_decompression_bomb_is_refused_before_decoding():
    # A 6000x6000 single-colour PNG is a few kilobytes that would decode to 108 MB.
    bomb = encode(Image.new("RGB", (6000, 6000)), "PNG")
    assert len(bomb) < 200_000
    error = rejection(bomb, max_pixels=20_000_000)
    assert error.reason == "decompression_bomb" and "36000000" in error.detail


def _marked_photo(size=(300, 200), box=(20, 30, 90, 80)) -> Image.Image:
    """A grey photo with one red rectangle at ``box`` (x1, y1, x2, y2)."""
    image = Image.new("RGB", size, (128, 128, 128))
    image.paste((255, 0, 0), box)
    return image


def _red_box(image: Image.Image) -> tuple[int, int, int, int]:
    pixels = np.asarray(image.convert("RGB")).astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    ys, xs = np.nonzero(red)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_the_pixels_and_to_the_boxes(orientation):
    raw = _marked_photo()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(raw, "PNG", exif=exif.tobytes())

    prepared = prepare_image(data, **LIMITS)
    stored = Image.open(io.BytesIO(prepared.content))
    assert stored.getexif().get(0x0112, 1) == 1  # no viewer will turn it again
    expected_size = (200, 300) if orientation >= 5 else (300, 200)
    assert stored.size == (prepared.width, prepared.height) == expected_size
    # The box given on the raw pixels lands exactly on the red rectangle of the stored image.
    assert prepared.upright_box((20, 30, 90, 80)) == _red_box(stored)


def test_orient_box_is_the_identity_without_orientation():
    assert orient_box((1, 2, 3, 4), 1, 10, 10) == (1, 2, 3, 4)
