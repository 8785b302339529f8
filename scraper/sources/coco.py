"""MS COCO instances JSON: images with people, their person boxes, crowd boxes skipped.

COCO boxes are ``[x, y, width, height]`` in floating-point pixels; they
become whole-pixel boxes that cover them. An image's file is read from
``images_dir``; where it is missing and the record has a ``coco_url``, that
URL is fetched instead. A malformed record is rejected with its index, id and
field named, and the rest of the file is imported.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from emotic.errors import FieldError
from scraper.sources.base import (
    CrawlSource,
    DiscoveredItem,
    DiscoveryBatch,
    SourceError,
    check_file_size,
    check_record_count,
    existing_path,
    path_inside,
    too_many_people,
)
from scraper.validation import url_problem

ORIGINAL_DATABASE = "mscoco"
FOLDER = "mscoco/images"
BATCH = 1000


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _id(value: object) -> bool:
    """COCO ids are integers (or strings in some exports); anything else names nothing."""
    return isinstance(value, int | str) and not isinstance(value, bool)


def coco_box(bbox: object) -> list[int]:
    """``[x, y, w, h]`` floats to the covering ``[x1, y1, x2, y2]`` integers; ValueError names the problem."""
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
        raise FieldError("bbox", f"must be 4 numbers [x, y, width, height], got {bbox!r}")
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        raise FieldError("bbox", f"width and height must be positive, got {bbox!r}")
    return [max(0, math.floor(x)), max(0, math.floor(y)), math.ceil(x + w), math.ceil(y + h)]


def load_coco(path: Path) -> dict:
    check_file_size(path)
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise SourceError("path", f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except UnicodeDecodeError as error:
        raise SourceError("path", f"{path} is not UTF-8 JSON (byte {error.start})") from None
    if not isinstance(data, dict):
        raise SourceError("path", f"{path} must hold a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise SourceError(key, f"missing or not a list in {path}")
        check_record_count(path, len(data[key]), f"'{key}' records")
    return data


def default_images_dir(annotations_path: Path) -> Path:
    """COCO's layout: annotations/instances_train2017.json next to train2017/."""
    split = annotations_path.stem.removeprefix("instances_")
    return annotations_path.parent.parent / split


class CocoSource(CrawlSource):
    kind = "coco"

    def __init__(self, path: str, *, images_dir: str = ""):
        self.path = existing_path(path, "path")
        self.images_dir = existing_path(images_dir, "images_dir", directory=True) if images_dir else default_images_dir(self.path)

    def describe(self) -> str:
        return f"COCO {self.path.name}"

    def _person_category_ids(self, categories: list) -> set[int]:
        ids = {c.get("id") for c in categories if isinstance(c, dict) and c.get("name") == "person" and _id(c.get("id"))}
        if not ids:
            raise SourceError("categories", f"{self.path} has no category named 'person'")
        return ids

    def _boxes_by_image(self, annotations: list, person_ids: set[int]) -> tuple[dict, dict]:
        """Person boxes per image id, and per image id the first malformed annotation."""
        boxes: dict[int, list[tuple[int, list[int]]]] = defaultdict(list)
        problems: dict[object, str] = {}
        for index, annotation in enumerate(annotations):
            if not isinstance(annotation, dict):
                continue
            if not _id(annotation.get("category_id")) or annotation.get("category_id") not in person_ids:
                continue
            image_id = annotation.get("image_id")
            if not _id(image_id):
                continue  # belongs to no image record (an image's id must be an integer)
            where = f"annotations[{index}] (id {annotation.get('id')!r})"
            if annotation.get("iscrowd", 0) not in (0, 1, False, True):
                problems.setdefault(image_id, f"{where}: iscrowd: must be 0 or 1, got {annotation.get('iscrowd')!r}")
                continue
            if annotation.get("iscrowd"):
                continue  # a crowd region is not one person
            try:
                boxes[image_id].append((annotation.get("id"), coco_box(annotation.get("bbox"))))
            except ValueError as error:
                problems.setdefault(image_id, f"{where}: {error}")
        return boxes, problems

    def _licenses(self, licenses: object) -> dict:
        if not isinstance(licenses, list):
            return {}
        return {
            entry.get("id"): " ".join(filter(None, [str(entry.get("name", "")), f"({entry['url']})" if entry.get("url") else ""]))[:300]
            for entry in licenses
            if isinstance(entry, dict)
        }

    def _item(self, index: int, record: object, boxes, problems, licenses) -> DiscoveredItem | None:
        if not isinstance(record, dict):
            return DiscoveredItem.bad_record(f"images[{index}]", ORIGINAL_DATABASE, f"images[{index}]: must be an object")
        image_id = record.get("id")
        where = f"images[{index}] (id {image_id!r})"
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            return DiscoveredItem.bad_record(f"images[{index}]", ORIGINAL_DATABASE, f"{where}: id: must be an integer")
        if image_id not in boxes and image_id not in problems:
            return None  # no people in this image
        key = f"coco image {image_id}"
        if image_id in problems:
            return DiscoveredItem.bad_record(key, ORIGINAL_DATABASE, problems[image_id], source_record=key)
        crowded = too_many_people(len(boxes[image_id]))
        if crowded:
            return DiscoveredItem.bad_record(key, ORIGINAL_DATABASE, f"{where}: people: {crowded}", source_record=key)
        file_name = record.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            return DiscoveredItem.bad_record(key, ORIGINAL_DATABASE, f"{where}: file_name: missing or not a string")
        local = path_inside(self.images_dir, file_name)
        if local is None:
            return DiscoveredItem.bad_record(
                key, ORIGINAL_DATABASE, f"{where}: file_name: {file_name!r} leaves the images folder or the import roots"
            )
        coco_url = record.get("coco_url") or record.get("flickr_url") or ""
        image_url = coco_url if isinstance(coco_url, str) and not url_problem(coco_url) and not local.is_file() else ""
        return DiscoveredItem(
            key=key,
            original_database=ORIGINAL_DATABASE,
            local_path=str(local) if local.is_file() or not image_url else "",
            image_url=image_url,
            source_record=key,
            license=licenses.get(record.get("license"), ""),
            folder=FOLDER,
            filename=Path(file_name).name,
            people=[box for _id, box in boxes[image_id]],
            extra={"coco_image_id": image_id, "coco_annotation_ids": [ann_id for ann_id, _box in boxes[image_id]]},
        )

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        data = load_coco(self.path)
        person_ids = self._person_category_ids(data["categories"])
        boxes, problems = self._boxes_by_image(data["annotations"], person_ids)
        licenses = self._licenses(data.get("licenses"))
        records = data["images"]
        start = cursor.get("index", 0)
        for offset in range(start, len(records), BATCH):
            chunk = records[offset : offset + BATCH]
            items = [self._item(offset + i, record, boxes, problems, licenses) for i, record in enumerate(chunk)]
            yield DiscoveryBatch([item for item in items if item is not None], {"index": offset + len(chunk)})
