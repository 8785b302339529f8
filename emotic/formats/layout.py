"""Where each thing lies in a snapshot folder: EMOTIC's own layout, which our snapshots keep.

The one home of these names, for whoever writes a snapshot (``emotic_export``),
reads one (``training.core.data``, ``training.services``) or imports EMOTIC's
own download (``scraper.sources.emotic_mat``)::

    manifest.json                     counts, taxonomy, agreement, sha256 of every file
    Annotations/Annotations.mat       the EMOTIC struct arrays
    emotic/<folder>/<filename>        the images, beside Annotations/ as EMOTIC ships them
    arrays/{split}_*.npy, {split}.csv the preprocessed arrays of the common PyTorch baseline
    annotations.jsonl                 one person a line, every annotator and the combined labels
    coco.json                         COCO-style images, person boxes and emotion attributes
    CREDITS.csv                       every image's licence, creator, attribution and where it came from
"""

from __future__ import annotations

from pathlib import PurePosixPath

from emotic.names import relative_image_path

MANIFEST = "manifest.json"
ANNOTATIONS_DIR = "Annotations"
ANNOTATIONS_MAT = f"{ANNOTATIONS_DIR}/Annotations.mat"
IMAGES_DIR = "emotic"
ARRAYS_DIR = "arrays"
JSONL = "annotations.jsonl"
COCO = "coco.json"
CREDITS = "CREDITS.csv"
CREDITS_COLUMNS = (
    "path", "license", "license_code", "license_url", "creator", "attribution", "source_url", "page_url",
    "original_database",
)


def image_path(folder: str, filename: str) -> PurePosixPath:
    """Where an image lies, relative to the snapshot folder: ``emotic/<folder>/<filename>``.

    The names are checked first (``emotic.names``): one that would leave ``emotic/``
    (``..``, an absolute folder, a backslash, a control character) raises ``UnsafeName``.
    """
    return PurePosixPath(IMAGES_DIR) / relative_image_path(folder, filename)


def array_names(split: str) -> dict[str, str]:
    """The baseline's files for one split, inside ``arrays/``."""
    return {
        "context": f"{split}_context_arr.npy",
        "body": f"{split}_body_arr.npy",
        "categories": f"{split}_cat_arr.npy",
        "continuous": f"{split}_cont_arr.npy",
        "csv": f"{split}.csv",
    }
