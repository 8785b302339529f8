"""The npy arrays made by a pool of processes: the same files, byte for byte, as one process makes, rows in order."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from emotic.formats import FormatError
from emotic.formats.arrays import read_baseline_arrays, write_split_arrays
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
