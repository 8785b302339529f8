"""Where an image's original bytes lie: the one place that opens them.

Ingest copies every image into the default storage under a content-addressed
key (``images/ab/<sha256>.jpg``). A read-only local dataset imported with
``CATALOG_LOCAL_IMAGES=reference`` is not copied: its row's key is
``file:<absolute path>``, and the file is read where it lies. Such a key is
never written or deleted through the storage (``is_reference``), and serves
only on a machine that has the dataset's folder (one machine, or a shared
read-only mount on every worker).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from django.core.files.storage import default_storage

REFERENCE_PREFIX = "file:"


def reference_key(path: Path) -> str:
    return REFERENCE_PREFIX + str(Path(path).resolve())


def is_reference(key: str) -> bool:
    return key.startswith(REFERENCE_PREFIX)


def open_stored(key: str) -> IO[bytes]:
    """The file under ``key`` (a storage key or a reference), open for reading; FileNotFoundError when gone."""
    if is_reference(key):
        return Path(key[len(REFERENCE_PREFIX) :]).open("rb")
    return default_storage.open(key, "rb")


def stored_exists(key: str) -> bool:
    if is_reference(key):
        return Path(key[len(REFERENCE_PREFIX) :]).is_file()
    return default_storage.exists(key)
