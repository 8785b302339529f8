"""Small datasets in the real on-disk formats, written by the tests."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from tests.catalog.images import jpeg

PERSON_ADE = "person, individual, someone, somebody, mortal, soul"


def write_coco(root: Path, images: list[dict], annotations: list[dict], *, split: str = "val2017") -> Path:
    """``root/annotations/instances_<split>.json`` and the images in ``root/<split>/``.

    Each image dict needs ``id`` and ``seed``; its file is written unless ``"missing": True``.
    """
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(exist_ok=True)
    records = []
    for image in images:
        name = image.get("file_name", f"{image['id']:012d}.jpg")
        if not image.get("missing"):
            (root / split / name).write_bytes(jpeg(image["seed"], (640, 480)))
        records.append({"id": image["id"], "file_name": name, "width": 640, "height": 480, "license": 1, **image.get("extra", {})})
    data = {
        "info": {"description": "test"},
        "licenses": [{"id": 1, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"}],
        "images": records,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}, {"id": 18, "name": "dog", "supercategory": "animal"}],
    }
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(data))
    return path


def coco_person(ann_id: int, image_id: int, bbox: list, *, crowd: int = 0, category: int = 1) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": bbox, "iscrowd": crowd, "area": 1.0}


def write_ade20k(root: Path, images: list[dict]) -> Path:
    """An ADE20K 2021 tree: ``root/ADE20K_2021_17_01/index_ade20k.pkl`` and per-image JPEG + JSON.

    Each image dict: ``name``, ``seed``, ``objects`` (list of (name, polygon_xs, polygon_ys, part_level)).
    """
    release = root / "ADE20K_2021_17_01"
    folder = "ADE20K_2021_17_01/images/ADE/training/urban/street"
    (root / folder).mkdir(parents=True, exist_ok=True)
    names = [PERSON_ADE, "car, auto, automobile, machine, motorcar"]
    presence = np.zeros((len(names), len(images)), dtype=np.int64)
    for column, image in enumerate(images):
        (root / folder / f"{image['name']}.jpg").write_bytes(jpeg(image["seed"], (640, 480)))
        objects = []
        for position, (name, xs, ys, part_level) in enumerate(image["objects"]):
            objects.append(
                {"id": position, "name": name, "raw_name": name.split(",")[0], "parts": {"part_level": part_level}, "polygon": {"x": xs, "y": ys}, "crop": "0"}
            )
            if part_level == 0:
                presence[names.index(name), column] += 1
        annotation = {"annotation": {"filename": f"{image['name']}.jpg", "folder": folder, "imsize": [480, 640, 3], "scene": ["street"], "source": {"origin": "test"}, "object": objects}}
        if not image.get("no_json"):
            (root / folder / f"{image['name']}.json").write_text(json.dumps(annotation))
    index = {
        "filename": [f"{image['name']}.jpg" for image in images],
        "folder": [folder] * len(images),
        "objectnames": names,
        "objectPresence": presence,
        "scene": ["street"] * len(images),
    }
    release.mkdir(exist_ok=True)
    path = release / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps(index))
    return path
