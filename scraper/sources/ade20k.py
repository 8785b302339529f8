"""ADE20K (2021 release): its index (index_ade20k.pkl) and per-image JSON, people as boxes.

The index lists every image (``filename``, ``folder``) and counts objects per
image (``objectPresence``, classes x images, class names in ``objectnames``).
Images with a person are taken; each person's box is the bounding box of its
polygon in the image's JSON (``annotation.object[]``, whole objects only,
not parts). The index is a pickle, so it is read with an unpickler that can
build numpy arrays and nothing else (a pickle can otherwise run any code), and
no more of them than ``SCRAPER_IMPORT_MAX_PICKLE_BYTES``.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.conf import settings

from emotic.errors import FieldError
from scraper.sources.base import (
    CrawlSource,
    DiscoveredItem,
    DiscoveryBatch,
    SourceError,
    check_file_size,
    check_record_count,
    existing_path,
    inside_import_roots,
    path_inside,
    too_many_people,
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


class _IndexRefused(pickle.UnpicklingError):
    """Our own refusal of something in the index (its words are ours, never the file's)."""


class _IndexTooLarge(_IndexRefused):
    pass


class _ArraysOnlyUnpickler(pickle._Unpickler):
    """Builds numpy arrays, plain dtypes and Python containers, and at most ``max_bytes`` of arrays
    beyond the data the file itself holds (an array's numbers are the file's bytes; what is counted is
    what a few bytes can ask for: ``_reconstruct``'s shapes, object arrays' references).

    A pickle may otherwise run any code; and even numpy alone lets a few bytes
    ask for an array of any size (``_reconstruct`` with a shape, a dtype with a
    huge sub-array) or hand ``ndarray.__setstate__`` data that does not fit its
    shape (which crashes the interpreter for object arrays). The pure-Python
    unpickler is used so that every ``BUILD`` can be checked before it runs.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, max_bytes: int):
        super().__init__(file)
        self.max_bytes = max_bytes
        self.built = 0

    def _charge(self, nbytes: int) -> None:
        self.built += nbytes
        if self.built > self.max_bytes:
            raise _IndexTooLarge(f"builds more than {self.max_bytes:,} bytes of arrays")

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise _IndexRefused(f"the index refers to {module}.{name}, which an ADE20K index never needs")
        found = super().find_class(module, name)
        if name == "_reconstruct":
            return self._reconstruct
        if (module, name) == ("numpy", "dtype"):
            return self._dtype
        return found

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not np.ndarray:
            raise _IndexRefused("an array of another class")
        self._charge(_count(shape) * _plain_dtype(dtype).itemsize)
        return np.ndarray.__new__(np.ndarray, shape, _plain_dtype(dtype))

    def _dtype(self, *args):
        return _plain_dtype(np.dtype(*args))

    def load_build(self):
        state, target = self.stack[-1], self.stack[-2]
        if isinstance(target, np.ndarray):
            self._check_array_state(state)
        elif isinstance(target, np.dtype):
            _check_dtype_state(state)
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def _check_array_state(self, state) -> None:
        """``(version, shape, dtype, is_fortran, data)``: the data must be exactly what the shape needs."""
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _IndexRefused("an array with a malformed state")
        shape, dtype, data = state[-4], state[-3], state[-1]
        if not isinstance(dtype, np.dtype):
            raise _IndexRefused("an array without a dtype")
        count = _count(shape)
        if _plain_dtype(dtype).hasobject:
            if not isinstance(data, list) or len(data) != count:
                raise _IndexRefused("an object array whose items do not fit its shape")
            self._charge(count * dtype.itemsize)  # a reference per item, beyond the items the file holds
        elif not isinstance(data, bytes | bytearray) or len(data) != count * dtype.itemsize:
            raise _IndexRefused("an array whose data does not fit its shape")
        # Numbers and text: exactly the bytes the file holds (bounded by SCRAPER_IMPORT_MAX_FILE_BYTES).


def _count(shape) -> int:
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _IndexRefused("an array with a malformed shape")
    return math.prod(shape)


def _plain_dtype(dtype) -> np.dtype:
    """Numbers, text, bytes or Python objects; no records or sub-arrays (which can declare any size)."""
    if isinstance(dtype, bytes):
        dtype = dtype.decode("ascii", "replace")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise _IndexRefused("an array with an unknown dtype") from None
    if dtype.fields is not None or dtype.subdtype is not None:
        raise _IndexRefused("a record or sub-array dtype, which an ADE20K index never needs")
    return dtype


def _check_dtype_state(state) -> None:
    """A plain dtype's state: no sub-array, no fields, and a size only where the kind has one."""
    if not isinstance(state, tuple) or len(state) < 8 or state[2] is not None or state[3] is not None or state[4] is not None:
        raise _IndexRefused("a record or sub-array dtype, which an ADE20K index never needs")
    if not (isinstance(state[5], int) and isinstance(state[6], int)) or state[5] < -1 or state[6] < -1:
        raise _IndexRefused("a dtype with a malformed size")


def load_index(path: Path) -> dict:
    check_file_size(path)
    max_bytes = settings.SCRAPER_IMPORT_MAX_PICKLE_BYTES
    try:
        with path.open("rb") as handle:
            index = _ArraysOnlyUnpickler(handle, max_bytes=max_bytes).load()
    except _IndexTooLarge as error:
        raise SourceError("path", f"{path.name}: the index {error} (SCRAPER_IMPORT_MAX_PICKLE_BYTES)") from None
    except _IndexRefused as error:
        raise SourceError("path", f"{path} is not a readable ADE20K index: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        # Python's words may quote the file ("invalid load key, 'r'"): say only what went wrong.
        words = "not a pickle" if "load key" in str(error) else f"{type(error).__name__}: {error}"[:200]
        raise SourceError("path", f"{path} is not a readable ADE20K index: {words}") from None
    if not isinstance(index, dict):
        raise SourceError("path", f"{path} must hold a dict of index fields")
    for key in ("filename", "folder", "objectnames", "objectPresence"):
        if key not in index:
            raise SourceError(key, f"missing from the index {path}")
    check_record_count(path, len(index["filename"]), "image records")
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
    size, limit = annotation_path.stat().st_size, settings.SCRAPER_IMPORT_MAX_FILE_BYTES
    if size > limit:
        raise FieldError(annotation_path.name, f"{size:,} bytes, more than SCRAPER_IMPORT_MAX_FILE_BYTES ({limit:,})")
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
    crowded = too_many_people(len(boxes))
    if crowded:
        raise FieldError(f"{annotation_path.name}: annotation.object", crowded)
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
        known = dict(source_record=f"{key}: {filename}", folder=FOLDER, filename=filename, license=LICENSE, license_code="dataset-terms")
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
