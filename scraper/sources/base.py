"""The one interface every source implements: discover items, batch by batch, from a cursor.

A source only finds things (URLs, files, dataset records); fetching,
validating and storing is the pipeline's job, the same for every source.
Discovery is resumable: each batch carries the cursor to continue after it,
and the job stores both together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from emotic.errors import FieldError
from scraper.models import RejectReason


class SourceError(FieldError):
    """The source as a whole cannot be read (missing file, malformed JSON); ``field`` names the argument."""


@dataclass(frozen=True)
class DiscoveredItem:
    """One image to fetch or read, with everything known about it so far.

    ``rejection`` marks a record that is already known to be unusable (a
    malformed dataset record): it is counted on the job, never fetched.
    """

    key: str
    original_database: str
    image_url: str = ""
    local_path: str = ""
    page_url: str = ""
    title: str = ""
    query: str = ""
    source_record: str = ""
    license: str = ""  # as the source names it; read into a code by the licence policy (scraper/services/licensing.py)
    license_code: str = ""  # set by a source that knows it (a dataset's own terms)
    license_url: str = ""
    creator: str = ""
    attribution: str = ""
    folder: str = ""
    filename: str = ""
    people: list[list[int]] = field(default_factory=list)
    annotations: list[list[dict]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    source_query: str = ""  # for search results: the Source row is per (engine, query)
    rejection: tuple[str, str] | None = None

    @classmethod
    def bad_record(cls, key: str, original_database: str, detail: str, **known) -> DiscoveredItem:
        return cls(key=key, original_database=original_database, rejection=(RejectReason.BAD_RECORD, detail), **known)


@dataclass(frozen=True)
class DiscoveryBatch:
    items: list[DiscoveredItem]
    cursor: dict  # where discovery continues after this batch
    page_error: str = ""  # a result page that could not be read (the crawl goes on)
    degraded: object = None  # a search source that stopped working (search_engines.Degradation)


class CrawlSource(ABC):
    """Finds images. Subclasses are small: one per search engine or file format."""

    #: CrawlJob.Kind value this source serves
    kind: str
    #: True for a source that reads its whole input before the first item (a dataset file): its
    #: discovery is not cut into one-minute steps, each of which would read it again.
    discover_in_one_step: bool = False

    @abstractmethod
    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        """Yield batches of items from ``cursor`` on (``{}`` is the start)."""

    def describe(self) -> str:
        return self.kind


def import_roots() -> list[Path]:
    """The folders imports may read from (``SCRAPER_IMPORT_ROOTS``), resolved."""
    return [Path(root).expanduser().resolve() for root in settings.SCRAPER_IMPORT_ROOTS]


def within_import_roots(path: Path) -> bool:
    """Whether ``path`` (symlinks and '..' resolved) lies under one of the import roots."""
    resolved = Path(path).expanduser().resolve()
    return any(resolved.is_relative_to(root) for root in import_roots())


def inside_import_roots(value: str, argument: str) -> Path:
    """The path resolved (symlinks, '..'), or a SourceError naming the argument and the roots.

    Checked before anything else, so a path outside says nothing of what lies there.
    """
    path = Path(value).expanduser().resolve()
    roots = import_roots()
    if not any(path.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots) or "none configured"
        raise SourceError(
            argument, f"{value!r} is outside the import roots ({shown}); put it under one of them or add its folder to SCRAPER_IMPORT_ROOTS"
        )
    return path


def existing_path(value: str, argument: str, *, directory: bool = False) -> Path:
    """The path, resolved, or a SourceError naming the argument when it lies outside the import
    roots, is missing, or is of the wrong kind."""
    path = inside_import_roots(value, argument)
    if not path.exists():
        raise SourceError(argument, f"{value!r} does not exist")
    if directory and not path.is_dir():
        raise SourceError(argument, f"{value!r} is not a folder")
    if not directory and not path.is_file():
        raise SourceError(argument, f"{value!r} is not a file")
    return path


def path_inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` unless it escapes ``root`` (a record saying ``../../etc/passwd``) or the import roots."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or not within_import_roots(candidate):
        return None
    return candidate


# --- limits on what one file may make (SCRAPER_IMPORT_MAX_*) -------------------------------
def check_file_size(path: Path, argument: str = "path") -> None:
    """Refuse a file larger than ``SCRAPER_IMPORT_MAX_FILE_BYTES`` before it is read into memory."""
    size, limit = path.stat().st_size, settings.SCRAPER_IMPORT_MAX_FILE_BYTES
    if size > limit:
        raise SourceError(argument, f"{path.name} is {size:,} bytes, more than SCRAPER_IMPORT_MAX_FILE_BYTES ({limit:,})")


def check_record_count(path: Path, count: int, what: str) -> None:
    """Refuse a file holding more than ``SCRAPER_IMPORT_MAX_RECORDS`` records, before any is saved."""
    limit = settings.SCRAPER_IMPORT_MAX_RECORDS
    if count > limit:
        raise SourceError("path", f"{path.name} holds {count:,} {what}, more than SCRAPER_IMPORT_MAX_RECORDS ({limit:,})")


def too_many_people(count: int) -> str | None:
    """Why an image record with ``count`` people is refused, or None (``SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE``)."""
    limit = settings.SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE
    return f"{count} people, more than SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE ({limit})" if count > limit else None
