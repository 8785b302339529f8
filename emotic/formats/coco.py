"""COCO-style JSON: images, one ``person`` annotation per body box, emotions as attributes.

Detection tools read ``images``, ``annotations`` (``bbox`` is COCO's
``[x, y, width, height]``) and ``categories`` (the one object class,
``person``) as usual; the emotion labels ride in each annotation's
``attributes`` (the combined labels plus every annotator's answer), and
``emotion_categories`` lists the 26 categories with their definitions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from emotic.formats.common import FormatError, atomic_file, group_by_split, records_at
from emotic.formats.jsonl import answer_to_dict, combined_to_dict, person_from_dicts
from emotic.records import ImageRecord, RecordError
from emotic.taxonomy import CATEGORIES, SPLITS

PERSON_CATEGORY = {"id": 1, "name": "person", "supercategory": "person"}


def write_coco(path: Path | str, images: Iterable[ImageRecord], description: str = "") -> Path:
    """Write the images (any splits; each image says its own) to one JSON file, atomically."""
    path = Path(path)
    coco_images, annotations = [], []
    for split_images in group_by_split(images).values():
        for image in split_images:
            image_id = len(coco_images) + 1
            coco_images.append(
                {
                    "id": image_id,
                    "file_name": image.relative_path,
                    "width": image.width,
                    "height": image.height,
                    "split": image.split,
                    "original_database": image.original_database,
                }
            )
            for person in image.people:
                x1, y1, x2, y2 = person.body_bbox
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": PERSON_CATEGORY["id"],
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                        "attributes": {
                            **combined_to_dict(person),
                            "annotations": [answer_to_dict(a) for a in person.answers],
                        },
                    }
                )
    document = {
        "info": {"description": description or "Emotions in context (EMOTIC layout)"},
        "images": coco_images,
        "annotations": annotations,
        "categories": [PERSON_CATEGORY],
        "emotion_categories": [
            {"id": i + 1, "name": c.name, "definition": c.definition} for i, c in enumerate(CATEGORIES)
        ],
    }
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(document, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return path


def read_coco(path: Path | str) -> dict[str, list[ImageRecord]]:
    """Images per split in file order, people in annotation order."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FormatError(path.name, f"cannot read JSON ({error})") from None
    if not isinstance(document, dict) or not all(isinstance(document.get(k), list) for k in ("images", "annotations")):
        raise FormatError(path.name, "needs 'images' and 'annotations' lists")
    people: dict[object, list] = {}
    for i, annotation in enumerate(document["annotations"]):
        where = f"{path.name} annotations[{i}]"
        if not isinstance(annotation, dict) or type(annotation.get("image_id")) is not int:
            raise FormatError(where, "needs a whole-number image_id")
        people.setdefault(annotation["image_id"], []).append(_person(where, annotation))
    result: dict[str, list[ImageRecord]] = {split: [] for split in SPLITS}
    seen_ids: set[int] = set()
    for i, image in enumerate(document["images"]):
        where = f"{path.name} images[{i}]"
        fields = ("id", "file_name", "width", "height", "split", "original_database")
        if not isinstance(image, dict) or any(k not in image for k in fields):
            raise FormatError(where, f"needs {', '.join(fields)}")
        if type(image["id"]) is not int or image["id"] in seen_ids:
            raise FormatError(f"{where}.id", f"must be a whole number used by one image, got {image['id']!r}")
        seen_ids.add(image["id"])
        if not isinstance(image["file_name"], str):
            raise FormatError(f"{where}.file_name", f"must be text, got {image['file_name']!r}")
        folder, _, filename = image["file_name"].rpartition("/")
        with records_at(f"{where}: "):
            record = ImageRecord(
                filename, folder, image["width"], image["height"], image["original_database"], image["split"],
                people.pop(image["id"], []),
            )
        result[record.split].append(record)
    if people:
        raise FormatError(path.name, f"annotations point at missing image ids {sorted(people)}")
    return result


def _person(where: str, annotation: dict):
    box = annotation.get("bbox")
    if not (isinstance(box, list) and len(box) == 4 and all(type(v) is int for v in box)):
        raise FormatError(f"{where}.bbox", f"must be four whole pixels [x, y, width, height], got {box!r}")
    x, y, width, height = box
    attributes = annotation.get("attributes")
    with records_at(f"{where}."):
        if not isinstance(attributes, dict):
            raise RecordError("attributes", "must be an object holding the emotion labels")
        corners = [x, y, x + width, y + height]
        answers = attributes.get("annotations")
        return person_from_dicts(corners, answers, attributes, "attributes", "attributes.annotations")
