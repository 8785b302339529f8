"""An image's split (train, val or test): the one place that writes it.

Splits are by image and, once set, kept: later snapshots and the task pool
(each split has its own number of annotators per person) rely on an image
staying where it was put. Four things place images, each through one
function here:

- ``draw_split``: the image's first person is handed out (``SPLIT_IMAGES_AT=annotation``),
  a seeded draw from its sha256, the same whenever and wherever it is made;
- ``place_unsplit_images``: an export stratifies the images still without one;
- ``keep_dataset_split``: a dataset that comes split (EMOTIC) keeps its split;
- ``fix_splits``: an admin's (or the demo's) decision, which overrides the rest.

Only ``fix_splits`` moves an image that already has a split; the others
place unsplit images and leave placed ones alone, so two of them racing
never undo each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from django.conf import settings
from django.db import transaction

from catalog.errors import CatalogError
from catalog.models import Image
from emotic.splits import drawn_split
from emotic.taxonomy import SPLITS


def _checked(split: str, field: str = "split") -> str:
    if split not in SPLITS:
        raise CatalogError(field, f"must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def place_unsplit_images(splits: Mapping[int, str], *, lock: bool = False) -> dict[int, str]:
    """Put each image that has no split yet into the split given for it; returns every given image's split now.

    Images already placed keep theirs (a concurrent decision is never
    overwritten). ``lock`` marks the new placements as fixed.
    """
    wanted: dict[str, list[int]] = {}
    for image_id, split in splits.items():
        wanted.setdefault(_checked(split, f"splits[{image_id}]"), []).append(image_id)
    with transaction.atomic():
        for split, image_ids in wanted.items():
            Image.objects.filter(pk__in=image_ids, split="").update(split=split, split_locked=lock)
        return dict(Image.objects.filter(pk__in=list(splits)).values_list("pk", "split"))


def draw_split(image: Image) -> str:
    """Place an image that has no split by the seeded draw (SPLIT_RATIO_*, SPLIT_SEED); returns its split.

    The draw depends only on the image's sha256 and the settings, so two
    workers placing the same image at once write the same split.
    """
    if not image.split:
        drawn = drawn_split(image.sha256, settings.SPLIT_RATIOS, settings.SPLIT_SEED)
        image.split = place_unsplit_images({image.pk: drawn})[image.pk]
    return image.split


def keep_dataset_split(image: Image, split: str) -> str | None:
    """Give a newly imported image the split its dataset put it in, fixed (re-splitting keeps it).

    Returns a note when the image already sits in another split (EMOTIC lists a few images twice).
    """
    return keep_dataset_splits([(image, split)])[0]


def keep_dataset_splits(placements: Sequence[tuple[Image, str]]) -> list[str | None]:
    """``keep_dataset_split`` for many images in one statement per split; a note (or None) per placement, in order."""
    wanted: dict[int, str] = {}
    for image, split in placements:
        wanted.setdefault(image.pk, split)  # an image listed twice in one batch: the first listing places it
    placed = place_unsplit_images(wanted, lock=True)
    locked = set(Image.objects.filter(pk__in=placed, split_locked=True).values_list("pk", flat=True))
    notes = []
    for image, split in placements:
        image.split, image.split_locked = placed[image.pk], image.pk in locked
        notes.append(None if image.split == split else f"split: the dataset also lists this image in {split}; it stays in {image.split}")
    return notes


def fix_splits(image_ids: Iterable[int], split: str) -> int:
    """Move images to ``split`` and keep them there (an admin's decision); returns how many moved."""
    split = _checked(split)
    return Image.objects.filter(pk__in=list(image_ids)).exclude(split=split, split_locked=True).update(
        split=split, split_locked=True
    )
