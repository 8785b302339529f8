"""Uploaded files checked against the format the admin declared, and zip archives unpacked within bounds.

An archive is read whole (its central directory) before a byte is extracted:
a member whose path would land outside the folder it is unpacked into (``..``,
an absolute path, a drive letter, a backslash), a symbolic link, an encrypted
member, too many members, too many bytes once extracted, or a member that
inflates more than ``max_ratio`` times (a zip bomb) refuses the whole archive,
naming the member and the limit. Extraction counts the bytes it really writes,
so a member whose header understates its size is caught too.
"""

from __future__ import annotations

import codecs
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scraper.sources.base import SourceError

CHUNK = 1024 * 1024
# A member smaller than this may inflate more than the ratio allows (a JSON of zeros is harmless).
RATIO_FLOOR_BYTES = 1024 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive's end record
MAT_V5_MAGIC = b"MATLAB 5.0 MAT-file"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # MATLAB 7.3 files are HDF5, whose signature sits at byte 512
_DRIVE = re.compile(r"^[A-Za-z]:")

# What a bare (not zipped) file of each kind must be: its extensions and a check of its first bytes.
FILE_KINDS = {
    "coco": ((".json",), "a COCO instances JSON file"),
    "emotic": ((".mat",), "a MATLAB .mat file (EMOTIC Annotations.mat)"),
    "urls": ((".txt", ".csv"), "a UTF-8 text list of URLs (.txt) or a CSV with a url column"),
}


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_total_bytes: int
    max_ratio: int


def is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) in ZIP_MAGIC


def check_declared_format(path: Path, name: str, kind: str, field: str = "file") -> None:
    """Refuse a bare file that is not what ``kind`` reads (by extension and by its first bytes)."""
    if kind not in FILE_KINDS:
        raise SourceError(field, f"a {kind} import is uploaded as a .zip archive, not as a single file")
    extensions, what = FILE_KINDS[kind]
    if not name.lower().endswith(extensions):
        raise SourceError(field, f"{name} is not {what}: expected a name ending in {' or '.join(extensions)}")
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    if kind == "emotic":
        if not (head.startswith(MAT_V5_MAGIC) or head[512:520] == HDF5_MAGIC):
            raise SourceError(field, f"{name} is not {what}: it lacks the MATLAB header ('{MAT_V5_MAGIC.decode()}' or HDF5)")
    elif kind == "coco":
        if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{":
            raise SourceError(field, f"{name} is not {what}: a COCO file is a JSON object, starting with '{{'")
    elif kind == "urls":
        if b"\x00" in head:
            raise SourceError(field, f"{name} is not {what}: it holds NUL bytes (a binary file)")
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError as error:
            raise SourceError(field, f"{name} is not {what}: byte {error.start} is not UTF-8") from None


def safe_member_path(name: str) -> PurePosixPath | None:
    """The member's path relative to the archive's folder, or None when it would escape it."""
    if not name or "\\" in name or name.startswith("/") or _DRIVE.match(name):
        return None
    path = PurePosixPath(name)
    if any(part in ("..",) for part in path.parts):
        return None
    return path


def _refuse(field: str, archive: str, reason: str) -> SourceError:
    return SourceError(field, f"{archive}: {reason}; nothing was imported")


def check_archive(path: Path, name: str, limits: ArchiveLimits, field: str = "file") -> list[zipfile.ZipInfo]:
    """The archive's file members, once every one has passed; else a SourceError naming the member and the rule."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _refuse(field, name, f"not a readable zip archive ({error})") from None
    with archive:
        members = archive.infolist()
    if len(members) > limits.max_members:
        raise _refuse(field, name, f"holds {len(members):,} members, more than SCRAPER_UPLOAD_MAX_MEMBERS ({limits.max_members:,})")
    total, seen, files = 0, set(), []
    for info in members:
        relative = safe_member_path(info.filename)
        if relative is None:
            raise _refuse(field, name, f"member {info.filename!r} has a path escaping the archive's folder (absolute, '..' or '\\')")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(field, name, f"member {info.filename!r} is a symbolic link")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise _refuse(field, name, f"member {info.filename!r} is encrypted")
        key = relative.as_posix().casefold()
        if key in seen:
            raise _refuse(field, name, f"member {info.filename!r} appears twice")
        seen.add(key)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _refuse(
                field, name, f"unpacks to more than SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES ({limits.max_total_bytes:,} bytes)"
            )
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _refuse(
                field, name, f"member {info.filename!r} inflates {info.file_size / max(info.compress_size, 1):,.0f} times "
                f"({info.compress_size:,} to {info.file_size:,} bytes), more than SCRAPER_UPLOAD_MAX_RATIO ({limits.max_ratio})",
            )
        files.append(info)
    return files


def extract_archive(path: Path, name: str, target: Path, limits: ArchiveLimits, field: str = "file") -> int:
    """Check the archive, then unpack its files into ``target`` (which must not exist yet); returns the bytes written.

    On any refusal ``target`` is removed again: nothing is left behind.
    """
    members = check_archive(path, name, limits, field)
    target.mkdir(parents=True)
    written = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in members:
                destination = target / safe_member_path(info.filename)
                if not destination.resolve().is_relative_to(target.resolve()):  # belt and braces
                    raise _refuse(field, name, f"member {info.filename!r} escapes the archive's folder")
                destination.parent.mkdir(parents=True, exist_ok=True)
                member_bytes = 0
                with archive.open(info) as source, destination.open("xb") as out:
                    while chunk := source.read(CHUNK):
                        member_bytes += len(chunk)
                        written += len(chunk)
                        if member_bytes > info.file_size or written > limits.max_total_bytes:
                            raise _refuse(field, name, f"member {info.filename!r} unpacks to more bytes than its header says")
                        out.write(chunk)
    except SourceError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as error:  # a corrupt member, a bad CRC
        shutil.rmtree(target, ignore_errors=True)
        raise _refuse(field, name, f"cannot be unpacked ({error})") from None
    return written
