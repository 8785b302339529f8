"""``manifest.json``: what a snapshot holds, how it was labelled, and a sha256 for every file.

A researcher who downloads a snapshot runs ``verify_manifest`` (or
``sha256sum``) to know that the files are the ones that were exported.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotic.formats.layout import MANIFEST
from emotic.formats.common import FormatError, atomic_file, group_by_split
from emotic.records import ImageRecord
from emotic.taxonomy import AGE_GROUPS, CATEGORIES, GENDERS, SPLITS, VAD_DIMENSIONS, VAD_MAX, VAD_MIN

MANIFEST_NAME = MANIFEST
FORMAT_VERSION = 1


def count_records(images: Iterable[ImageRecord]) -> dict[str, dict[str, int]]:
    """Images, people and annotator answers per split."""
    return {
        split: {
            "images": len(split_images),
            "people": sum(len(image.people) for image in split_images),
            "answers": sum(len(person.answers) for image in split_images for person in image.people),
        }
        for split, split_images in group_by_split(images).items()
    }


def taxonomy_summary() -> dict:
    return {
        "categories": [{"name": c.name, "definition": c.definition} for c in CATEGORIES],
        "continuous": {"dimensions": list(VAD_DIMENSIONS), "min": VAD_MIN, "max": VAD_MAX},
        "genders": list(GENDERS),
        "ages": [{"name": a.name, "min_years": a.min_years, "max_years": a.max_years} for a in AGE_GROUPS],
        "splits": list(SPLITS),
    }


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _listed_files(directory: Path) -> list[Path]:
    manifest = directory / MANIFEST_NAME
    return sorted(p for p in directory.rglob("*") if p.is_file() and p != manifest)


def _plain(value: object) -> object:
    """JSON-ready: numpy scalars and arrays to Python, NaN (an undefined figure) to null."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_manifest(
    directory: Path | str,
    counts: Mapping,
    agreement: Mapping,
    details: Mapping | None = None,
) -> Path:
    """Hash every file under ``directory`` and write ``manifest.json`` beside them, atomically.

    ``details`` holds what the exporter knows (label rule, split rule and
    seed, snapshot name); it is stored as given.
    """
    directory = Path(directory)
    files = {
        p.relative_to(directory).as_posix(): {"sha256": sha256_of(p), "bytes": p.stat().st_size}
        for p in _listed_files(directory)
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        **_plain(details or {}),
        "counts": _plain(counts),
        "agreement": _plain(agreement),
        "taxonomy": taxonomy_summary(),
        "files": files,
    }
    path = directory / MANIFEST_NAME
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n", "utf-8")
    return path


@dataclass(frozen=True)
class FileProblem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_manifest(directory: Path | str) -> dict:
    path = Path(directory) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise FormatError(MANIFEST_NAME, f"cannot read ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise FormatError(MANIFEST_NAME, "needs a 'files' object")
    return manifest


def verify_manifest(directory: Path | str) -> list[FileProblem]:
    """Recompute every hash; report changed, missing and unlisted files (empty list: all good)."""
    directory = Path(directory)
    listed = read_manifest(directory)["files"]
    problems = []
    for name, entry in sorted(listed.items()):
        path = directory / name
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if Path(name).is_absolute() or ".." in Path(name).parts:
            problems.append(FileProblem(name, "lies outside the snapshot folder"))
        elif not path.is_file():
            problems.append(FileProblem(name, "missing"))
        elif (found := sha256_of(path)) != expected:
            problems.append(FileProblem(name, f"sha256 is {found}, manifest says {expected}"))
    for path in _listed_files(directory):
        name = path.relative_to(directory).as_posix()
        if name not in listed:
            problems.append(FileProblem(name, "not listed in the manifest"))
    return problems
