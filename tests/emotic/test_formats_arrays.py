"""The baseline's npy arrays and CSV: shapes, dtypes, labels, colour conversion, orientation, atomicity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotic.formats import FormatError
from emotic.formats.arrays import (
    CSV_COLUMNS,
    array_names,
    one_hot,
    read_baseline_arrays,
    write_baseline_arrays,
    write_split_arrays,
)
from emotic.formats.images import folder_opener
from emotic.records import ImageRecord
from emotic.taxonomy import CATEGORY_NAMES, SPLITS

from .conftest import build_sample_images, train_person

REPO = Path(__file__).resolve().parents[2]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def halves(mode: str, left, right, size=(40, 20)) -> Image.Image:
    """A picture whose left half is one colour and right half another, as shown to annotators."""
    picture = Image.new(mode, size, left)
    picture.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return picture


def save_all_as_png(root: Path, images: list[ImageRecord]) -> None:
    for k, image in enumerate(images):
        path = root / image.folder / image.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (image.width, image.height), (10 * k, 100, 200)).save(path, format="PNG")


@pytest.fixture
def dataset(tmp_path):
    images = build_sample_images()
    save_all_as_png(tmp_path / "emotic", images)
    return images, folder_opener(tmp_path / "emotic"), tmp_path / "out"


def test_every_split_has_the_baseline_shapes_dtypes_and_labels(dataset):
    images, opener, out = dataset
    calls = []
    written = write_baseline_arrays(out, images, opener)
    assert written["train"].left_out == ("framesdb/images/café été.jpg person 0: no combined valence/arousal/dominance",)
    assert written["val"].left_out == ("ade20k/images/crowd.jpg person 1: no combined categories",)
    write_split_arrays(out, "val", [i for i in images if i.split == "val"], opener, lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    for split in SPLITS:
        kept = [
            (k, image, person)
            for k, image in enumerate(images)
            for person in image.people
            if image.split == split and person.combined_categories and person.combined_continuous
        ]
        read = read_baseline_arrays(out, split)
        n = len(kept)
        assert written[split].rows == n
        assert read.context.shape == (n, 224, 224, 3) and read.context.dtype == np.uint8
        assert read.body.shape == (n, 128, 128, 3) and read.body.dtype == np.uint8
        assert read.categories.shape == (n, 26) and read.categories.dtype == np.float64
        assert read.continuous.shape == (n, 3) and read.continuous.dtype == np.float64
        for row, (k, image, person) in enumerate(kept):
            assert (read.context[row] == (10 * k, 100, 200)).all()
            assert (read.body[row] == (10 * k, 100, 200)).all()
            assert [CATEGORY_NAMES[i] for i in np.flatnonzero(read.categories[row])] == list(person.combined_categories)
            assert tuple(read.continuous[row]) == person.combined_continuous
            assert read.rows[row] == {
                "Index": row,
                "Folder": image.folder,
                "Filename": image.filename,
                "Image Size": [image.width, image.height],
                "BBox": list(person.body_bbox),
                "Categorical_Labels": list(person.combined_categories),
                "Continuous_Labels": list(person.combined_continuous),
                "Gender": person.combined_gender,
                "Age": person.combined_age,
            }


def test_csv_cells_are_written_as_the_baseline_writes_them(dataset):
    images, opener, out = dataset
    write_split_arrays(out, "val", [i for i in images if i.split == "val"], opener)
    lines = (out / "val.csv").read_bytes().decode().split("\r\n")
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == (
        '0,ade20k/images,crowd.jpg,"[80, 60]","[10, 10, 40, 58]",'
        "\"['Disquietment', 'Doubt/Confusion', 'Engagement', 'Happiness', 'Peace']\",\"[6.8, 5.2, 5.6]\",Male,Adult"
    )
    assert lines[2] == '1,mscoco/images,single.jpg,"[32, 32]","[1, 1, 31, 31]",[\'Surprise\'],"[5.0, 9.0, 4.0]",Female,Kid'
    assert lines[3] == ""


def test_csv_text_cells_a_spreadsheet_would_run_are_escaped_and_read_back(tmp_path):
    """Folder and file names are text: '=...' or '-...' gets an apostrophe in the CSV, and reading strips it."""
    images = [i for i in build_sample_images() if i.split == "val"]
    named = [ImageRecord("-2+3.jpg", "=cmd/images", i.width, i.height, i.original_database, "val", i.people) for i in images[:1]]
    save_all_as_png(tmp_path / "emotic", named)
    write_split_arrays(tmp_path / "out", "val", named, folder_opener(tmp_path / "emotic"))
    line = (tmp_path / "out" / "val.csv").read_bytes().decode().split("\r\n")[1]
    assert line.startswith("0,'=cmd/images,'-2+3.jpg,")
    (row, *_) = read_baseline_arrays(tmp_path / "out", "val").rows
    assert (row["Folder"], row["Filename"]) == ("=cmd/images", "-2+3.jpg")


def test_one_hot_follows_the_taxonomy_columns():
    row = one_hot(["Yearning", "Affection", "Doubt/Confusion"])
    assert row.dtype == np.float64 and row.shape == (26,)
    assert np.flatnonzero(row).tolist() == [0, 9, 25]


def _write_one(tmp_path, picture_file: Path, size: tuple[int, int], box=(20, 0, 40, 20)):
    image = ImageRecord(
        picture_file.name, "", size[0], size[1], "web", "test", (train_person(box, ["Peace"], (5, 5, 5)),)
    )
    write_split_arrays(tmp_path / "out", "test", [image], folder_opener(picture_file.parent))
    arrays = read_baseline_arrays(tmp_path / "out", "test", mmap=False)
    return arrays.context[0], arrays.body[0]


def _cmyk(tmp_path):
    path = tmp_path / "cmyk.jpg"
    halves("CMYK", (255, 0, 0, 0), (0, 0, 255, 0)).save(path, quality=95, subsampling=0)
    return path, (0, 255, 255), (255, 255, 0), 12


def _grey(tmp_path):
    path = tmp_path / "grey.png"
    halves("L", 30, 220).save(path)
    return path, (30, 30, 30), (220, 220, 220), 0


def _grey16(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.where(np.arange(40) < 20, 30 * 256, 220 * 256).astype(np.uint16)[None].repeat(20, 0)).save(path)
    assert Image.open(path).mode == "I;16"
    return path, (30, 30, 30), (220, 220, 220), 0


def _palette(tmp_path):
    path = tmp_path / "palette.png"
    picture = Image.new("P", (40, 20), 0)
    picture.putpalette([200, 30, 120, 10, 220, 40] + [0] * 762)
    picture.paste(1, (20, 0, 40, 20))
    picture.save(path)
    return path, (200, 30, 120), (10, 220, 40), 0


def _rgba(tmp_path):
    path = tmp_path / "rgba.png"
    halves("RGBA", (255, 0, 0, 0), (0, 0, 255, 255)).save(path)
    return path, WHITE, BLUE, 0  # the transparent red half shows the white page


def _exif(orientation: int, transpose):
    def make(tmp_path):
        path = tmp_path / f"exif{orientation}.jpg"
        exif = Image.Exif()
        exif[0x0112] = orientation  # Orientation
        halves("RGB", RED, BLUE).transpose(transpose).save(path, quality=95, subsampling=0, exif=exif.tobytes())
        return path, RED, BLUE, 12

    return make


@pytest.mark.parametrize(
    "make",
    [
        _grey,
        _grey16,
        _cmyk,
        _palette,
        _rgba,
        _exif(6, Image.Transpose.ROTATE_90),  # stored turned left; shown turned right again
        _exif(3, Image.Transpose.ROTATE_180),  # same size either way: the shown orientation wins
        _exif(8, Image.Transpose.ROTATE_270),
    ],
    ids=["grey", "grey16", "cmyk", "palette", "rgba", "exif6", "exif3", "exif8"],
)
def test_sources_become_rgb_as_annotators_saw_them(tmp_path, make):
    path, left, right, tolerance = make(tmp_path)
    context, body = _write_one(tmp_path, path, (40, 20))
    assert np.abs(context[:, :100].astype(int) - left).max() <= tolerance
    assert np.abs(context[:, 124:].astype(int) - right).max() <= tolerance
    assert np.abs(body.astype(int) - right).max() <= tolerance  # the box covers the right half


def test_boxes_recorded_on_stored_pixels_keep_the_stored_orientation(tmp_path):
    """MATLAB ignores EXIF, so official sizes and boxes can refer to the stored pixels."""
    path, *_ = _exif(6, Image.Transpose.ROTATE_90)(tmp_path)  # stored 20x40: blue on top, red below
    context, body = _write_one(tmp_path, path, (20, 40), box=(0, 0, 20, 20))
    assert np.abs(context[:100].astype(int) - BLUE).max() <= 12
    assert np.abs(context[124:].astype(int) - RED).max() <= 12
    assert np.abs(body.astype(int) - BLUE).max() <= 12


def test_a_size_mismatch_or_missing_file_names_the_image(tmp_path):
    path = tmp_path / "small.png"
    halves("RGB", RED, BLUE).save(path)
    with pytest.raises(FormatError, match=r"small\.png: decoded image is 40x20 but the record says 60x20"):
        _write_one(tmp_path, path, (60, 20))
    with pytest.raises(FormatError, match=r"gone\.png: cannot open or decode the image"):
        _write_one(tmp_path, tmp_path / "gone.png", (40, 20))
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_an_empty_split_gives_empty_arrays(tmp_path):
    written = write_split_arrays(tmp_path / "out", "test", [], folder_opener(tmp_path))
    read = read_baseline_arrays(tmp_path / "out", "test")
    assert written.rows == 0 and read.rows == []
    assert read.context.shape == (0, 224, 224, 3) and read.categories.shape == (0, 26)


def test_images_of_another_split_are_refused(dataset):
    images, opener, out = dataset
    with pytest.raises(FormatError, match=r"val\[0\]: image mscoco/images/two_people\.jpg belongs to split 'train'"):
        write_split_arrays(out, "val", images, opener)


def test_the_reader_checks_shapes_and_row_counts(dataset):
    images, opener, out = dataset
    write_baseline_arrays(out, images, opener)
    np.save(out / "val_cat_arr.npy", np.zeros((2, 25)))
    with pytest.raises(FormatError, match=r"val_cat_arr\.npy: expected \(N, 26\) float64, got \(2, 25\) float64"):
        read_baseline_arrays(out, "val")
    np.save(out / "test_cont_arr.npy", np.zeros((4, 3)))
    with pytest.raises(FormatError, match=r"test_cont_arr\.npy: 4 rows but test\.csv has 1"):
        read_baseline_arrays(out, "test")
    (out / "train.csv").write_text("Index,Folder\n")
    with pytest.raises(FormatError, match=r"train\.csv: header must be Index, Folder, Filename"):
        read_baseline_arrays(out, "train")


KILLED_WRITER = """
import os, signal, sys
from tests.emotic.conftest import build_sample_images
from emotic.formats.arrays import write_split_arrays
from emotic.formats.images import folder_opener

opener = folder_opener(sys.argv[1])
opened = []
def open_then_die(image):
    opened.append(image)
    if len(opened) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return opener(image)

write_split_arrays(sys.argv[2], "train", [i for i in build_sample_images() if i.split == "train"], open_then_die)
"""


def test_a_killed_writer_leaves_the_previous_files_whole(dataset):
    images, opener, out = dataset
    train = [i for i in images if i.split == "train"]
    write_split_arrays(out, "train", train, opener)
    before = {name: (out / name).read_bytes() for name in array_names("train").values()}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(out.parent / "emotic"), str(out)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert {name: (out / name).read_bytes() for name in array_names("train").values()} == before
    leftovers = [p.name for p in out.iterdir() if p.name not in before]
    assert leftovers and all(name.startswith(".") and name.endswith(".partial") for name in leftovers)
    assert read_baseline_arrays(out, "train").context.shape[0] == 3
