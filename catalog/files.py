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

import os
import tempfile
from pathlib import Path
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages

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


def store_new(key: str, content: bytes) -> bool:
    """Write ``content`` under ``key`` unless a file is there already; True if this call wrote it.

    Keys are content addresses, so a file already there holds these bytes.
    On local disk the bytes go to a temporary file that is then linked under
    the key, which fails if the key exists: a crash leaves no half-written
    file under a key, and two writers never both win. That is a quarter of
    the system calls of ``Storage.save`` (free-name search, lock, chmod),
    measured in the crawl benchmark (docs/benchmarks.md, issue 17). Other
    storages (S3) go through ``save``.
    """
    storage = storages["default"]
    if type(storage) is not FileSystemStorage or storage.directory_permissions_mode is not None:
        if storage.exists(key):
            return False
        saved = storage.save(key, ContentFile(content))
        if saved != key:  # another writer got there first with the same content
            storage.delete(saved)
            return False
        return True
    target = Path(storage.path(key))
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644 if storage.file_permissions_mode is None else storage.file_permissions_mode)
        os.link(temporary, target)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
