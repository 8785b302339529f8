"""ADE20K (2021 release): its index (index_ade20k.pkl) and per-image JSON, people as boxes.

The index lists every image (``filename``, ``folder``) and counts objects per
image (``objectPresence``, classes x images, class names in ``objectnames``).
Images with a person are taken; each person's box is the bounding box of its
polygon in the image's JSON (``annotation.object[]``, whole objects only,
not parts). The index is a pickle, so it is read with an unpickler that can
build numpy arrays and nothing else: a pickle can otherwise run any code.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

from emotic.errors import FieldError
from scraper.sources.base import (
    CrawlSource,
    DiscoveredItem,
    DiscoveryBatch,
    SourceError,
    existing_path,
    inside_import_roots,
    path_inside,
    within_import_roots,
)

ORIGINAL_DATABASE = "ade20k"
FOLDER = "ade20k/images"
LICENSE = "ADE20K terms of use (https://groups.csail.mit.edu/vision/datasets/ADE20K/terms)"
INDEX_FILE = "index_ade20k.pkl"
BATCH = 200
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"the index refers to {module}.{name}, which an ADE20K index never needs")
        return super().find_class(module, name)


def load_index(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            index = _ArraysOnlyUnpickler(handle).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise SourceError("path", f"{path} is not a readable ADE20K index: {error}") from None
    if not isinstance(index, dict):
        raise SourceError("path", f"{path} must hold a dict of index fields")
    for key in ("filename", "folder", "objectnames", "objectPresence"):
        if key not in index:
            raise SourceError(key, f"missing from the index {path}")
    if len(index["filename"]) != len(index["folder"]):
        raise SourceError("folder", f"the index has {len(index['folder'])} folders for {len(index['filename'])} filenames")
    presence = index["objectPresence"]
    if getattr(presence, "ndim", 0) != 2 or presence.shape != (len(index["objectnames"]), len(index["filename"])):
        raise SourceError(
            "objectPresence", "must be a classes x images array of shape "
            f"({len(index['objectnames'])}, {len(index['filename'])}), got {getattr(presence, 'shape', type(presence).__name__)}"
        )
    return index


def is_person(name: object) -> bool:
    """ADE20K names a class by its WordNet synonyms: 'person, individual, someone, ...'."""
    return isinstance(name, str) and name.split(",", 1)[0].strip().lower() == "person"


def polygon_box(polygon: object) -> list[int]:
    """The [x1, y1, x2, y2) box around a polygon ``{"x": [...], "y": [...]}``; a FieldError names the problem."""
    if not isinstance(polygon, dict):
        raise FieldError("polygon", "must be an object with x and y lists")
    xs, ys = polygon.get("x"), polygon.get("y")
    if not isinstance(xs, list) or not isinstance(ys, list) or not xs or len(xs) != len(ys):
        raise FieldError("polygon", "x and y must be non-empty lists of the same length")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs + ys):
        raise FieldError("polygon", "coordinates must be numbers")
    return [max(0, int(min(xs))), max(0, int(min(ys))), int(max(xs)) + 1, int(max(ys)) + 1]


def people_in(annotation_path: Path) -> tuple[list[list[int]], dict]:
    """Person boxes and scene facts from one image's JSON; a FieldError names the object and field."""
    try:
        data = json.loads(annotation_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FieldError(annotation_path.name, f"not valid JSON ({error})") from None
    annotation = data.get("annotation") if isinstance(data, dict) else None
    objects = annotation.get("object") if isinstance(annotation, dict) else None
    if not isinstance(objects, list):
        raise FieldError(f"{annotation_path.name}: annotation.object", "missing or not a list")
    boxes = []
    for position, obj in enumerate(objects):
        if not isinstance(obj, dict) or not is_person(obj.get("name")):
            continue
        parts = obj.get("parts") if isinstance(obj.get("parts"), dict) else {}
        if parts.get("part_level", 0) not in (0, "0"):
            continue  # a part of something else, not a whole person
        try:
            boxes.append(polygon_box(obj.get("polygon")))
        except ValueError as error:
            where = f"{annotation_path.name}: annotation.object[{position}] (id {obj.get('id')!r})"
            if isinstance(error, FieldError):
                raise error.within(f"{where}: ") from None
            raise FieldError(where, str(error)) from None
    source = annotation.get("source") if isinstance(annotation.get("source"), dict) else {}
    facts = {"scene": annotation.get("scene", []), "origin": str(source.get("origin", ""))[:500]}
    return boxes, facts


class Ade20kSource(CrawlSource):
    kind = "ade20k"

    def __init__(self, path: str):
        given = existing_path(path, "path", directory=Path(path).is_dir())
        self.index_path = inside_import_roots(str(given / INDEX_FILE), "path") if given.is_dir() else given
        if not self.index_path.is_file():
            raise SourceError("path", f"{given} holds no {INDEX_FILE}")
        # The index's folders start with the release name ('ADE20K_2021_17_01/images/...').
        self.roots = [self.index_path.parent, self.index_path.parent.parent]

    def describe(self) -> str:
        return f"ADE20K {self.index_path}"

    def _locate(self, folder: str, filename: str) -> Path | None:
        for root in self.roots:
            candidate = path_inside(root, f"{folder}/{filename}")
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    def _item(self, index: int, folder: object, filename: object) -> DiscoveredItem:
        key = f"ade20k image {index}"
        if not isinstance(filename, str) or not isinstance(folder, str):
            return DiscoveredItem.bad_record(key, ORIGINAL_DATABASE, f"filename[{index}]/folder[{index}]: must be strings")
        known = dict(source_record=f"{key}: {filename}", folder=FOLDER, filename=filename, license=LICENSE)
        image_path = self._locate(folder, filename)
        if image_path is None:
            return DiscoveredItem(
                key=key, original_database=ORIGINAL_DATABASE, rejection=("missing_file", f"{folder}/{filename} not found"), **known
            )
        if not within_import_roots(image_path.with_suffix(".json")):
            return DiscoveredItem.bad_record(
                key, ORIGINAL_DATABASE, f"{image_path.with_suffix('.json').name}: links outside the import roots", **known
            )
        try:
            boxes, facts = people_in(image_path.with_suffix(".json"))
        except FileNotFoundError:
            return DiscoveredItem(
                key=key,
                original_database=ORIGINAL_DATABASE,
                rejection=("missing_file", f"{image_path.with_suffix('.json').name}: the image's annotation JSON is missing"),
                **known,
            )
        except ValueError as error:
            return DiscoveredItem.bad_record(key, ORIGINAL_DATABASE, str(error), **known)
        return DiscoveredItem(
            key=key, original_database=ORIGINAL_DATABASE, local_path=str(image_path), people=boxes, extra=facts, **known
        )

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        index = load_index(self.index_path)
        person_rows = [row for row, name in enumerate(index["objectnames"]) if is_person(name)]
        if not person_rows:
            raise SourceError("objectnames", f"the index {self.index_path} has no 'person' class")
        with_people = index["objectPresence"][person_rows, :].sum(axis=0) > 0
        selected = [i for i in range(len(index["filename"])) if with_people[i]]
        start = cursor.get("position", 0)
        for offset in range(start, len(selected), BATCH):
            chunk = selected[offset : offset + BATCH]
            items = [self._item(i, index["folder"][i], index["filename"][i]) for i in chunk]
            yield DiscoveryBatch(items, {"position": offset + len(chunk)})
