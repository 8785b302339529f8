"""``Annotations.mat``: the official EMOTIC annotation file (MATLAB v5, read by ``scipy.io.loadmat``).

Layout (DESIGN.md): keys ``train``, ``val``, ``test``, each a 1xN struct array
of images with fields ``filename``, ``folder``, ``image_size`` (``n_col``,
``n_row``), ``original_database`` (``name``), ``person`` (1xP struct array).
A train person holds one annotation; a val/test person one struct per annotator
plus the combined labels. Numbers are doubles, as MATLAB wrote them, and a
missing VAD is NaN. Because the MATLAB shapes are the official ones, the
official loaders' indexing works on our files: ``mat['train'][0][i][4][0][j]``
with scipy's defaults, ``.person.body_bbox`` on a one-person image with
``squeeze_me=True, struct_as_record=False``, and so on.

What the layout cannot carry: annotator ids, and per-annotator gender and age
in val/test (one gender and age per person). Reading gives ``None`` there.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import loadmat, whosmat

from emotic.boxes import BoxError, clip_box
from emotic.formats.common import FormatError, atomic_file, group_by_split, records_at
from emotic.formats.mat5 import Cell, Mat5LimitExceeded, Mat5Malformed, Struct, check_mat5_limits, write_mat5
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord
from emotic.taxonomy import CATEGORY_INDEX, SPLITS, VAD_DIMENSIONS, validate_age, validate_gender, validate_vad

IMAGE_FIELDS = ("filename", "folder", "image_size", "original_database", "person")
TRAIN_PERSON_FIELDS = ("body_bbox", "annotations_categories", "annotations_continuous", "gender", "age")
EVAL_PERSON_FIELDS = (
    "body_bbox",
    "annotations_categories",
    "combined_categories",
    "annotations_continuous",
    "combined_continuous",
    "gender",
    "age",
)


# ---------------------------------------------------------------- writing


def write_annotations_mat(path: Path | str, images: Iterable[ImageRecord]) -> Path:
    """Write all three splits to ``path`` atomically; returns the path."""
    path = Path(path)
    variables = {split: _image_array(split, split_images) for split, split_images in group_by_split(images).items()}
    with atomic_file(path) as temporary, temporary.open("wb") as stream:
        write_mat5(stream, variables)
    return path


def _vad_struct(values: Iterable[float | None] | None) -> dict[str, float]:
    values = list(values) if values is not None else [None] * len(VAD_DIMENSIONS)
    return {d: math.nan if v is None else float(v) for d, v in zip(VAD_DIMENSIONS, values)}


def _image_array(split: str, images: list[ImageRecord]) -> Struct:
    rows = []
    fields = TRAIN_PERSON_FIELDS if split == "train" else EVAL_PERSON_FIELDS
    for i, image in enumerate(images):
        people = [_person_row(split, f"{split}[{i}].person[{j}]", p) for j, p in enumerate(image.people)]
        rows.append(
            {
                "filename": image.filename,
                "folder": image.folder,
                "image_size": {"n_col": float(image.width), "n_row": float(image.height)},
                "original_database": {"name": image.original_database},
                "person": Struct(fields, people),
            }
        )
    return Struct(IMAGE_FIELDS, rows)


def _person_row(split: str, where: str, person: PersonRecord) -> dict:
    row = {
        "body_bbox": tuple(float(v) for v in person.body_bbox),
        "gender": person.combined_gender,
        "age": person.combined_age,
    }
    if split == "train":
        row.update(_train_annotation(where, person))
        return row
    row["annotations_categories"] = Struct(("categories",), [{"categories": Cell(a.categories)} for a in person.answers])
    row["combined_categories"] = Cell(person.combined_categories)
    row["annotations_continuous"] = Struct(VAD_DIMENSIONS, [_vad_struct(a.vad) for a in person.answers])
    row["combined_continuous"] = _vad_struct(person.combined_continuous)
    return row


def _train_annotation(where: str, person: PersonRecord) -> dict:
    """The train layout keeps one annotation and no combined labels, so they must agree."""
    if len(person.answers) != 1:
        raise FormatError(
            f"{where}.answers", "the train layout holds exactly one annotation per person, got "
            f"{len(person.answers)}; export train with one annotator"
        )
    answer = person.answers[0]
    vad = None if answer.vad is None else tuple(float(v) for v in answer.vad)
    if answer.categories != person.combined_categories or vad != person.combined_continuous:
        raise FormatError(where, "combined labels differ from the single train annotation, all that train keeps")
    for name in ("gender", "age"):
        given = getattr(answer, name)
        if given is not None and given != getattr(person, f"combined_{name}"):
            raise FormatError(f"{where}.combined_{name}", f"differs from the single train annotation's {name}")
    return {
        "annotations_categories": {"categories": Cell(answer.categories)},
        "annotations_continuous": _vad_struct(answer.vad),
    }


# ---------------------------------------------------------------- reading


def read_annotations_mat(path: Path | str) -> dict[str, list[ImageRecord]]:
    """Read our files and files shaped like the official one into records per split.

    Tolerates what the official file does: structs that MATLAB stored as 1x1
    (one person, one annotator, one category), no combined fields in train
    (combined labels are then the annotation itself), NaN VAD (``None``), and
    boxes reaching past the image border (clamped to it, as the common
    baseline's loader does). The first malformed record stops the read.
    """
    splits = read_annotations_mat_records(path)
    for records in splits.values():
        for record in records:
            if isinstance(record, FormatError):
                raise record
    return splits  # type: ignore[return-value]


@dataclass(frozen=True)
class ReadLimits:
    """What reading one file may build, checked on the file's headers before scipy allocates anything.

    ``max_elements``: array elements all arrays together declare (a struct or cell
    array's are allocated before they are read; see ``mat5.check_mat5_limits``); ``max_inflated_bytes``: bytes its
    compressed variables inflate to; ``max_records``: images in all splits together.
    """

    max_elements: int = 50_000_000
    max_inflated_bytes: int = 2 * 1024**3
    max_records: int | None = None


class LimitExceeded(FormatError):
    """The file asks for more than a ``ReadLimits`` allows; ``limit`` names which (``elements``,
    ``inflated_bytes``, ``records``, ``nesting``). Nothing was allocated for it."""

    def __init__(self, field: str, reason: str, limit: str = ""):
        super().__init__(field, reason)
        self.limit = limit


def read_annotations_mat_records(
    path: Path | str, *, limits: ReadLimits | None = None
) -> dict[str, list[ImageRecord | FormatError]]:
    """Like ``read_annotations_mat``, but a malformed image record stays in its place as its FormatError.

    For importers that count a bad record and go on with the rest. A file
    that is not MATLAB, or lacks a split, is still an error for the whole file,
    and so is one that declares more than ``limits`` allow (``LimitExceeded``,
    raised before anything is allocated).
    """
    path = Path(path)
    limits = limits or ReadLimits()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FormatError(path.name, f"cannot be read ({error.strerror or type(error).__name__})") from None
    try:
        check_mat5_limits(
            data, max_elements=limits.max_elements, max_inflated_bytes=limits.max_inflated_bytes, max_records=limits.max_records
        )
    except Mat5LimitExceeded as error:
        raise LimitExceeded(path.name, error.reason, error.limit) from None
    except Mat5Malformed as error:
        raise FormatError(path.name, f"not a readable MATLAB file ({error})") from None
    result = {}
    for split in SPLITS:  # one split at a time: scipy's objects for a whole EMOTIC file take 2-3 times the records' memory
        try:
            mat = loadmat(io.BytesIO(data), struct_as_record=False, squeeze_me=False, chars_as_strings=True, variable_names=[split])
            if split not in mat:
                keys = ", ".join(name for name, _shape, _kind in whosmat(io.BytesIO(data)))
        except Exception as error:  # scipy raises several types for a file that is not MATLAB v5
            # scipy's words for a file without a MAT-file header quote its first bytes: say only what it is not.
            detail = str(error) if data[126:128] in (b"IM", b"MI") else f"no MATLAB 5 header; {type(error).__name__}"
            raise FormatError(path.name, f"not a readable MATLAB file ({detail})") from None
        if split not in mat:
            raise FormatError(path.name, f"no {split!r} split (keys: {keys})")
        result[split] = [
            _read_image_or_error(f"{path.name} {split}[{i}]", split, item) for i, item in enumerate(_items(mat.pop(split)))
        ]
        del mat
    return result


def _read_image_or_error(where: str, split: str, item: object) -> ImageRecord | FormatError:
    try:
        return _read_image(where, split, item)
    except FormatError as error:
        return error


def _items(value: object) -> list:
    """Elements of a MATLAB array of any shape (a lone struct is one element)."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _field(struct: object, name: str, where: str) -> object:
    if isinstance(struct, np.ndarray) and struct.dtype == object and struct.size == 1:
        struct = struct.ravel()[0]  # a 1x1 struct array is the struct
    names = getattr(struct, "_fieldnames", None)
    if names is None:
        raise FormatError(where, f"expected a struct, got {type(struct).__name__}")
    if name not in names:
        raise FormatError(where, f"missing field {name!r}")
    return getattr(struct, name)


def _text(value: object, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        parts = [str(p) for p in value.ravel()]
        if len(parts) <= 1:
            return parts[0] if parts else ""
    raise FormatError(where, f"expected text, got {value!r}")


def _strings(value: object, where: str) -> list[str]:
    """A cell of strings, or a bare string (what MATLAB stores for one category)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        text = _text(value, where)
        return [text] if text else []
    return [_text(item, f"{where}{{{k}}}") for k, item in enumerate(_items(value))]


def _number(value: object, where: str) -> float:
    try:
        numbers = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise FormatError(where, f"expected a number, got {value!r}") from None
    if numbers.size != 1:
        raise FormatError(where, f"expected one number, got {numbers.size}")
    return float(numbers[0])


def _whole(value: float, where: str) -> int:
    if not math.isfinite(value) or value != round(value):
        raise FormatError(where, f"expected a whole number, got {value}")
    return int(value)


def _vad(struct: object, where: str) -> tuple[float, float, float] | None:
    values = tuple(_number(_field(struct, d, where), f"{where}.{d}") for d in VAD_DIMENSIONS)
    if all(math.isnan(v) for v in values):
        return None
    if any(math.isnan(v) for v in values):
        raise FormatError(where, "valence, arousal and dominance must be all given or all NaN")
    return values  # type: ignore[return-value]


def _category_names(value: object, where: str) -> list[str]:
    names = _strings(value, where)
    for name in names:
        if name not in CATEGORY_INDEX:
            raise FormatError(where, f"unknown category {name!r}")
    return names


def _answer_vad(struct: object, where: str) -> tuple[int, int, int] | None:
    vad = _vad(struct, where)
    if vad is None:
        return None
    whole = tuple(_whole(v, f"{where}.{d}") for d, v in zip(VAD_DIMENSIONS, vad))
    with records_at(f"{where}."):
        for dimension, value in zip(VAD_DIMENSIONS, whole):
            validate_vad(dimension, value)
    return whole  # type: ignore[return-value]


def _read_image(where: str, split: str, item: object) -> ImageRecord:
    size = _field(item, "image_size", where)
    width, height = (
        _whole(_number(_field(size, name, f"{where}.image_size"), place), place)
        for name, place in (("n_col", f"{where}.image_size.n_col"), ("n_row", f"{where}.image_size.n_row"))
    )
    database = _field(item, "original_database", where)
    if not (isinstance(database, np.ndarray) and database.dtype.kind == "U"):
        database = _field(database, "name", f"{where}.original_database")
    people = [
        _read_person(f"{where}.person[{j}]", p, width, height)
        for j, p in enumerate(_items(_field(item, "person", where)))
    ]
    filename = _text(_field(item, "filename", where), f"{where}.filename")
    folder = _text(_field(item, "folder", where), f"{where}.folder")
    database_name = _text(database, f"{where}.original_database.name")
    with records_at(f"{where}."):
        return ImageRecord(filename, folder, width, height, database_name, split, people)


def _read_box(item: object, where: str, width: int, height: int) -> tuple[int, int, int, int]:
    """Whole pixels, clamped to the image as the common baseline's loader does."""
    box = np.asarray(_field(item, "body_bbox", where), dtype=np.float64).ravel()
    if box.size != 4 or not np.isfinite(box).all():
        raise FormatError(f"{where}.body_bbox", f"expected four numbers [x1 y1 x2 y2], got {box.tolist()}")
    try:
        return clip_box([int(round(v)) for v in box], width, height, field="body_bbox")
    except BoxError as error:
        raise FormatError(f"{where}.{error.field}", error.reason) from None


def _read_person(where: str, item: object, width: int, height: int) -> PersonRecord:
    box = _read_box(item, where, width, height)
    gender = _text(_field(item, "gender", where), f"{where}.gender")
    age = _text(_field(item, "age", where), f"{where}.age")
    with records_at(f"{where}."):
        validate_gender(gender)
        validate_age(age)
    categories = [
        _category_names(_field(a, "categories", place), f"{place}.categories")
        for k, a in enumerate(_items(_field(item, "annotations_categories", where)))
        for place in [f"{where}.annotations_categories[{k}]"]
    ]
    continuous = [
        _answer_vad(a, f"{where}.annotations_continuous[{k}]")
        for k, a in enumerate(_items(_field(item, "annotations_continuous", where)))
    ]
    has_combined = "combined_categories" in item._fieldnames
    count = max(len(categories), len(continuous))
    # Without combined fields (train) the single annotator's gender and age are the person's.
    per_answer = (gender, age) if not has_combined and count == 1 else (None, None)
    answers = []
    for k in range(count):
        vad = continuous[k] if k < len(continuous) and continuous[k] is not None else (None, None, None)
        with records_at(f"{where}.annotations_categories[{k}]."):
            answers.append(AnnotatorAnswer(categories[k] if k < len(categories) else (), *vad, *per_answer))
    if has_combined:
        combined_categories = _category_names(
            _field(item, "combined_categories", where), f"{where}.combined_categories"
        )
        combined_continuous = _vad(_field(item, "combined_continuous", where), f"{where}.combined_continuous")
    else:  # the official evaluation's rule: any annotator's category, mean VAD
        combined_categories = sorted({name for names in categories for name in names})
        given = [a.vad for a in answers if a.vad is not None]
        combined_continuous = tuple(float(np.mean(column)) for column in zip(*given)) if given else None
    with records_at(f"{where}."):
        return PersonRecord(box, answers, combined_categories, combined_continuous, gender, age)
