"""Workers' pseudonyms in the researcher API: a stable keyed hash of the worker's id.

The same worker always gets the same pseudonym (so answers can be grouped by
annotator), and without the key nobody can tell which worker it is. The key
is ``RESEARCH_PSEUDONYM_KEY`` (``SECRET_KEY`` when empty): changing it gives
every worker a new pseudonym.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings

PREFIX = "a-"
LENGTH = 16
SALT = "research_api.worker"


@functools.lru_cache(maxsize=4)
def _keyed(key: str) -> hmac.HMAC:
    """HMAC-SHA256 keyed as Django's ``salted_hmac`` keys it (SHA-256 of salt and secret), made once per key."""
    return hmac.new(hashlib.sha256((SALT + key).encode()).digest(), digestmod=hashlib.sha256)


def pseudonym(worker_id: int) -> str:
    mac = _keyed(settings.RESEARCH_PSEUDONYM_KEY or settings.SECRET_KEY).copy()
    mac.update(str(worker_id).encode())
    return PREFIX + mac.hexdigest()[:LENGTH]


def worker_with_pseudonym(value: str, worker_ids: Iterable[int]) -> int | None:
    """The worker among ``worker_ids`` whose pseudonym is ``value``, or None."""
    return next((worker_id for worker_id in worker_ids if pseudonym(worker_id) == value), None)
