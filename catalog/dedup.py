"""Finding near-duplicates among all stored images by perceptual hash.

Every stored image's 64-bit pHash is held in memory as a numpy array, loaded
once per process and topped up with the rows added since (by id), so one
lookup is a vectorised XOR and popcount over all images rather than a
database scan. Topping up by id is complete because images are inserted
under the ingest lock, which is held until the inserting transaction commits
(PostgreSQL's advisory transaction lock; SQLite's write lock), so ids are
handed out in commit order. A match is
confirmed against the database before it is trusted: a row deleted (or rolled
back) since it was loaded triggers a reload.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catalog.models import Image


@dataclass(frozen=True)
class NearMatch:
    image_id: int
    distance: int


def phash_to_int(phash_hex: str) -> int:
    return int(phash_hex, 16)


# Hash comparisons one vectorised step makes at most (a byte each, and eight for the XOR before it).
_COMPARISONS_AT_ONCE = 4_000_000


class PerceptualHashIndex:
    def __init__(self):
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._ids = np.empty(0, dtype=np.int64)
        self._hashes = np.empty(0, dtype=np.uint64)
        self._last_id = 0

    def _top_up(self) -> None:
        rows = list(Image.objects.filter(id__gt=self._last_id).order_by("id").values_list("id", "phash"))
        if not rows:
            return
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        hashes = np.fromiter((phash_to_int(row[1]) for row in rows), dtype=np.uint64, count=len(rows))
        self._ids = np.concatenate([self._ids, ids])
        self._hashes = np.concatenate([self._hashes, hashes])
        self._last_id = int(ids[-1])

    def _nearest_cached_many(self, wanted: np.ndarray, max_distance: int) -> list[NearMatch | None]:
        if not len(self._hashes):
            return [None] * len(wanted)
        matches: list[NearMatch | None] = []
        rows = max(1, _COMPARISONS_AT_ONCE // len(self._hashes))  # bounds the distance matrix's memory
        for start in range(0, len(wanted), rows):
            distances = np.bitwise_count(self._hashes[None, :] ^ wanted[start : start + rows, None])
            best = np.argmin(distances, axis=1)
            for row, column in enumerate(best):
                distance = int(distances[row, column])
                matches.append(NearMatch(int(self._ids[column]), distance) if distance <= max_distance else None)
        return matches

    def nearest_many(self, phashes_hex: Sequence[str], max_distance: int) -> list[NearMatch | None]:
        """For each hash, the stored image closest to it if within ``max_distance`` bits, else None.

        One refresh, one vectorised comparison, and one query confirming the matches.
        """
        wanted = np.fromiter((phash_to_int(phash) for phash in phashes_hex), dtype=np.uint64, count=len(phashes_hex))
        with self._lock:
            self._top_up()
            matches = self._nearest_cached_many(wanted, max_distance)
            claimed = {match.image_id for match in matches if match is not None}
            if claimed and Image.objects.filter(id__in=claimed).count() != len(claimed):
                self._reset()  # the cache held rows that are gone: rebuild it from the database
                self._top_up()
                matches = self._nearest_cached_many(wanted, max_distance)
            return matches

    def refresh(self) -> None:
        """Load the rows added since the last look (one query)."""
        with self._lock:
            self._top_up()

    def nearest(self, phash_hex: str, max_distance: int) -> NearMatch | None:
        """``nearest_many`` for one hash."""
        return self.nearest_many([phash_hex], max_distance)[0]


# One index per process, shared by all threads.
phash_index = PerceptualHashIndex()

