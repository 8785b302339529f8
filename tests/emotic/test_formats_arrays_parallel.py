"""The npy arrays made by a pool of processes, or partly elsewhere and copied in: the same files, byte for byte, as one process makes."""

from __future__ import annotations

import io
import os
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from emotic.formats import FormatError
from emotic.formats.arrays import PixelRows, local_pixels, read_baseline_arrays, write_split_arrays
from emotic.formats.images import folder_opener
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord


def photo(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    grain = rng.integers(-8, 9, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(low, dtype=int) + grain, 0, 255).astype(np.uint8))


def records(root, count: int) -> list[ImageRecord]:
    """JPEGs of several sizes (some decoded at reduced scale, some at full) and a PNG, 1 to 3 people each."""
    made = []
    for k in range(count):
        size = [(640, 480), (480, 640), (300, 200), (1024, 768)][k % 4]
        name = f"img_{k:03d}." + ("png" if k % 7 == 3 else "jpg")
        path = root / "web" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(k, size).save(path, quality=90) if name.endswith("jpg") else photo(k, size).save(path)
        people = []
        for p in range(1 + k % 3):
            box = (10 + 60 * p, 20, 10 + 60 * p + (150 if k % 5 else 40), size[1] - 10)  # some boxes small: full decode
            answer = AnnotatorAnswer(("Peace",), 5, 5, 5, "Male", "Adult")
            people.append(PersonRecord(box, (answer,), ("Peace", "Happiness")[: 1 + (k + p) % 2], (5.0, 4.0 + p, 6.0), "Male", "Adult"))
        made.append(ImageRecord(name, "web", *size, "web", "train", tuple(people)))
    return made


@pytest.fixture
def photos(tmp_path):
    return records(tmp_path, 23), folder_opener(tmp_path)


@pytest.mark.parametrize("workers", [2, 3])
def test_a_pool_writes_the_files_one_process_writes(tmp_path, photos, workers):
    images, opener = photos
    serial = write_split_arrays(tmp_path / "serial", "train", images, opener, workers=1)
    pooled = write_split_arrays(tmp_path / "pooled", "train", images, opener, workers=workers)
    assert serial.rows == pooled.rows == sum(len(image.people) for image in images)
    for one, other in zip(serial.paths, pooled.paths):
        assert one.name == other.name and one.read_bytes() == other.read_bytes(), one.name


def test_rows_follow_the_images_and_their_people_in_order(tmp_path, photos):
    images, opener = photos
    openers = tmp_path / "opened_by.txt"

    def noting_opener(record):  # each process notes its id: the images are decoded in the pool's processes
        with openers.open("a") as note:
            note.write(f"{os.getpid()}\n")
        return opener(record)

    write_split_arrays(tmp_path / "out", "train", images, noting_opener, workers=2)
    assert len(set(openers.read_text().split())) == 2 and str(os.getpid()) not in openers.read_text().split()
    arrays = read_baseline_arrays(tmp_path / "out", "train")
    expected = [(image.filename, list(person.body_bbox)) for image in images for person in image.people]
    assert [(row["Filename"], row["BBox"]) for row in arrays.rows] == expected
    first = images[0]  # its context row is the whole picture, resized: compare with Pillow's own resize
    with Image.open(io.BytesIO((tmp_path / "web" / first.filename).read_bytes())) as picture:
        reference = np.asarray(picture.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR), dtype=int)
    assert np.abs(arrays.context[0].astype(int) - reference).mean() < 3  # the same picture (decoded at 1/2 scale)


def test_a_bad_image_in_a_pool_names_the_image_and_leaves_no_files(tmp_path, photos):
    images, opener = photos
    (tmp_path / "web" / images[11].filename).write_bytes(b"not an image at all")
    (tmp_path / "out").mkdir()
    with pytest.raises(FormatError, match=r"web/img_011\.jpg: cannot open or decode the image"):
        write_split_arrays(tmp_path / "out", "train", images, opener, workers=2)
    assert list((tmp_path / "out").iterdir()) == []


# --- rows made elsewhere (emotic_export.array_shards hands them in as .npy parts) ---------------------------
def test_rows_made_elsewhere_and_copied_in_give_the_same_files(tmp_path, photos):
    """A fill that makes the first images' rows as a separate pair of files, then copies them into place."""
    images, opener = photos
    serial = write_split_arrays(tmp_path / "serial", "train", images, opener, workers=1)

    def elsewhere_then_here(split, tasks, pixels, done):
        head, tail = tasks[:9], tasks[9:]
        part_rows = sum(len(t.boxes) for t in head)
        context, body = tmp_path / "part-context.npy", tmp_path / "part-body.npy"
        with PixelRows(context, body, part_rows) as part:
            local_pixels(opener)(split, [replace(t, first_row=t.first_row - head[0].first_row) for t in head], part, lambda rows: None)
        with context.open("rb") as context_stream, body.open("rb") as body_stream:
            done(pixels.copy_rows(head[0].first_row, context_stream, body_stream))
        local_pixels(opener, workers=2)(split, tail, pixels, done)

    (tmp_path / "sharded").mkdir()
    sharded = write_split_arrays(tmp_path / "sharded", "train", images, opener, fill=elsewhere_then_here)
    for one, other in zip(serial.paths, sharded.paths):
        assert one.read_bytes() == other.read_bytes(), one.name


def test_a_fill_that_leaves_rows_unwritten_fails_and_leaves_no_files(tmp_path, photos):
    images, opener = photos
    (tmp_path / "out").mkdir()

    def forgets_the_last_image(split, tasks, pixels, done):
        local_pixels(opener)(split, tasks[:-1], pixels, done)

    with pytest.raises(FormatError, match=r"^rows: 43 pixel rows written of 45$"):
        write_split_arrays(tmp_path / "out", "train", images, opener, fill=forgets_the_last_image)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.fixture
def target(tmp_path):
    with PixelRows(tmp_path / "context.npy", tmp_path / "body.npy", 4) as pixels:
        yield pixels


def npy_stream(array: np.ndarray) -> io.BytesIO:
    stream = io.BytesIO()
    np.save(stream, array)
    stream.seek(0)
    return stream


def test_a_part_of_another_shape_is_refused_naming_it(target):
    context, body = np.zeros((2, 224, 224, 3), np.uint8), np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(FormatError, match=r"^train shard 3 body: expected \(N, 128, 128, 3\) uint8 rows, got \(2, 64, 64, 3\) uint8$"):
        target.copy_rows(0, npy_stream(context), npy_stream(body), name="train shard 3")
    with pytest.raises(FormatError, match=r"^part context: not a \.npy file"):
        target.copy_rows(0, io.BytesIO(b"not numpy"), npy_stream(body))


def test_a_part_that_does_not_fit_or_ends_short_is_refused(target):
    context, body = np.ones((3, 224, 224, 3), np.uint8), np.ones((3, 128, 128, 3), np.uint8)
    with pytest.raises(FormatError, match=r"^part context: rows 2-5 do not fit the 4 rows announced"):
        target.copy_rows(2, npy_stream(context), npy_stream(body))
    with pytest.raises(FormatError, match=r"^part body: rows 0-2 do not fit .* or differ between the context and body parts"):
        target.copy_rows(0, npy_stream(context), npy_stream(body[:2]))
    short = npy_stream(context).getvalue()[:-1000]
    with pytest.raises(FormatError, match=r"^part context: ends 1000 bytes short of its 3 rows$"):
        target.copy_rows(0, io.BytesIO(short), npy_stream(body))
    assert target.copy_rows(1, npy_stream(context), npy_stream(body)) == 3


def test_a_part_in_a_local_file_is_copied_and_checked_the_same(target, tmp_path):
    context, body = np.arange(3 * 224 * 224 * 3).astype(np.uint8).reshape(3, 224, 224, 3), np.full((3, 128, 128, 3), 7, np.uint8)
    np.save(tmp_path / "part-context.npy", context)
    np.save(tmp_path / "part-body.npy", body)
    with (tmp_path / "part-context.npy").open("rb") as context_file, (tmp_path / "part-body.npy").open("rb") as body_file:
        assert target.copy_rows(1, context_file, body_file) == 3
    (tmp_path / "short.npy").write_bytes((tmp_path / "part-context.npy").read_bytes()[:-1000])
    with (tmp_path / "short.npy").open("rb") as short, pytest.raises(FormatError, match=r"^part context: ends 1000 bytes short"):
        target.copy_rows(0, short, npy_stream(body))
    written = np.load(tmp_path / "context.npy")
    assert (written[1:] == context).all() and (np.load(tmp_path / "body.npy")[1:] == body).all()
