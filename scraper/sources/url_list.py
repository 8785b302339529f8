"""A list of image URLs: a text file (one URL a line) or a CSV with a ``url`` column.

Blank lines and ``#`` comments are skipped in text files. A CSV may also give
``page_url``, ``license`` and ``title``. A bad line becomes a rejected item
that names the line and the field, never the line's text (the file may be
anything: nothing of it is echoed but valid URLs and their CSV fields); the
lines around it are imported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from scraper.sources.base import (
    CrawlSource,
    DiscoveredItem,
    DiscoveryBatch,
    SourceError,
    check_file_size,
    check_record_count,
    existing_path,
)
from scraper.validation import url_problem

BATCH = 1000
CSV_URL_COLUMNS = ("url", "image_url")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, fields) for each entry of the list."""
    check_file_size(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError("path", f"{path} is not UTF-8 text (byte {error.start})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        url_column = next((c for c in CSV_URL_COLUMNS if c in columns), None)
        if url_column is None:  # its header is not shown: the file may be anything
            raise SourceError(
                "path", f"the CSV header of {path} has no 'url' column (it has {len(columns)} column(s), none named url or image_url)"
            )
        try:
            for row in reader:
                fields = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
                fields["url"] = fields.get(url_column, "")
                yield reader.line_num, fields
        except csv.Error as error:  # Python's words name the problem, not the line's text
            raise SourceError("path", f"{path.name} line {reader.line_num}: not readable as CSV ({error})") from None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, {"url": line}


class UrlListSource(CrawlSource):
    kind = "urls"

    def __init__(self, path: str, *, original_database: str = "web", folder: str = "web/images"):
        self.path = existing_path(path, "path")
        self.original_database = original_database
        self.folder = folder

    def describe(self) -> str:
        return f"URL list {self.path}"

    def _item(self, number: int, fields: dict[str, str]) -> DiscoveredItem:
        url = fields["url"]
        record = f"{self.path.name} line {number}"
        # A bad line is named by its number and the reason, never its text: the file may not be a list at all.
        problem = url_problem(url, show=False)
        known = dict(source_record=record, folder=self.folder, extra={"line": number})
        if problem:
            return DiscoveredItem.bad_record(f"line {number}", self.original_database, f"line {number}: url: {problem}", **known)
        page_url = fields.get("page_url", "")
        if page_url and url_problem(page_url, show=False):
            return DiscoveredItem.bad_record(
                f"line {number}", self.original_database, f"line {number}: page_url: {url_problem(page_url, show=False)}", **known
            )
        return DiscoveredItem(
            key=url[:500],
            original_database=self.original_database,
            image_url=url,
            page_url=page_url,
            license=fields.get("license", "")[:300],
            title=fields.get("title", "")[:500],
            **known,
        )

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        check_record_count(self.path, sum(1 for _ in _rows(self.path)), "entries")  # before any is saved
        start = cursor.get("line", 0)
        batch: list[DiscoveredItem] = []
        last = start
        for number, fields in _rows(self.path):
            if number <= start:
                continue
            batch.append(self._item(number, fields))
            last = number
            if len(batch) >= BATCH:
                yield DiscoveryBatch(batch, {"line": last})
                batch = []
        yield DiscoveryBatch(batch, {"line": last, "done": True})
