"""Write a built dataset into a folder in the chosen formats, then its manifest.

The folder's layout is ``emotic.formats.layout``'s: ``mat`` writes
``Annotations/Annotations.mat`` and the images beside it, ``npy`` the
baseline's arrays, ``jsonl`` and ``coco`` one file each.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from emotic.csv_cells import csv_writer
from emotic.formats import layout
from emotic.agreement import agreement_summary
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.errors import FieldError
from emotic.formats.arrays import PixelFill, write_split_arrays
from emotic.formats.coco import write_coco
from emotic.formats.jsonl import write_jsonl
from emotic.formats.manifest import count_records, write_manifest
from emotic.formats.mat import write_annotations_mat
from emotic.records import ImageRecord
from emotic.taxonomy import CATEGORY_NAMES, SPLITS, VAD_DIMENSIONS

FORMATS: tuple[str, ...] = ("mat", "npy", "jsonl", "coco")
Progress = Callable[[float, str], None]


def agreement_figures(answers_by_split: Mapping[str, list[list[EmotionAnswer]]]) -> dict:
    """The TPAMI agreement figures per split, over its people with several annotators."""
    figures = {}
    for split, answers in answers_by_split.items():
        multi = [a for a in answers if len(a) > 1]
        if not multi:
            continue
        arrays = AnnotationArrays.from_answers(multi)
        summary = agreement_summary(arrays.choices, arrays.present, arrays.vad)

        def plain(value: float) -> float | None:
            return None if math.isnan(value) else round(float(value), 4)

        figures[split] = {
            "people_compared": summary.people_compared,
            "mean_category_kappa": plain(summary.mean_category_kappa),
            "category_kappa": {n: plain(k) for n, k in zip(CATEGORY_NAMES, summary.category_kappa)},
            "mean_person_kappa": plain(summary.mean_person_kappa),
            "share_people_above_kappa_threshold": plain(summary.share_people_above_threshold),
            "kappa_threshold": summary.kappa_threshold,
            "pooled_category_alpha": plain(summary.pooled_category_alpha),
            "vad_alpha": {d: plain(a) for d, a in zip(VAD_DIMENSIONS, summary.vad_alpha)},
            "vad_spread": {d: plain(s) for d, s in zip(VAD_DIMENSIONS, summary.vad_spread)},
        }
    return figures


def write_snapshot_folder(
    directory: Path,
    images: list[ImageRecord],
    *,
    formats: tuple[str, ...],
    open_image: Callable[[ImageRecord], BinaryIO],
    agreement: dict,
    details: dict,
    credits: list[dict] | None = None,
    progress: Progress | None = None,
    array_workers: int | None = None,
    pixel_fill: PixelFill | None = None,
) -> Path:
    """Write every chosen format into ``directory`` (which must be empty) and return the manifest path.

    ``credits`` (one row an image, ``layout.CREDITS_COLUMNS``) is written whatever the formats: whoever
    publishes the snapshot needs every image's licence and attribution; the manifest counts the licences.
    ``array_workers``: processes making the npy arrays' pixels on this machine (None: one per core), unless
    ``pixel_fill`` makes them (``emotic_export.array_shards``: spread over Celery workers).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise FieldError("formats", f"unknown format {sorted(unknown)[0]!r} (choose from {', '.join(FORMATS)})")
    report = progress or (lambda fraction, message: None)
    directory.mkdir(parents=True, exist_ok=True)
    steps = len(formats) + 1
    done = 0

    def step_progress(within: float, message: str) -> None:
        report((done + within) / steps, message)

    if "mat" in formats:
        write_annotations_mat(directory / layout.ANNOTATIONS_MAT, images)
        for i, image in enumerate(images):
            target = directory / layout.image_path(image.folder, image.filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open_image(image) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            step_progress((i + 1) / max(len(images), 1), f"copied image {i + 1} of {len(images)}")
        done += 1
    if "npy" in formats:
        arrays_dir = directory / layout.ARRAYS_DIR
        arrays_dir.mkdir(exist_ok=True)
        for s, split in enumerate(SPLITS):
            split_images = [image for image in images if image.split == split]
            write_split_arrays(
                arrays_dir, split, split_images, open_image, workers=array_workers, fill=pixel_fill,
                progress=lambda row, total, s=s, split=split: step_progress(
                    (s + row / max(total, 1)) / len(SPLITS), f"{split} arrays: person {row} of {total}"
                ),
            )
        done += 1
    if "jsonl" in formats:
        write_jsonl(directory / layout.JSONL, images)
        done += 1
        step_progress(0, f"wrote {layout.JSONL}")
    if "coco" in formats:
        write_coco(directory / layout.COCO, images, description=details.get("name", ""))
        done += 1
        step_progress(0, f"wrote {layout.COCO}")
    licenses = write_credits(directory / layout.CREDITS, credits or [])
    manifest = write_manifest(
        directory, count_records(images), agreement, {**details, "formats": list(formats), "licenses": licenses}
    )
    report(1.0, f"wrote {layout.MANIFEST}")
    return manifest


def write_credits(path: Path, rows: list[dict]) -> dict[str, int]:
    """``CREDITS.csv``: one row an image, in path order; returns how many images carry each licence code."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle, lineterminator="\n")
        writer.writerow(layout.CREDITS_COLUMNS)
        for row in sorted(rows, key=lambda r: r["path"]):
            writer.writerow([row.get(column, "") for column in layout.CREDITS_COLUMNS])
    counts: dict[str, int] = {}
    for row in rows:
        code = row.get("license_code") or "unknown"
        counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items()))
