"""Prediction on a photograph and a box: preprocessing, thresholds, input errors."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from emotic.taxonomy import CATEGORY_NAMES
from training.core.checkpoint import CheckpointError, save_checkpoint
from training.core.data import normalise
from training.core.hyperparameters import Hyperparameters
from training.core.model import EmoticNet
from training.core.predict import PredictionInputError, load_predictor, predict_folder, read_box_file, validate_box


@pytest.fixture
def body_checkpoint(tmp_path):
    """A body-mode checkpoint whose thresholds admit exactly the even-numbered categories."""
    torch.manual_seed(0)
    model = EmoticNet("body").eval()
    thresholds = [-math.inf if index % 2 == 0 else math.inf for index in range(26)]
    path = tmp_path / "best.pt"
    save_checkpoint(
        {"model": model.state_dict(), "hyperparameters": Hyperparameters(mode="body").to_dict(),
         "thresholds": thresholds, "category_names": list(CATEGORY_NAMES)},
        path,
    )
    return path, model


def test_predict_scores_thresholds_and_vad(body_checkpoint):
    path, model = body_checkpoint
    pixels = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    prediction = load_predictor(path, device="cpu").predict(Image.fromarray(pixels), [0, 0, 128, 128])

    # A box covering a 128x128 image: the body input is the image itself.
    body = normalise(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255, "body", "emotic")
    with torch.no_grad():
        scores, vad = model(body=body[None])
    assert list(prediction.scores) == list(CATEGORY_NAMES)
    assert np.allclose(list(prediction.scores.values()), scores[0].numpy(), atol=1e-5)
    assert prediction.categories == list(CATEGORY_NAMES[0::2])
    assert np.allclose(list(prediction.vad.values()), np.clip(vad[0].numpy() * 10, 1, 10), atol=1e-5)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([0, 0, 50], "box: must be four numbers"),
        ("0,0,5,5", "box: must be four numbers"),
        ([0, 0, float("nan"), 5], "box.x2: must be a finite number"),
        ([30, 0, 10, 5], "box: [30, 0, 10, 5] has no area: need x1 < x2 and y1 < y2"),
        ([0, 0, 10, 65], "box: [0, 0, 10, 65] lies outside the image (64 x 64 pixels)"),
        ([0, 5, 10.2, 2.5], "box: [0, 5, 10.2, 2.5] has no area"),
        ([3.1, 0, 3.4, 8], "covers no whole pixel"),
    ],
)
def test_bad_boxes_are_refused_with_the_reason(box, message):
    with pytest.raises(PredictionInputError, match=re.escape(message)):
        validate_box(box, 64, 64)


def test_a_checkpoint_without_thresholds_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": EmoticNet("body").state_dict(), "hyperparameters": {"mode": "body"}}, path)
    with pytest.raises(CheckpointError, match="last.pt: checkpoint lacks thresholds"):
        load_predictor(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("boxes.csv", "filename,x1,y1,x2\na.png,1,1,2\n", "boxes: boxes.csv header lacks y2"),
        ("boxes.csv", "filename,x1,y1,x2,y2\na.png,1,1,2,2\nb.png,one,1,2,2\n", "boxes.csv row 3: x1 must be a number"),
        ("boxes.json", '{"filename": "a.png"}', "boxes.json must hold a list of objects"),
        ("boxes.json", '[{"filename": "a.png", "x1": 0, "y1": 0, "x2": 4}]', r"boxes.json row 1: y2 must be a number"),
        ("boxes.json", '[{"x1": 0, "y1": 0, "x2": 4, "y2": 4}]', "boxes.json row 1: filename is missing"),
        ("boxes.txt", "a.png 0 0 4 4", "must be a .csv or .json file"),
    ],
)
def test_bad_box_files_name_the_row_and_field(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PredictionInputError, match=message):
        read_box_file(path)


def test_folder_prediction_writes_nothing_when_a_row_fails(tmp_path, body_checkpoint):
    path, _ = body_checkpoint
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (40, 30), "white").save(images / "a.png")
    output = tmp_path / "results.json"
    predictor = load_predictor(path, device="cpu")

    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"filename": "a.png", "x1": 0, "y1": 0, "x2": 20, "y2": 30},
                                 {"filename": "a.png", "x1": 0, "y1": 0, "x2": 41, "y2": 30}]))
    with pytest.raises(PredictionInputError, match=re.escape("a.png: box: [0, 0, 41, 30] lies outside the image (40 x 30 pixels)")):
        predict_folder(predictor, images, boxes, output)
    assert not output.exists()

    boxes.write_text(json.dumps([{"filename": "../best.pt", "x1": 0, "y1": 0, "x2": 2, "y2": 2}]))
    with pytest.raises(PredictionInputError, match="points outside"):
        predict_folder(predictor, images, boxes, output)
    assert not output.exists()
