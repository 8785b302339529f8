"""Imports started from the admin: an uploaded file or zip, or a prefix of the storage.

Both end in the same job an ``import_dataset`` command makes (``create_crawl_job``,
then ``enqueue_crawl_job``: the Celery workers run it), on a folder of its own
under ``SCRAPER_UPLOAD_STAGING_DIR`` (which lies under an import root).

- An upload arrives in a temporary file (never in memory), is checked against
  the format declared (``scraper/archives.py``; a zip is checked whole, then
  unpacked within bounds), validated as every import is (``build_source``),
  and only then is the original kept in the storage (``imports/uploads/<token>/``)
  and the job made. A refusal names the field and the reason and leaves
  nothing behind: no folder, no stored file, no job.
- A storage prefix is listed and checked (paths, members, total bytes) at once;
  the dataset file named is copied for validation, and the rest is copied by
  the job's first discovery step in a worker (``stage_storage_prefix``).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from scraper.archives import check_declared_format, extract_archive, is_zip, safe_member_path
from scraper.models import CrawlJob
from scraper.services.jobs import create_crawl_job, enqueue_crawl_job
from scraper.services.staging import archive_limits, copy_object, listed, staging_root
from scraper.sources import SourceError, build_source

UPLOADS_PREFIX = "imports/uploads"
# The dataset file of each kind, found by name when the admin names none (folder: the whole folder).
_DATASET_FILES = {
    "coco": ("a .json file", lambda name: name.lower().endswith(".json")),
    "emotic": ("a .mat file", lambda name: name.lower().endswith(".mat")),
    "urls": ("a .txt or .csv file", lambda name: name.lower().endswith((".txt", ".csv"))),
    "ade20k": ("index_ade20k.pkl", lambda name: PurePosixPath(name).name == "index_ade20k.pkl"),
}
# Parameters naming a folder inside the upload or prefix, by kind.
_IMAGES_PARAM = {"coco": "images_dir", "emotic": "images_root"}
IMPORT_KINDS = [kind for kind in CrawlJob.Kind.values if kind != CrawlJob.Kind.SEARCH]


def _new_token() -> str:
    return f"{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def _safe_name(name: str) -> str:
    """The uploaded file's own name, without any folder a browser sent, kept to safe characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return cleaned[:200] or "upload"


def _member(kind: str, files: list[str], given: str, field: str) -> str:
    """The dataset file inside an upload or prefix: the one named, or the only file of its kind."""
    if kind == CrawlJob.Kind.FOLDER:
        return ""
    if given:
        relative = safe_member_path(given.strip().strip("/"))
        if relative is None:
            raise SourceError(field, f"{given!r} escapes the folder (absolute, '..' or '\\')")
        if relative.as_posix() not in files:
            raise SourceError(field, f"{given!r} is not among the files ({len(files)} of them)")
        return relative.as_posix()
    what, matches = _DATASET_FILES[kind]
    found = sorted(name for name in files if matches(name) and not any(p.startswith(".") for p in PurePosixPath(name).parts))
    if len(found) != 1:
        listed = ", ".join(found[:5]) + (" ..." if len(found) > 5 else "")
        raise SourceError(field, f"holds {len(found)} candidates for {what}{f' ({listed})' if found else ''}; name the one to import")
    return found[0]


def _params(kind: str, folder: Path, member: str, images_folder: str, params: dict, field: str) -> dict:
    params = {**params, "path": str(folder / member) if member else str(folder)}
    if images_folder:
        relative = safe_member_path(images_folder.strip().strip("/"))
        if relative is None or kind not in _IMAGES_PARAM:
            raise SourceError(field, "must be a folder inside the upload or prefix (COCO and EMOTIC only)")
        params[_IMAGES_PARAM[kind]] = str(folder / relative)
    return params


def _validated(kind: str, params: dict, field_for_path: str) -> None:
    """Validated as every import is (the job's source is built); the path's errors name the admin's field."""
    try:
        build_source(kind, params)
    except SourceError as error:
        field = {"path": field_for_path, "images_dir": "images_folder", "images_root": "images_folder"}.get(error.field, error.field)
        raise SourceError(field, error.reason) from None


@contextmanager
def _local_file(upload: UploadedFile, root: Path) -> Iterator[Path]:
    """The upload as a file on disk: Django's temporary file, or a copy written chunk by chunk."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(dir=root, prefix=".upload-") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        yield Path(handle.name)


def import_uploaded_file(
    kind: str, upload: UploadedFile, *, member: str = "", images_folder: str = "", params: dict | None = None,
    created_by: str = "",
) -> CrawlJob:
    """Check, unpack, validate and store an upload, then queue its import; a SourceError names the field."""
    if kind not in IMPORT_KINDS:
        raise SourceError("kind", f"must be one of {', '.join(IMPORT_KINDS)}, got {kind!r}")
    limit = settings.SCRAPER_UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise SourceError("file", f"{upload.name} is {upload.size:,} bytes, more than SCRAPER_UPLOAD_MAX_BYTES ({limit:,})")
    root = staging_root()
    name = _safe_name(upload.name or "")
    token = _new_token()
    folder = root / token
    with _local_file(upload, root) as local:
        try:
            if is_zip(local):
                extract_archive(local, name, folder, archive_limits(), field="file")
                files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
                chosen = _member(kind, files, member, "member")
                job_params = _params(kind, folder, chosen, images_folder, params or {}, "images_folder")
                _validated(kind, job_params, "member" if chosen else "file")
            else:
                if name.lower().endswith(".zip"):
                    raise SourceError("file", f"{name} is named .zip but is not a zip archive")
                check_declared_format(local, name, kind)
                if member:
                    raise SourceError("member", "only an archive holds files to choose from")
                folder.mkdir()
                shutil.copyfile(local, folder / name)
                job_params = _params(kind, folder, name, images_folder, params or {}, "images_folder")
                _validated(kind, job_params, "file")
            stored = f"{UPLOADS_PREFIX}/{token}/{name}"
            with local.open("rb") as handle:
                stored = default_storage.save(stored, File(handle, name=name))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    job_params["upload"] = {"storage_name": stored, "name": upload.name or name, "bytes": upload.size, "staging": token}
    try:
        with transaction.atomic():
            job = create_crawl_job(kind, job_params, created_by=created_by)
            enqueue_crawl_job(job)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        default_storage.delete(stored)
        raise
    return job


# --- storage prefixes ---------------------------------------------------------------
def normalised_prefix(prefix: str, field: str = "prefix") -> str:
    cleaned = prefix.strip().strip("/")
    if not cleaned or safe_member_path(cleaned) is None:
        raise SourceError(field, f"{prefix!r} is not a storage prefix (give e.g. imports/emotic-2024, with no '..' or leading '/')")
    return cleaned


def import_storage_prefix(
    kind: str, prefix: str, *, member: str = "", images_folder: str = "", params: dict | None = None, created_by: str = ""
) -> CrawlJob:
    """Queue the import of what is stored under ``prefix``; the workers copy it over before discovering."""
    if kind not in IMPORT_KINDS:
        raise SourceError("kind", f"must be one of {', '.join(IMPORT_KINDS)}, got {kind!r}")
    prefix = normalised_prefix(prefix)
    root = staging_root("prefix")
    objects = listed(prefix)
    chosen = _member(kind, [relative for _, relative, _ in objects], member, "member")
    token = _new_token()
    folder = root / token
    folder.mkdir()
    try:
        if chosen:
            copy_object(f"{prefix}/{chosen}", folder / chosen)
        job_params = _params(kind, folder, chosen, images_folder, params or {}, "images_folder")
        if kind in _IMAGES_PARAM and images_folder:
            Path(job_params[_IMAGES_PARAM[kind]]).mkdir(parents=True, exist_ok=True)  # filled by the workers
        _validated(kind, job_params, "member" if chosen else "prefix")
        job_params["storage_prefix"] = {"prefix": prefix, "staging": token, "files": len(objects)}
        with transaction.atomic():
            job = create_crawl_job(kind, job_params, created_by=created_by)
            enqueue_crawl_job(job)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job


