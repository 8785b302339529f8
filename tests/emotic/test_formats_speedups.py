"""Reduced JPEG decoding (Pillow's draft mode) and the streamed npy rows of the arrays writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from emotic.formats import FormatError
from emotic.formats.arrays import (
    BODY_SIZE,
    CONTEXT_SIZE,
    RESAMPLE,
    NpyRowWriter,
    read_baseline_arrays,
    write_split_arrays,
)
from emotic.formats.images import decode_rgb, folder_opener, largest_reduction
from emotic.records import ImageRecord

from .conftest import train_person

# Pillow's turn from stored to upright pixels for each EXIF orientation, and the turn back.
TURN = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TURN_BACK = {**TURN, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def record(path: Path, size: tuple[int, int], *boxes) -> ImageRecord:
    people = tuple(train_person(box, ["Peace"], (5, 5, 5)) for box in boxes or [(0, 0, *size)])
    return ImageRecord(path.name, "", size[0], size[1], "web", "test", people)


def save_jpeg(path: Path, upright: Image.Image, orientation: int = 1) -> Path:
    """Store ``upright`` so that a viewer applying EXIF ``orientation`` shows it as given."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    stored = upright.transpose(TURN_BACK[orientation]) if orientation in TURN_BACK else upright
    stored.save(path, quality=95, exif=exif.tobytes())
    return path


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth colour regions and gradients, the kind of content photographs have."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (height // 40 + 2, width // 40 + 2, 3), dtype=np.uint8))
    field = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    field += np.linspace(-30, 30, width, dtype=np.float32)[None, :, None]
    return Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))


def mean_absolute_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def write_arrays(folder: Path, images: list[ImageRecord], opener, reduced: bool):
    write_split_arrays(folder, "test", images, opener, reduced_jpeg_decoding=reduced)
    return read_baseline_arrays(folder, "test", mmap=False)


# ---------------------------------------------------------------- the reduction rule


@pytest.mark.parametrize(
    "size, boxes, expected",
    [
        ((4000, 3000), [(0, 0, 1100, 2000)], 8),  # 375 px image side and 137 px box side at 1/8
        ((4000, 3000), [(0, 0, 600, 600)], 4),  # at 1/8 the box would be 75 px: 1/4 keeps it 150
        ((1024, 768), [(0, 0, 300, 600)], 2),  # at 1/4 the image would be 192 px high
        ((1024, 768), [(0, 0, 300, 600), (10, 10, 200, 700)], 1),  # one narrow person keeps the full size
        ((400, 300), [(0, 0, 400, 300)], 1),  # small photos are never reduced
        ((2000, 2000), [], 8),  # no box to keep
    ],
)
def test_the_reduction_keeps_the_image_224_and_every_box_128_pixels_a_side(size, boxes, expected):
    found = largest_reduction(*size, boxes, min_image_side=CONTEXT_SIZE, min_box_side=BODY_SIZE)
    assert found == expected
    assert min(size) / found >= CONTEXT_SIZE or found == 1
    assert all(min(x2 - x1, y2 - y1) / found >= BODY_SIZE for x1, y1, x2, y2 in boxes) or found == 1


# ---------------------------------------------------------------- decoding


def test_a_large_jpeg_is_decoded_smaller_and_other_formats_at_full_size(tmp_path):
    photo = photo_like(1600, 1200)
    jpeg = save_jpeg(tmp_path / "big.jpg", photo)
    photo.save(tmp_path / "big.png")
    opener = folder_opener(tmp_path)

    reduced = decode_rgb(record(jpeg, (1600, 1200)), opener, max_reduction=4)
    assert (reduced.reduction, reduced.picture.size, reduced.picture.mode) == (4, (400, 300), "RGB")
    full = decode_rgb(record(jpeg, (1600, 1200)), opener)
    assert (full.reduction, full.picture.size) == (1, (1600, 1200))
    png = decode_rgb(record(tmp_path / "big.png", (1600, 1200)), opener, max_reduction=4)
    assert (png.reduction, png.picture.size) == (1, (1600, 1200))


def test_a_jpeg_smaller_than_the_reduction_is_reduced_only_as_far_as_its_size_allows(tmp_path):
    Image.new("RGB", (6, 3), (200, 10, 10)).save(tmp_path / "tiny.jpg")
    tiny = record(tmp_path / "tiny.jpg", (6, 3))
    decoded = decode_rgb(tiny, folder_opener(tmp_path), max_reduction=8)
    assert (decoded.reduction, decoded.picture.size) == (2, (3, 2))


@pytest.mark.parametrize(
    "mode, left, right, shown_left, shown_right",
    [("CMYK", (255, 0, 0, 0), (0, 0, 255, 0), (0, 255, 255), (255, 255, 0)), ("L", 30, 220, (30,) * 3, (220,) * 3)],
)
def test_reduced_cmyk_and_grey_jpegs_still_become_the_rgb_annotators_saw(
    tmp_path, mode, left, right, shown_left, shown_right
):
    picture = Image.new(mode, (1600, 800), left)
    picture.paste(right, (800, 0, 1600, 800))
    picture.save(tmp_path / "colour.jpg", quality=95, subsampling=0)
    decoded = decode_rgb(record(tmp_path / "colour.jpg", (1600, 800)), folder_opener(tmp_path), max_reduction=4)
    assert (decoded.reduction, decoded.picture.size, decoded.picture.mode) == (4, (400, 200), "RGB")
    pixels = np.asarray(decoded.picture, dtype=int)
    assert np.abs(pixels[:, :190] - shown_left).max() <= 12
    assert np.abs(pixels[:, 210:] - shown_right).max() <= 12


def edges_of_white_box(picture: Image.Image, inside: tuple[int, int]) -> tuple[float, float, float, float]:
    """Sub-pixel edges of a white box on black, from the white mass on each side of a point inside it."""
    grey = np.asarray(picture.convert("L"), dtype=np.float64) / 255
    x, y = inside
    row, column = grey[y], grey[:, x]
    return (x - row[:x].sum(), y - column[:y].sum(), x + row[x:].sum(), y + column[y:].sum())


@pytest.mark.parametrize("reduction", [2, 8])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_record_boxes_land_on_the_same_pixels_at_every_orientation(tmp_path, orientation, reduction):
    """Reduced sizes round up to a partial last pixel; turned pictures put it first, and boxes must follow."""
    swapped = orientation >= 5
    size = (1205, 1601) if swapped else (1601, 1205)  # upright; stored 8k+1 by 8k+5 pixels
    box = (301, 203, 1003, 905)
    upright = Image.new("L", size, 0)
    upright.paste(255, box)
    path = save_jpeg(tmp_path / f"turned{orientation}.jpg", upright, orientation)
    assert np.asarray(ImageOps.exif_transpose(Image.open(path)))[box[1] + 5, box[0] + 5] > 250  # stored right

    decoded = decode_rgb(record(path, size, box), folder_opener(tmp_path), max_reduction=reduction)
    assert decoded.reduction == reduction
    expected = decoded.picture_box(box)
    centre = (int((expected[0] + expected[2]) / 2), int((expected[1] + expected[3]) / 2))
    assert edges_of_white_box(decoded.picture, centre) == pytest.approx(expected, abs=0.05)


def test_boxes_on_stored_pixels_keep_the_stored_orientation_when_reduced(tmp_path):
    """Official EMOTIC boxes refer to the stored pixels (MATLAB ignores EXIF); reduced decoding keeps that."""
    stored = Image.new("L", (1601, 1209), 0)
    stored.paste(255, (301, 203, 1003, 905))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    stored.save(tmp_path / "matlab.jpg", quality=95, exif=exif.tobytes())
    box = (301, 203, 1003, 905)
    decoded = decode_rgb(record(tmp_path / "matlab.jpg", (1601, 1209), box), folder_opener(tmp_path), max_reduction=8)
    assert decoded.picture.size == (201, 152) and decoded.origin == (0.0, 0.0)
    assert edges_of_white_box(decoded.picture, (80, 70)) == pytest.approx(decoded.picture_box(box), abs=0.05)


# ---------------------------------------------------------------- the arrays


def test_full_size_decoding_gives_exactly_pillows_crop_then_resize(tmp_path):
    path = save_jpeg(tmp_path / "turned.jpg", photo_like(1200, 1600), orientation=6)
    box = (100, 200, 900, 1500)
    arrays = write_arrays(tmp_path / "out", [record(path, (1200, 1600), box)], folder_opener(tmp_path), reduced=False)
    upright = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert np.array_equal(arrays.context[0], np.asarray(upright.resize((CONTEXT_SIZE, CONTEXT_SIZE), RESAMPLE)))
    assert np.array_equal(arrays.body[0], np.asarray(upright.crop(box).resize((BODY_SIZE, BODY_SIZE), RESAMPLE)))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_reduced_decoding_is_used_when_boxes_allow_and_stays_close_to_full_decoding(tmp_path, orientation):
    size = (1200, 1800) if orientation >= 5 else (1800, 1200)
    path = save_jpeg(tmp_path / "photo.jpg", photo_like(*size, seed=orientation), orientation)
    big_boxes = [(97, 301, 733, 1193), (700, 50, 1180, 1150)]  # reducible 1/2 (the narrower box is 480 px)
    images = [record(path, size, *big_boxes)]
    opener = folder_opener(tmp_path)
    assert largest_reduction(*size, big_boxes, min_image_side=CONTEXT_SIZE, min_box_side=BODY_SIZE) == 2

    reduced = write_arrays(tmp_path / "reduced", images, opener, reduced=True)
    full = write_arrays(tmp_path / "full", images, opener, reduced=False)
    assert not np.array_equal(reduced.context, full.context)  # the draft decode was used
    # Out of 255; boxes snapped to whole decoded pixels would give 0.9 or more.
    assert mean_absolute_difference(reduced.context, full.context) < 0.6
    assert mean_absolute_difference(reduced.body, full.body) < 0.6
    assert reduced.rows == full.rows and np.array_equal(reduced.categories, full.categories)


def test_one_small_person_keeps_the_whole_image_at_full_size(tmp_path):
    path = save_jpeg(tmp_path / "photo.jpg", photo_like(1800, 1200))
    boxes = [(100, 100, 700, 1100), (900, 400, 1100, 900)]  # the second is 200 px wide: 100 px at 1/2
    images = [record(path, (1800, 1200), *boxes)]
    reduced = write_arrays(tmp_path / "reduced", images, folder_opener(tmp_path), reduced=True)
    full = write_arrays(tmp_path / "full", images, folder_opener(tmp_path), reduced=False)
    assert np.array_equal(reduced.context, full.context) and np.array_equal(reduced.body, full.body)


# ---------------------------------------------------------------- streamed npy rows


def test_rows_written_one_by_one_make_the_file_numpy_saves(tmp_path):
    rows = np.arange(5 * 26, dtype=np.float64).reshape(5, 26)
    with NpyRowWriter(tmp_path / "rows.npy", np.float64, (26,), 5) as writer:
        for row in rows:
            writer.write(row)
    np.save(tmp_path / "saved.npy", rows)
    assert (tmp_path / "rows.npy").read_bytes() == (tmp_path / "saved.npy").read_bytes()
    assert np.array_equal(np.load(tmp_path / "rows.npy", mmap_mode="r"), rows)


def test_a_row_of_the_wrong_shape_or_count_is_refused(tmp_path):
    with pytest.raises(FormatError, match=r"rows\.npy: row 0 is \(25,\) float64, expected \(26,\) float64"):
        with NpyRowWriter(tmp_path / "rows.npy", np.float64, (26,), 2) as writer:
            writer.write(np.zeros(25))
    with pytest.raises(FormatError, match=r"rows\.npy: more than the 1 rows announced in its header"):
        with NpyRowWriter(tmp_path / "rows.npy", np.uint8, (2,), 1) as writer:
            writer.write(np.zeros(2, np.uint8))
            writer.write(np.zeros(2, np.uint8))
    with pytest.raises(FormatError, match=r"rows\.npy: 1 rows written but its header announces 3"):
        with NpyRowWriter(tmp_path / "rows.npy", np.uint8, (2,), 3) as writer:
            writer.write(np.zeros(2, np.uint8))
