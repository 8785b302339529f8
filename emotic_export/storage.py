"""Where a snapshot's files lie in storage, and removing them again.

``snapshots/<name>/`` holds a complete snapshot's folder, ``snapshots/<name>.tar.gz``
its archive and ``snapshots/<name>.shards/`` the pixel rows helper workers hand in
while it is built (``emotic_export.array_shards``). Names are slugs, which hold no
dot, so none of these can be another snapshot's.
"""

from __future__ import annotations

from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

from emotic_export.models import DatasetSnapshot

STORAGE_PREFIX = "snapshots"


def snapshot_prefix(snapshot: DatasetSnapshot) -> str:
    return f"{STORAGE_PREFIX}/{snapshot.name}"


def shard_parts_prefix(snapshot_name: str) -> str:
    return f"{STORAGE_PREFIX}/{snapshot_name}.shards"


def delete_prefix(prefix: str) -> None:
    """Remove every stored file under ``prefix`` (the leftovers of a failed build, or handed-in parts)."""
    try:
        directories, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for directory in directories:
        delete_prefix(f"{prefix}/{directory}")


class _MovableFile(File):
    """A file Django's local storage moves into place instead of copying (as it does an upload's temporary file)."""

    def __init__(self, handle, path: Path) -> None:
        super().__init__(handle, name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def save_moving(key: str, path: Path) -> None:
    """Store the local file at ``path`` under ``key``, which must be free; ``path`` may be gone afterwards.

    Local storage renames the file (a snapshot's arrays are gigabytes: no copy), S3 uploads it.
    """
    with path.open("rb") as handle:
        stored = default_storage.save(key, _MovableFile(handle, path))
    if stored != key:  # the storage renamed it: something was left there; never keep two copies
        default_storage.delete(stored)
        raise FileExistsError(f"{key} already exists in storage; remove the leftovers of an earlier build first")
