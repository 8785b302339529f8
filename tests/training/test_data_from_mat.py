"""A folder as EMOTIC ships it (Annotations.mat and the images, no arrays) trains too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotic.formats.arrays import BODY_SIZE
from emotic.formats.mat import write_annotations_mat
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord
from training.core.cli import main
from training.core.data import SnapshotError, open_split

TINY = ["--epochs", "1", "--batch-size", "2", "--num-workers", "0", "--device", "cpu", "--seed", "1"]


def emotic_download(root: Path, people_per_split: int = 3) -> Path:
    """root/Annotations/Annotations.mat and root/emotic/<folder>/<filename>: the official layout, no arrays."""
    rng = np.random.default_rng(5)
    records = []
    for split in ("train", "val", "test"):
        for i in range(people_per_split):
            answer = AnnotatorAnswer(("Happiness", "Peace") if i % 2 else ("Fear",), 3 + i, 4, 5, "Female", "Adult")
            person = PersonRecord((20 + i, 10, 120 + i, 150), (answer,), answer.categories, answer.vad, "Female", "Adult")
            record = ImageRecord(f"{split}_{i}.jpg", "mscoco/images", 200, 160, "mscoco", split, (person,))
            target = root / "emotic" / record.folder / record.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)).save(target, quality=95)
            records.append(record)
    write_annotations_mat(root / "Annotations" / "Annotations.mat", records)
    return root


def test_the_arrays_are_written_once_from_the_mat_and_the_images(tmp_path):
    root = emotic_download(tmp_path / "emotic_download")
    files = open_split(root, "train")
    assert files.size == 3 and files.body == root / "arrays" / "train_body_arr.npy"
    # The body crop is the box of the image, resized as the baseline does.
    picture = Image.open(root / "emotic" / "mscoco/images" / "train_1.jpg").convert("RGB")
    expected = np.asarray(picture.crop((21, 10, 121, 150)).resize((BODY_SIZE, BODY_SIZE), Image.Resampling.BILINEAR), dtype=np.int16)
    assert np.abs(np.load(files.body)[1].astype(np.int16) - expected).mean() < 3
    assert np.load(files.categories)[1].sum() == 2 and list(np.load(files.vad)[1]) == [4.0, 4.0, 5.0]
    written = files.body.stat().st_mtime_ns
    assert open_split(root, "train").body.stat().st_mtime_ns == written  # read, not written again


def test_training_runs_on_an_emotic_download_without_arrays(tmp_path, capsys):
    root = emotic_download(tmp_path / "emotic_download", people_per_split=4)
    assert main(["train", "--snapshot", str(root), "--out", str(tmp_path / "run"), "--mode", "body", *TINY]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["status"] == "completed"
    assert sorted(p.name for p in (root / "arrays").glob("*_cat_arr.npy")) == ["train_cat_arr.npy", "val_cat_arr.npy"]


def test_missing_images_are_named(tmp_path):
    root = emotic_download(tmp_path / "emotic_download")
    (root / "emotic" / "mscoco/images" / "val_2.jpg").unlink()
    with pytest.raises(SnapshotError, match=r"Annotations.mat: mscoco/images/val_2.jpg: cannot open or decode"):
        open_split(root, "val")
    assert not (root / "arrays" / "val_cat_arr.npy").exists()  # nothing half-written


def test_a_mat_without_its_images_folder_is_named(tmp_path):
    root = emotic_download(tmp_path / "emotic_download")
    (root / "emotic").rename(root / "elsewhere")
    with pytest.raises(SnapshotError, match=r"emotic: .*Annotations.mat is here but not the images folder"):
        open_split(root, "train")
