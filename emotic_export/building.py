"""Turn database rows into ``emotic.records`` (what every format writer reads).

Train keeps one annotation per person, as the EMOTIC train layout does: the
earliest accepted one. Validation and test keep every annotation and combine
them by the snapshot's label rule (union of categories and mean VAD by
default, as the official evaluation does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from catalog.models import Image
from emotic.aggregation import METHODS, combine_labels
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.names import MAX_FILENAME_LENGTH, UnsafeName, clean_filename, clean_folder
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord
from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS, mask_to_categories
from emotic_export.selectors import AnswerRow

LABEL_RULES = {"union-mean": "union", "majority": "majority", "dawid-skene": "dawid_skene"}
assert set(LABEL_RULES.values()) <= set(METHODS)


@dataclass(frozen=True)
class BuiltDataset:
    images: list[ImageRecord]
    image_ids: list[int]  # database ids, parallel to ``images``
    answers_by_split: dict[str, list[list[EmotionAnswer]]]  # for the agreement figures
    skipped: list[dict] = field(default_factory=list)  # images left out, with why (the manifest lists them)


def _answer(annotation: AnswerRow) -> AnnotatorAnswer:
    return AnnotatorAnswer(
        categories=mask_to_categories(annotation.categories_mask),
        valence=annotation.valence,
        arousal=annotation.arousal,
        dominance=annotation.dominance,
        gender=annotation.gender,
        age=annotation.age,
        annotator_id=f"w{annotation.worker_id}",
    )


def _emotion_answer(annotation: AnswerRow) -> EmotionAnswer:
    return EmotionAnswer(
        worker=annotation.worker_id,
        categories=annotation.categories_mask,
        valence=annotation.valence,
        arousal=annotation.arousal,
        dominance=annotation.dominance,
        gender=annotation.gender,
        age=annotation.age,
    )


def _names(image: Image) -> tuple[str, str]:
    """The image's folder and file name in a snapshot, checked and normalised (``emotic.names``).

    Raises ``UnsafeName`` for names that cannot be placed (a row stored before ingest checked them).
    """
    folder = clean_folder(image.folder or f"{image.original_database}/images")
    filename = clean_filename(image.filename or f"{image.sha256}.{image.format.lower()}")
    return folder, filename


def placeable_images(images: Iterable[Image]) -> tuple[list[Image], list[dict]]:
    """The images a snapshot can place, and for each other one why not (listed in the manifest, never fatal)."""
    placed, skipped = [], []
    for image in images:
        try:
            _names(image)
        except UnsafeName as error:
            skipped.append({
                "image_id": image.id, "path": f"{image.folder}/{image.filename}"[:500], "reason": f"cannot be placed: {error}",
            })
        else:
            placed.append(image)
    return placed, skipped


def _relative_paths(images: list[Image]) -> dict[int, tuple[str, str]]:
    """Folder and file name of each image in the snapshot, unique even when sources reuse names."""
    taken: set[str] = set()
    paths = {}
    for image in images:
        folder, filename = _names(image)
        if f"{folder}/{filename}" in taken:
            filename = clean_filename(f"{image.sha256[:12]}_{filename}"[:MAX_FILENAME_LENGTH])
        taken.add(f"{folder}/{filename}")
        paths[image.id] = (folder, filename)
    return paths


def build_dataset(
    images: Iterable[Image], annotations: Iterable[AnswerRow], splits: dict[int, str], label_rule: str
) -> BuiltDataset:
    """Records for ``images`` (each with its split) from ``annotations``, labels combined by ``label_rule``."""
    method = LABEL_RULES[label_rule]
    images = list(images)
    by_person: dict[int, list[AnswerRow]] = defaultdict(list)
    boxes: dict[int, tuple[int, int, int, int]] = {}
    image_of: dict[int, int] = {}
    for annotation in annotations:
        by_person[annotation.person_id].append(annotation)
        boxes[annotation.person_id] = annotation.box
        image_of[annotation.person_id] = annotation.image_id
    people_by_image: dict[int, list[int]] = defaultdict(list)
    for person_id in sorted(image_of):
        people_by_image[image_of[person_id]].append(person_id)

    # Combine labels once per split over all its multi-annotated people (Dawid-Skene needs them together).
    combined: dict[int, dict] = {}
    answers_by_split: dict[str, list[list[EmotionAnswer]]] = defaultdict(list)
    for split in ("train", "val", "test"):
        person_ids = [p for image in images if splits[image.id] == split for p in people_by_image[image.id]]
        if not person_ids:
            continue
        if split == "train":
            for p in person_ids:
                by_person[p] = by_person[p][:1]
        answer_lists = [[_emotion_answer(a) for a in by_person[p]] for p in person_ids]
        answers_by_split[split] = answer_lists
        labels = combine_labels(AnnotationArrays.from_answers(answer_lists), method=method)
        for row, person_id in enumerate(person_ids):
            label = labels.record(row)
            combined[person_id] = {
                "categories": label["categories"],
                "vad": tuple(label[d] for d in VAD_DIMENSIONS),
                "gender": label["gender"],
                "age": label["age"],
            }

    paths = _relative_paths(images)
    records, ids = [], []
    for image in images:
        person_records = []
        for person_id in people_by_image[image.id]:
            label = combined[person_id]
            person_records.append(
                PersonRecord(
                    body_bbox=boxes[person_id],
                    answers=tuple(_answer(a) for a in by_person[person_id]),
                    combined_categories=label["categories"],
                    combined_continuous=label["vad"],
                    combined_gender=label["gender"],
                    combined_age=label["age"],
                )
            )
        folder, filename = paths[image.id]
        records.append(
            ImageRecord(
                filename=filename,
                folder=folder,
                width=image.width,
                height=image.height,
                original_database=image.original_database,
                split=splits[image.id],
                people=tuple(person_records),
            )
        )
        ids.append(image.id)
    return BuiltDataset(records, ids, dict(answers_by_split))


def category_counts_per_image(dataset_images: list[Image], annotations: Iterable[AnswerRow]) -> np.ndarray:
    """(images, 26): how many people in each image carry each category (union over annotators)."""
    row_of = {image.id: i for i, image in enumerate(dataset_images)}
    masks: dict[int, int] = defaultdict(int)
    image_of: dict[int, int] = {}
    for annotation in annotations:
        masks[annotation.person_id] |= annotation.categories_mask
        image_of[annotation.person_id] = annotation.image_id
    counts = np.zeros((len(dataset_images), len(CATEGORY_NAMES)), dtype=np.int64)
    for person_id, mask in masks.items():
        row = row_of.get(image_of[person_id])
        if row is None:
            continue
        counts[row] += [(mask >> i) & 1 for i in range(len(CATEGORY_NAMES))]
    return counts
