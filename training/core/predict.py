"""Recognising the emotions of a person in a photograph with a trained checkpoint.

``load_predictor(path).predict(image, box)`` prepares the image exactly as the
snapshot arrays were prepared (whole image to 224x224, box crop to 128x128),
returns the 26 category scores, the categories whose score reaches their
validation threshold (precision = recall), and VAD on the 1-10 scale.
``predict_folder`` does it for a folder of images listed with boxes in a CSV or
JSON file and writes one JSON file, only after every row succeeded.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from emotic import boxes as box_rules
from emotic.boxes import BoxError
from emotic.errors import FieldError
from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS
from training.core.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, write_text_atomically
from training.core.data import crop_and_resize, normalise, to_tensor, vad_to_scale
from training.core.devices import resolve_device
from training.core.hyperparameters import Hyperparameters
from training.core.model import EmoticNet

BOX_FIELDS: tuple[str, ...] = ("x1", "y1", "x2", "y2")


class PredictionInputError(FieldError):
    """An image, a box or a box file that cannot be used; ``field`` names it, ``reason`` says why."""


@dataclass(frozen=True)
class Prediction:
    scores: dict[str, float]  # raw category scores, in taxonomy order
    categories: list[str]  # those at or above their threshold
    vad: dict[str, float]  # valence, arousal, dominance on 1-10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Predictor:
    def __init__(
        self, model: EmoticNet, hyperparameters: Hyperparameters, thresholds: np.ndarray, device: torch.device
    ):
        self.model = model.to(device).eval()
        self.hyperparameters = hyperparameters
        self.thresholds = thresholds
        self.device = device

    @torch.no_grad()
    def predict(self, image: Image.Image | str | Path | np.ndarray, box: Any) -> Prediction:
        """``box`` is [x1, y1, x2, y2] in pixels of ``image``, the person's body."""
        picture = open_image(image)
        x1, y1, x2, y2 = validate_box(box, picture.width, picture.height)
        context, body = crop_and_resize(picture, (x1, y1, x2, y2))
        inputs = {}
        if "context" in self.model.streams:
            inputs["context"] = normalise(to_tensor(context), "context", self.hyperparameters.normalisation)[None]
        if "body" in self.model.streams:
            inputs["body"] = normalise(to_tensor(body), "body", self.hyperparameters.normalisation)[None]
        scores, vad = self.model(**{name: tensor.to(self.device) for name, tensor in inputs.items()})
        scores = scores[0].float().cpu().numpy()
        vad_values = vad_to_scale(vad[0].float().cpu().numpy())
        return Prediction(
            scores={name: float(score) for name, score in zip(CATEGORY_NAMES, scores)},
            categories=[name for name, score, limit in zip(CATEGORY_NAMES, scores, self.thresholds) if score >= limit],
            vad={name: float(value) for name, value in zip(VAD_DIMENSIONS, vad_values)},
        )


def load_predictor(checkpoint_path: str | Path, device: str = "auto") -> Predictor:
    """A predictor from a ``best.pt`` written by training (it carries the thresholds)."""
    contents = load_checkpoint(checkpoint_path, required=("model", "hyperparameters", "thresholds", "category_names"))
    if list(contents["category_names"]) != list(CATEGORY_NAMES):
        raise CheckpointError(checkpoint_path, "trained with another category order than emotic.taxonomy")
    model, hyperparameters = model_from_checkpoint(contents, checkpoint_path)
    thresholds = np.asarray(contents["thresholds"], dtype=np.float64)
    return Predictor(model, hyperparameters, thresholds, resolve_device(device))


def open_image(image: Image.Image | str | Path | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise PredictionInputError("image", f"an array must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
        return Image.fromarray(image)
    path = Path(image)
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except FileNotFoundError:
        raise PredictionInputError("image", f"{path} not found") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as error:
        raise PredictionInputError("image", f"{path} is not a readable image ({error})") from None


def validate_box(box: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """A body box [x1, y1, x2, y2] inside the image, covering at least one whole pixel.

    The box rules are ``emotic.boxes``'s (fractions allowed: a box may come from
    a detector); covering a whole pixel is the crop's own need, as it rounds.
    """
    try:
        x1, y1, x2, y2 = box_rules.validate_box(box, width, height, field="box", integers=False)
    except BoxError as error:
        raise PredictionInputError(error.field, error.reason) from None
    if round(x2) <= round(x1) or round(y2) <= round(y1):
        raise PredictionInputError("box", f"{[x1, y1, x2, y2]} covers no whole pixel")
    return x1, y1, x2, y2


@dataclass(frozen=True)
class BoxRow:
    filename: str
    box: tuple[float, float, float, float]


def read_box_file(path: str | Path) -> list[BoxRow]:
    """Rows of filename, x1, y1, x2, y2 from a CSV (with a header) or a JSON list of objects."""
    path = Path(path)
    if not path.is_file():
        raise PredictionInputError("boxes", f"{path} not found")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in ("filename", *BOX_FIELDS) if name not in (reader.fieldnames or [])]
            if missing:
                raise PredictionInputError("boxes", f"{path.name} header lacks {', '.join(missing)}")
            records = list(reader)
        first_row = 2  # after the header
    elif path.suffix.lower() == ".json":
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise PredictionInputError("boxes", f"{path.name} is not valid JSON ({error})") from None
        if not isinstance(records, list):
            raise PredictionInputError("boxes", f"{path.name} must hold a list of objects")
        first_row = 1
    else:
        raise PredictionInputError("boxes", f"{path.name} must be a .csv or .json file")
    if not records:
        raise PredictionInputError("boxes", f"{path.name} lists no boxes")
    return [_parse_row(record, f"{path.name} row {number}") for number, record in enumerate(records, first_row)]


def _parse_row(record: Any, where: str) -> BoxRow:
    if not isinstance(record, dict):
        raise PredictionInputError("boxes", f"{where}: must be an object with filename, x1, y1, x2, y2")
    filename = record.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        raise PredictionInputError("boxes", f"{where}: filename is missing")
    values = []
    for name in BOX_FIELDS:
        raw = record.get(name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise PredictionInputError("boxes", f"{where}: {name} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise PredictionInputError("boxes", f"{where}: {name} must be finite, got {raw!r}")
        values.append(value)
    return BoxRow(filename.strip(), tuple(values))


def predict_folder(
    predictor: Predictor, images_dir: str | Path, boxes_path: str | Path, output_path: str | Path
) -> dict[str, Any]:
    """Predict every listed person; write ``output_path`` (JSON) only when all rows succeeded."""
    images_dir = Path(images_dir).resolve()
    if not images_dir.is_dir():
        raise PredictionInputError("images", f"{images_dir} is not a directory")
    rows = read_box_file(boxes_path)
    for row in rows:
        resolved = (images_dir / row.filename).resolve()
        if not resolved.is_relative_to(images_dir):
            raise PredictionInputError("boxes", f"filename {row.filename!r} points outside {images_dir}")
        if not resolved.is_file():
            raise PredictionInputError("boxes", f"filename {row.filename!r} not found in {images_dir}")
    results, opened = [], {}
    for row in rows:
        if row.filename not in opened:
            opened = {row.filename: open_image(images_dir / row.filename)}  # keep one image in memory
        try:
            prediction = predictor.predict(opened[row.filename], row.box)
        except PredictionInputError as error:
            raise error.within(f"{row.filename}: ") from None
        results.append({"filename": row.filename, "box": list(row.box), **prediction.to_dict()})
    output = {"mode": predictor.hyperparameters.mode, "results": results}
    write_text_atomically(json.dumps(output, indent=2), output_path)
    return output
