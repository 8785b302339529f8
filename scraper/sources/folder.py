"""Images in a local folder, found recursively, in a stable (sorted) order.

Only files with image extensions are taken; hidden files are skipped. The
decoder, not the extension, decides later whether a file really is an image.
A link to a file outside the import roots is a bad record, never read.
"""

from __future__ import annotations

from collections.abc import Iterator

from scraper.sources.base import CrawlSource, DiscoveredItem, DiscoveryBatch, existing_path, within_import_roots

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".mpo"})
BATCH = 1000


class FolderSource(CrawlSource):
    kind = "folder"

    def __init__(self, path: str, *, original_database: str = "local", folder: str = ""):
        self.root = existing_path(path, "path", directory=True).resolve()
        self.original_database = original_database
        self.folder = folder or f"{self.root.name}/images"

    def describe(self) -> str:
        return f"folder {self.root}"

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        files = sorted(
            path
            for path in self.root.rglob("*")
            if path.is_file()
            and path.suffix.lower() in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in path.relative_to(self.root).parts)
        )
        start = cursor.get("index", 0)
        for offset in range(start, len(files), BATCH):
            items = []
            for path in files[offset : offset + BATCH]:
                relative = path.relative_to(self.root).as_posix()
                if not within_import_roots(path):  # a link to a file elsewhere on the server
                    items.append(
                        DiscoveredItem.bad_record(
                            relative[:500], self.original_database, f"{relative}: links outside the import roots",
                            source_record=relative[:500],
                        )
                    )
                    continue
                items.append(
                    DiscoveredItem(
                        key=relative[:500],
                        original_database=self.original_database,
                        local_path=str(path),
                        source_record=relative[:500],
                        folder=self.folder,
                        filename=relative.replace("/", "_")[:255],
                    )
                )
            yield DiscoveryBatch(items, {"index": offset + len(items)})
        if start >= len(files):
            yield DiscoveryBatch([], {"index": len(files)})
