"""The folders imports from the admin are unpacked into, and what fills them from the storage.

Kept apart from ``scraper.services.imports`` (which makes jobs) so the job runner can call it:
the first discovery step of a storage-prefix import copies the prefix over
(``stage_storage_prefix``), and resuming an uploaded import whose folder has gone unpacks the
stored original again (``restage_upload``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from scraper.archives import ArchiveLimits, extract_archive, is_zip, safe_member_path
from scraper.models import CrawlJob
from scraper.sources import SourceError
from scraper.sources.base import within_import_roots

STAGED_MARKER = ".staged"  # hidden: the folder source never takes it for an image


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.SCRAPER_UPLOAD_MAX_MEMBERS,
        max_total_bytes=settings.SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES,
        max_ratio=settings.SCRAPER_UPLOAD_MAX_RATIO,
    )


def staging_root(field: str = "file") -> Path:
    root = Path(settings.SCRAPER_UPLOAD_STAGING_DIR).resolve()
    if not within_import_roots(root):
        raise SourceError(field, f"SCRAPER_UPLOAD_STAGING_DIR ({root}) lies outside the import roots; move it under one of them")
    root.mkdir(parents=True, exist_ok=True)
    return root


def walk(prefix: str, relative: str = "") -> Iterator[tuple[str, str]]:
    """(object name, path relative to the prefix) of every object under ``prefix``."""
    base = f"{prefix}/{relative}".rstrip("/")
    directories, files = default_storage.listdir(base)
    for name in sorted(files):
        yield f"{base}/{name}", f"{relative}{name}"
    for name in sorted(directories):
        yield from walk(prefix, f"{relative}{name}/")


def listed(prefix: str, field: str = "prefix") -> list[tuple[str, str, int]]:
    """Every object under the prefix with its size, checked against the archive limits (the same rules)."""
    limits, objects, total = archive_limits(), [], 0
    try:
        walked = list(walk(prefix))
    except (FileNotFoundError, NotADirectoryError):
        walked = []
    if not walked:
        raise SourceError(field, f"nothing is stored under {prefix}/")
    if len(walked) > limits.max_members:
        raise SourceError(field, f"{prefix}/ holds {len(walked):,} files, more than SCRAPER_UPLOAD_MAX_MEMBERS ({limits.max_members:,})")
    for name, relative in walked:
        if safe_member_path(relative) is None:
            raise SourceError(field, f"{name!r} has a path escaping the prefix")
        size = default_storage.size(name)
        total += size
        if total > limits.max_total_bytes:
            raise SourceError(field, f"{prefix}/ holds more than SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES ({limits.max_total_bytes:,} bytes)")
        objects.append((name, relative, size))
    return objects


def copy_object(name: str, target: Path) -> None:
    """One stored object to ``target``, streamed, appearing whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    with default_storage.open(name, "rb") as source, partial.open("wb") as out:
        shutil.copyfileobj(source, out, length=8 * 1024 * 1024)
    partial.replace(target)


def stage_storage_prefix(job: CrawlJob) -> int:
    """Copy what the job's prefix holds into its folder (what is there already stays); the first discovery step calls it.

    Returns the number of files copied. Checked again against the limits, as the prefix may have changed.
    """
    staged = job.params.get("storage_prefix")
    if not staged:
        return 0
    folder = staging_root("prefix") / staged["staging"]
    if (folder / STAGED_MARKER).exists():
        return 0
    copied = 0
    for name, relative, size in listed(staged["prefix"]):
        target = folder / relative
        if target.is_file() and target.stat().st_size == size:
            continue
        copy_object(name, target)
        copied += 1
    (folder / STAGED_MARKER).write_text(f"{timezone.now().isoformat()}\n")
    return copied


def restage_upload(job: CrawlJob) -> bool:
    """Unpack an uploaded import's stored original again when its folder has gone (resuming on another machine)."""
    upload = job.params.get("upload")
    if not upload or Path(job.params["path"]).exists():
        return False
    folder = staging_root() / upload["staging"]
    with default_storage.open(upload["storage_name"], "rb") as source, tempfile.NamedTemporaryFile(dir=folder.parent) as local:
        shutil.copyfileobj(source, local, length=8 * 1024 * 1024)
        local.flush()
        path = Path(local.name)
        if is_zip(path):
            shutil.rmtree(folder, ignore_errors=True)  # a part left by an earlier try
            extract_archive(path, PurePosixPath(upload["storage_name"]).name, folder, archive_limits())
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(job.params["path"]))
    return True
