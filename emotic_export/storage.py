"""Where a snapshot's files lie in storage, and removing them again.

``snapshots/<name>/`` holds a complete snapshot's folder, ``snapshots/<name>.tar.gz``
its archive and ``snapshots/<name>.shards/`` the pixel rows helper workers hand in
while it is built (``emotic_export.array_shards``). Names are slugs, which hold no
dot, so none of these can be another snapshot's.
"""

from __future__ import annotations

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
