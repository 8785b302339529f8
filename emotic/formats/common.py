"""What every format shares: the error type, atomic writes, grouping by split."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from emotic.errors import FieldError
from emotic.records import ImageRecord
from emotic.taxonomy import SPLITS, TaxonomyError


class FormatError(FieldError):
    """A file cannot be written or read; ``field`` names the file and the place in it, ``reason`` says why."""


@contextmanager
def records_at(place: str) -> Iterator[None]:
    """Report a record built from a file as invalid at its place in the file, e.g. ``val[3].person[0].``."""
    try:
        yield
    except TaxonomyError as error:  # RecordError included
        raise FormatError(f"{place}{error.field}", error.reason) from None


def group_by_split(images: Iterable[ImageRecord]) -> dict[str, list[ImageRecord]]:
    """Images per split, every split present, each in the order given."""
    grouped: dict[str, list[ImageRecord]] = {split: [] for split in SPLITS}
    for i, image in enumerate(images):
        if not isinstance(image, ImageRecord):
            raise FormatError(f"images[{i}]", f"must be an ImageRecord, got {type(image).__name__}")
        grouped[image.split].append(image)
    return grouped


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_files(*targets: Path | str) -> Iterator[list[Path]]:
    """Yield a temporary path beside each target; move them all into place only if the block succeeds.

    A writer killed half-way leaves at worst a hidden ``.<name>.<id>.partial``
    file, never a truncated target: readers see the old file or the new one.
    """
    targets = [Path(t) for t in targets]
    temporaries: list[Path] = []
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
            temporary.open("xb").close()  # created with the usual permissions (umask), unlike mkstemp's 0600
            temporaries.append(temporary)
        yield temporaries
        for temporary in temporaries:
            _fsync(temporary)
        for temporary, target in zip(temporaries, targets):
            os.replace(temporary, target)
        for folder in {target.parent for target in targets}:
            _fsync(folder)
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """``atomic_files`` for one file."""
    with atomic_files(target) as (temporary,):
        yield temporary
