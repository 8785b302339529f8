"""JSON Lines: one person per line, with every annotator's answer and the combined labels.

The lossless format of a snapshot (annotator ids, per-annotator gender and age,
splits) and the easiest to load elsewhere (``pandas.read_json(lines=True)``).
A line::

    {"split": "val", "image": {"filename", "folder", "width", "height", "original_database"},
     "person_index": 0, "body_bbox": [x1, y1, x2, y2],
     "annotations": [{"annotator_id", "categories", "valence", "arousal", "dominance", "gender", "age"}],
     "combined": {"categories", "valence", "arousal", "dominance", "gender", "age"}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from emotic.formats.common import FormatError, atomic_file, group_by_split, records_at
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord, RecordError, located
from emotic.taxonomy import SPLITS, VAD_DIMENSIONS

IMAGE_KEYS = ("filename", "folder", "width", "height", "original_database")
ANSWER_KEYS = ("annotator_id", "categories", *VAD_DIMENSIONS, "gender", "age")


def answer_to_dict(answer: AnnotatorAnswer) -> dict:
    return {key: list(answer.categories) if key == "categories" else getattr(answer, key) for key in ANSWER_KEYS}


def answer_from_dict(data: object, name: str = "annotation") -> AnnotatorAnswer:
    values = _require(data, ANSWER_KEYS, name)
    with located(f"{name}."):
        return AnnotatorAnswer(
            categories=_list(values["categories"], "categories"),
            **{key: values[key] for key in (*VAD_DIMENSIONS, "gender", "age", "annotator_id")},
        )


def combined_to_dict(person: PersonRecord) -> dict:
    vad = person.combined_continuous or (None, None, None)
    return {
        "categories": list(person.combined_categories),
        **dict(zip(VAD_DIMENSIONS, vad)),
        "gender": person.combined_gender,
        "age": person.combined_age,
    }


def person_from_dicts(
    box: object,
    annotations: object,
    combined: object,
    combined_name: str = "combined",
    annotations_name: str = "annotations",
) -> PersonRecord:
    """Build a person from the dicts both JSON formats use; errors name the key."""
    answers = []
    for k, data in enumerate(_list(annotations, annotations_name)):
        answers.append(answer_from_dict(data, f"{annotations_name}[{k}]"))
    values = _require(combined, ("categories", *VAD_DIMENSIONS, "gender", "age"), combined_name)
    categories = _list(values["categories"], f"{combined_name}.categories")
    vad = tuple(values[d] for d in VAD_DIMENSIONS)
    return PersonRecord(
        body_bbox=_list(box, "body_bbox"),
        answers=answers,
        combined_categories=categories,
        combined_continuous=None if vad == (None, None, None) else vad,
        combined_gender=values["gender"],
        combined_age=values["age"],
    )


def _require(data: object, keys: Iterable[str], name: str = "") -> dict:
    """``data`` as a dict holding ``keys``; ``name`` is its dotted place ("" for a whole line)."""
    if not isinstance(data, dict):
        raise RecordError(name or 'line', f"must be an object, got {data!r}")
    missing = [key for key in keys if key not in data]
    if missing:
        raise RecordError(f"{name + '.' if name else ''}{missing[0]}", "missing")
    return data


def _list(value: object, name: str) -> list:
    if not isinstance(value, list):
        raise RecordError(name, f"must be a list, got {value!r}")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# ---------------------------------------------------------------- files


def write_jsonl(path: Path | str, images: Iterable[ImageRecord]) -> Path:
    """One line per person, splits in train, val, test order; written atomically."""
    path = Path(path)
    with atomic_file(path) as temporary, temporary.open("w", encoding="utf-8", newline="\n") as stream:
        for split, split_images in group_by_split(images).items():
            for image in split_images:
                for j, person in enumerate(image.people):
                    line = {
                        "split": split,
                        "image": {key: getattr(image, key) for key in IMAGE_KEYS},
                        "person_index": j,
                        "body_bbox": list(person.body_bbox),
                        "annotations": [answer_to_dict(a) for a in person.answers],
                        "combined": combined_to_dict(person),
                    }
                    stream.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def read_jsonl(path: Path | str) -> dict[str, list[ImageRecord]]:
    """Images per split in file order; lines of one image must agree on its fields."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(path.name, f"cannot read ({error})") from None
    # (split, folder, filename) -> (first line, image fields, people)
    images: dict[tuple, tuple[int, dict, list[PersonRecord]]] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{path.name} line {number}: "
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except ValueError as error:
            raise FormatError(f"{path.name} line {number}", f"not JSON ({error})") from None
        with records_at(where):
            line = _require(data, ("split", "image", "person_index", "body_bbox", "annotations", "combined"))
            fields = {key: _require(line["image"], IMAGE_KEYS, "image")[key] for key in IMAGE_KEYS}
            person = person_from_dicts(line["body_bbox"], line["annotations"], line["combined"])
            # Validates the image fields on this line (and that the box lies inside the image).
            ImageRecord(**fields, split=line["split"], people=[person])
        key = (line["split"], fields["folder"], fields["filename"])
        first, known, people = images.setdefault(key, (number, fields, []))
        if fields != known:
            raise FormatError(f"{where}image", f"differs from line {first}, which gives the same file")
        if line["person_index"] != len(people):
            given = line["person_index"]
            raise FormatError(f"{where}person_index", f"expected {len(people)} for this image, got {given!r}")
        people.append(person)
    result: dict[str, list[ImageRecord]] = {split: [] for split in SPLITS}
    for (split, *_), (_, fields, people) in images.items():
        result[split].append(ImageRecord(**fields, split=split, people=people))
    return result
