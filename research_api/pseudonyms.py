"""Workers' pseudonyms in the researcher API: a stable keyed hash of the worker's id.

The same worker always gets the same pseudonym (so answers can be grouped by
annotator), and without the key nobody can tell which worker it is. The key
is ``RESEARCH_PSEUDONYM_KEY`` (``SECRET_KEY`` when empty): changing it gives
every worker a new pseudonym.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.utils.crypto import salted_hmac

PREFIX = "a-"
LENGTH = 16


def pseudonym(worker_id: int) -> str:
    key = settings.RESEARCH_PSEUDONYM_KEY or settings.SECRET_KEY
    return PREFIX + salted_hmac("research_api.worker", str(worker_id), secret=key, algorithm="sha256").hexdigest()[:LENGTH]


def worker_with_pseudonym(value: str, worker_ids: Iterable[int]) -> int | None:
    """The worker among ``worker_ids`` whose pseudonym is ``value``, or None."""
    return next((worker_id for worker_id in worker_ids if pseudonym(worker_id) == value), None)
