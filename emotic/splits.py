"""Stratified, stable splits of images into train/val/test.

Splits are by image (never one image in two splits) and multi-label
stratified with the iterative stratification of Sechidis, Tsoumakas and
Vlahavas (ECML PKDD 2011), so each split gets a similar category
distribution. Images that already have a split keep it: they count towards
their split's quota and only the remaining images are placed.

Before any answer exists there is nothing to stratify by: ``drawn_split`` then
places one image by a seeded hash of a stable key (its sha256), so the draw is
the same whenever and wherever it is made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from emotic.errors import FieldError
from emotic.taxonomy import SPLITS

DEFAULT_RATIOS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}


class SplitError(FieldError):
    """Bad split arguments; ``field`` is the argument's name."""


def validate_ratios(ratios: Mapping[str, float]) -> np.ndarray:
    unknown = set(ratios) - set(SPLITS)
    if unknown:
        raise SplitError("ratios", f"unknown split {sorted(unknown)[0]!r} (use {', '.join(SPLITS)})")
    values = np.array([float(ratios.get(s, 0.0)) for s in SPLITS])
    if (values < 0).any() or not np.isclose(values.sum(), 1.0):
        raise SplitError("ratios", f"must be non-negative and sum to 1, got {dict(zip(SPLITS, values.tolist()))}")
    return values


def drawn_split(key: str, ratios: Mapping[str, float] = DEFAULT_RATIOS, seed: int = 0) -> str:
    """The split of the item named ``key``, drawn with the given ratios from a hash of (seed, key)."""
    ratio = validate_ratios(ratios)
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    uniform = int.from_bytes(digest[:8], "big") / 2**64
    index = int(np.searchsorted(np.cumsum(ratio), uniform, side="right"))
    return SPLITS[min(index, len(SPLITS) - 1)]


def stratified_split(
    image_ids: Sequence[int],
    labels: np.ndarray,
    *,
    fixed: Mapping[int, str] | None = None,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
) -> dict[int, str]:
    """Return a split for every image.

    ``labels`` is (images, categories): how many of the image's people carry
    each category (or 0/1). ``fixed`` maps image ids to splits they must keep.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] != len(image_ids):
        raise SplitError("labels", f"expected shape ({len(image_ids)}, categories), got {labels.shape}")
    fixed = dict(fixed or {})
    for image_id, split in fixed.items():
        if split not in SPLITS:
            raise SplitError(f"fixed[{image_id}]", f"unknown split {split!r}")
    ratio = validate_ratios(ratios)
    rng = np.random.default_rng(seed)
    n_images, n_labels = labels.shape
    split_index = {s: i for i, s in enumerate(SPLITS)}

    assigned = np.full(n_images, -1)
    for row, image_id in enumerate(image_ids):
        if image_id in fixed:
            assigned[row] = split_index[fixed[image_id]]

    binary = labels > 0
    # Remaining demand: per split, images and positive examples of each label.
    want_images = ratio * n_images
    want_labels = np.outer(ratio, binary.sum(axis=0)).astype(np.float64)
    for s in range(len(SPLITS)):
        taken = assigned == s
        want_images[s] -= taken.sum()
        want_labels[s] -= binary[taken].sum(axis=0)

    free = assigned < 0
    order = rng.permutation(n_images)  # random tie-breaking, reproducible by seed

    def place(rows: np.ndarray, label: int | None) -> None:
        for row in rows:
            if label is None:
                score = want_images
            else:
                # Most demand for this label first, then most demand for images.
                score = want_labels[:, label] + 1e-6 * want_images
            # A split whose image quota is met takes no more, so proportions hold.
            candidates = np.flatnonzero((ratio > 0) & (want_images > 0.5))
            if candidates.size == 0:
                candidates = np.flatnonzero(ratio > 0)
            best = candidates[np.argmax(score[candidates])]
            assigned[row] = best
            free[row] = False
            want_images[best] -= 1
            want_labels[best] -= binary[row]

    while True:
        remaining = binary[free].sum(axis=0)
        if not remaining.any():
            break
        # The rarest label still unplaced goes first: it is the hardest to balance.
        label = int(np.argmin(np.where(remaining > 0, remaining, np.inf)))
        rows = order[np.isin(order, np.flatnonzero(free & binary[:, label]))]
        place(rows, label)
    place(order[np.isin(order, np.flatnonzero(free))], None)

    return {image_id: SPLITS[assigned[row]] for row, image_id in enumerate(image_ids)}
