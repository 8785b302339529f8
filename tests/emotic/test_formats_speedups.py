"""Reduced JPEG decoding (libjpeg's DCT scaling), the resize of ``resize_box`` and the streamed npy rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import ExifTags, Image, ImageOps

from emotic.formats import FormatError
from emotic.formats.arrays import (
    BODY_SIZE,
    CONTEXT_SIZE,
    NpyRowWriter,
    read_baseline_arrays,
    write_split_arrays,
)
from emotic.formats.images import decode_rgb, folder_opener, largest_reduction, resize_box
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
    assert (reduced.reduction, reduced.pixels.shape, reduced.pixels.dtype) == (4, (300, 400, 3), np.uint8)
    full = decode_rgb(record(jpeg, (1600, 1200)), opener)
    assert (full.reduction, full.size) == (1, (1600, 1200))
    png = decode_rgb(record(tmp_path / "big.png", (1600, 1200)), opener, max_reduction=4)
    assert (png.reduction, png.size) == (1, (1600, 1200))


def test_a_jpeg_smaller_than_the_reduction_is_reduced_only_as_far_as_its_size_allows(tmp_path):
    Image.new("RGB", (6, 3), (200, 10, 10)).save(tmp_path / "tiny.jpg")
    tiny = record(tmp_path / "tiny.jpg", (6, 3))
    decoded = decode_rgb(tiny, folder_opener(tmp_path), max_reduction=8)
    assert (decoded.reduction, decoded.size) == (2, (3, 2))


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
    assert (decoded.reduction, decoded.pixels.shape) == (4, (200, 400, 3))
    pixels = decoded.pixels.astype(int)
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
    assert edges_of_white_box(Image.fromarray(decoded.pixels), centre) == pytest.approx(expected, abs=0.05)


def test_boxes_on_stored_pixels_keep_the_stored_orientation_when_reduced(tmp_path):
    """Official EMOTIC boxes refer to the stored pixels (MATLAB ignores EXIF); reduced decoding keeps that."""
    stored = Image.new("L", (1601, 1209), 0)
    stored.paste(255, (301, 203, 1003, 905))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    stored.save(tmp_path / "matlab.jpg", quality=95, exif=exif.tobytes())
    box = (301, 203, 1003, 905)
    decoded = decode_rgb(record(tmp_path / "matlab.jpg", (1601, 1209), box), folder_opener(tmp_path), max_reduction=8)
    assert decoded.size == (201, 152) and decoded.origin == (0.0, 0.0)
    assert edges_of_white_box(Image.fromarray(decoded.pixels), (80, 70)) == pytest.approx(decoded.picture_box(box), abs=0.05)


# ---------------------------------------------------------------- the arrays


def test_full_size_decoding_gives_exactly_the_upright_crop_then_resize(tmp_path):
    path = save_jpeg(tmp_path / "turned.jpg", photo_like(1200, 1600), orientation=6)
    box = (100, 200, 900, 1500)
    arrays = write_arrays(tmp_path / "out", [record(path, (1200, 1600), box)], folder_opener(tmp_path), reduced=False)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(arrays.context[0], resize_box(upright, (0, 0, 1200, 1600), (CONTEXT_SIZE, CONTEXT_SIZE)))
    crop = upright[200:1500, 100:900]
    assert np.array_equal(arrays.body[0], resize_box(crop, (0, 0, 800, 1300), (BODY_SIZE, BODY_SIZE)))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_plain_jpegs_decode_to_the_pixels_pillow_gives_at_every_scale_and_orientation(tmp_path, orientation):
    """simplejpeg decodes plain JPEGs (libjpeg-turbo, as Pillow); the upright turn is NumPy's, Pillow's is the reference."""
    size = (601, 409) if orientation < 5 else (409, 601)
    path = save_jpeg(tmp_path / "photo.jpg", photo_like(*size, seed=orientation), orientation)
    for reduction in (1, 2, 8):
        decoded = decode_rgb(record(path, size), folder_opener(tmp_path), max_reduction=reduction)
        with Image.open(path) as stored:
            stored.draft("RGB", (stored.width // reduction, stored.height // reduction))
            expected = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
        assert decoded.reduction == reduction and np.array_equal(decoded.pixels, expected)


def test_a_phones_multi_picture_file_is_decoded_reduced_as_its_first_picture(tmp_path):
    first, second = photo_like(800, 600, seed=1), photo_like(800, 600, seed=2)
    first.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[second], quality=90)
    with Image.open(tmp_path / "phone.jpg") as stored:
        assert stored.format == "MPO"
        stored.draft("RGB", (400, 300))
        expected = np.asarray(stored.convert("RGB"))
    decoded = decode_rgb(record(tmp_path / "phone.jpg", (800, 600)), folder_opener(tmp_path), max_reduction=2)
    assert decoded.reduction == 2 and np.array_equal(decoded.pixels, expected)


def test_a_jpeg_libjpeg_warns_about_is_decoded_as_pillow_decodes_it(tmp_path):
    buffer = tmp_path / "ok.jpg"
    photo_like(320, 240).save(buffer, quality=90)
    data = bytearray(buffer.read_bytes())
    scan = data.index(b"\xff\xda")
    data[scan + 400 : scan + 420] = b"\xff\xd0" * 10  # stray restart markers: libjpeg warns and goes on
    (tmp_path / "damaged.jpg").write_bytes(bytes(data))
    with pytest.raises(ValueError):  # the fast decoder refuses it, so Pillow's decoding is the one used
        simplejpeg.decode_jpeg(bytes(data))
    decoded = decode_rgb(record(tmp_path / "damaged.jpg", (320, 240)), folder_opener(tmp_path))
    with Image.open(tmp_path / "damaged.jpg") as stored:
        assert np.array_equal(decoded.pixels, np.asarray(stored.convert("RGB")))


# ---------------------------------------------------------------- the resize


def test_the_resize_stays_within_one_level_of_pillows_antialiased_bilinear_on_a_photo():
    """Earlier snapshots were resized by Pillow; the arrays stay within today's tolerance of them.

    On photos the two differ by about 0.6 of 255 on average; on this picture's
    pixel noise, shrinking by 1 to 2 times (bilinear, not widened as Pillow's
    filter is) differs by up to 1.9.
    """
    picture = photo_like(1600, 1200, seed=3)
    noise = np.random.default_rng(3).integers(-12, 13, (1200, 1600, 3))
    picture = Image.fromarray(np.clip(np.asarray(picture, dtype=int) + noise, 0, 255).astype(np.uint8))
    pixels = np.asarray(picture)
    pillow = np.asarray(picture.resize((CONTEXT_SIZE, CONTEXT_SIZE), Image.Resampling.BILINEAR))
    assert mean_absolute_difference(resize_box(pixels, (0, 0, 1600, 1200), (CONTEXT_SIZE, CONTEXT_SIZE)), pillow) < 1.0
    for box in [(100, 200, 700, 1100), (1000, 100, 1190, 300), (10.5, 20.25, 600.75, 900.5), (1500, 1100, 1560, 1180)]:
        pillow = np.asarray(picture.resize((BODY_SIZE, BODY_SIZE), Image.Resampling.BILINEAR, box=box))
        assert mean_absolute_difference(resize_box(pixels, box, (BODY_SIZE, BODY_SIZE)), pillow) < 2.0, box


def test_the_resize_keeps_flat_colours_and_a_sharp_edge_where_it_falls():
    pixels = np.zeros((480, 640, 3), np.uint8)
    pixels[:, :320] = (0, 0, 255)
    pixels[:, 320:] = (255, 0, 0)
    resized = resize_box(pixels, (0, 0, 640, 480), (224, 224))
    assert (resized[:, :111] == (0, 0, 255)).all() and (resized[:, 113:] == (255, 0, 0)).all()
    body = resize_box(pixels, (300, 0, 340, 40), (128, 128))  # enlarged: the edge stays in the middle
    assert (body[:, :60] == (0, 0, 255)).all() and (body[:, 68:] == (255, 0, 0)).all()


def test_a_box_between_pixels_is_placed_to_the_fraction():
    """A reduced decode's boxes fall between pixels; moving one by half a pixel moves what is sampled."""
    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (64, 1, 3))
    left = resize_box(ramp, (100.0, 0, 164.0, 64), (64, 64))
    right = resize_box(ramp, (100.5, 0, 164.5, 64), (64, 64))
    assert left[0, :, 0].tolist() == list(range(100, 164))
    assert np.abs(right[0, 1:-1, 0].astype(float) - (np.arange(101, 163) + 0.5)).max() <= 0.5


def test_a_box_with_no_pixel_of_the_picture_is_refused():
    with pytest.raises(ValueError, match="no pixel"):
        resize_box(np.zeros((10, 10, 3), np.uint8), (12, 0, 20, 5), (4, 4))


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
