"""An EMOTIC ``Annotations.mat``: its images, people and original annotations.

The file is read by ``emotic.formats.mat`` (one reader for the whole
project). A file that is not MATLAB or lacks a split stops the import before
anything is written; a malformed image record is rejected as a bad record,
with the reader's message naming the split, record and field, and the rest
of the file is imported.
Images lie at ``<images root>/<folder>/<filename>``; EMOTIC ships them in an
``emotic/`` folder beside ``Annotations/``, which is the default root.
Each person's answers travel with the item and are stored as the answers of
the ``emotic-original-<n>`` workers once the image is in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from emotic.formats import layout
from emotic.formats.common import FormatError
from emotic.formats.mat import LimitExceeded, ReadLimits, read_annotations_mat_records
from emotic.records import ImageRecord, PersonRecord
from emotic.taxonomy import SPLITS
from scraper.sources.base import (
    CrawlSource,
    DiscoveredItem,
    DiscoveryBatch,
    SourceError,
    check_file_size,
    existing_path,
    path_inside,
    too_many_people,
)

BATCH = 1000
# The setting behind each of the .mat reader's limits, for the error message.
LIMIT_SETTINGS = {
    "elements": "SCRAPER_IMPORT_MAX_MAT_ELEMENTS",
    "records": "SCRAPER_IMPORT_MAX_RECORDS",
    "inflated_bytes": "SCRAPER_IMPORT_MAX_FILE_BYTES",
}


def _answers(person: PersonRecord) -> list[dict]:
    """Each annotator's answer, with the person's gender and age where the file keeps them per person."""
    return [
        {
            "categories": list(answer.categories),
            "valence": answer.valence,
            "arousal": answer.arousal,
            "dominance": answer.dominance,
            "gender": answer.gender or person.combined_gender,
            "age": answer.age or person.combined_age,
        }
        for answer in person.answers
    ]


class EmoticSource(CrawlSource):
    kind = "emotic"
    # The whole file is read before its first record (EMOTIC's: seconds and a few hundred MB): one
    # step discovers it all, its batches saved as they come, rather than reading it again every minute.
    discover_in_one_step = True

    def __init__(self, path: str, *, images_root: str = ""):
        self.path = existing_path(path, "path")
        if images_root:
            self.roots = [existing_path(images_root, "images_root", directory=True)]
        else:
            base = self.path.parent.parent
            self.roots = [base / layout.IMAGES_DIR, base, self.path.parent]  # EMOTIC's layout first

    def describe(self) -> str:
        return f"EMOTIC {self.path}"

    def _locate(self, record: ImageRecord) -> Path | None:
        for root in self.roots:
            candidate = path_inside(root, record.relative_path)
            if candidate is not None and candidate.is_file():
                return candidate
        return None

    def _item(self, split: str, index: int, record: ImageRecord | FormatError) -> DiscoveredItem:
        if isinstance(record, FormatError):
            return DiscoveredItem.bad_record(
                f"{split}[{index}]", "emotic", str(record), source_record=f"{self.path.name} {split}[{index}]"
            )
        key = f"{split}[{index}] {record.relative_path}"
        known = dict(
            source_record=f"{self.path.name} {split}[{index}]",
            folder=record.folder,
            filename=record.filename,
            extra={"split": split, "index": index, "size": [record.width, record.height]},
        )
        crowded = too_many_people(len(record.people))
        if crowded:
            return DiscoveredItem.bad_record(key, record.original_database, f"{self.path.name} {split}[{index}].person: {crowded}", **known)
        local = self._locate(record)
        if local is None:
            return DiscoveredItem(
                key=key,
                original_database=record.original_database,
                rejection=("missing_file", f"{record.relative_path} is not under {', '.join(map(str, self.roots))}"),
                **known,
            )
        return DiscoveredItem(
            key=key,
            original_database=record.original_database,
            local_path=str(local),
            people=[list(person.body_bbox) for person in record.people],
            annotations=[_answers(person) for person in record.people],
            **known,
        )

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        check_file_size(self.path)
        limits = ReadLimits(
            max_elements=settings.SCRAPER_IMPORT_MAX_MAT_ELEMENTS,
            max_inflated_bytes=settings.SCRAPER_IMPORT_MAX_FILE_BYTES,
            max_records=settings.SCRAPER_IMPORT_MAX_RECORDS,
        )
        try:
            splits = read_annotations_mat_records(self.path, limits=limits)
        except LimitExceeded as error:
            setting = LIMIT_SETTINGS.get(error.limit)
            raise SourceError("path", f"{error}" + (f" ({setting})" if setting else "")) from None
        except FormatError as error:
            raise SourceError("path", str(error)) from None
        entries = [(split, i, record) for split in SPLITS for i, record in enumerate(splits[split])]
        start = cursor.get("position", 0)
        for offset in range(start, len(entries), BATCH):
            chunk = entries[offset : offset + BATCH]
            yield DiscoveryBatch([self._item(*entry) for entry in chunk], {"position": offset + len(chunk)})
