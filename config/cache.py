"""The shared cache: Redis that fails open.

The cache holds only throttle counters (log-in lockouts, API rates), never
data. When Redis restarts or is unreachable, a request must not fail because
a counter could not be read: the cache then answers as an empty cache (reads
miss, writes are dropped), logs a warning, and recovers by itself when Redis
is back. Short socket timeouts keep an unreachable Redis from holding
requests, and after one failure the cache is not asked again for
``RETRY_SECONDS``: a Redis that hangs (paused, or its network black-holed)
costs one timeout per process now and then, not one per request.
(django-redis calls failing open ``IGNORE_EXCEPTIONS``; Django's own Redis
backend has no such option.)
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
WARN_EVERY_SECONDS = 30.0
SOCKET_TIMEOUT_SECONDS = 0.5
RETRY_SECONDS = 5.0


def redis_cache(url: str) -> dict:
    """The CACHES entry for a Redis URL (read from CACHE_URL by the settings)."""
    return {
        "BACKEND": "config.cache.FailOpenRedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "emotic",
        "OPTIONS": {"socket_connect_timeout": SOCKET_TIMEOUT_SECONDS, "socket_timeout": SOCKET_TIMEOUT_SECONDS},
    }


_last_warning = [0.0]
_unavailable_until = [0.0]  # Redis failed: answer as an empty cache without asking it until then


def forget_failures() -> None:
    """Ask Redis again from the next call on (a test that starts a fresh Redis)."""
    _unavailable_until[0] = 0.0


def _fail_open(fallback):
    """Run the cache call; when Redis is unavailable, log (now and then) and return ``fallback(*args)``."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if time.monotonic() < _unavailable_until[0]:
                return fallback(*args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except UNAVAILABLE as error:
                now = time.monotonic()
                _unavailable_until[0] = now + RETRY_SECONDS
                if now - _last_warning[0] >= WARN_EVERY_SECONDS:
                    _last_warning[0] = now
                    logger.warning("cache unavailable, throttles count nothing until it is back: %s", error)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _default(key, default=None, *args, **kwargs):
    return default


def _delta(key, delta=1, *args, **kwargs):
    return delta


class FailOpenRedisCache(RedisCache):
    get = _fail_open(_default)(RedisCache.get)
    set = _fail_open(lambda *args, **kwargs: None)(RedisCache.set)
    add = _fail_open(lambda *args, **kwargs: False)(RedisCache.add)
    touch = _fail_open(lambda *args, **kwargs: False)(RedisCache.touch)
    delete = _fail_open(lambda *args, **kwargs: False)(RedisCache.delete)
    has_key = _fail_open(lambda *args, **kwargs: False)(RedisCache.has_key)
    incr = _fail_open(_delta)(RedisCache.incr)
    get_many = _fail_open(lambda *args, **kwargs: {})(RedisCache.get_many)
    set_many = _fail_open(lambda keys, *args, **kwargs: list(keys))(RedisCache.set_many)
    delete_many = _fail_open(lambda *args, **kwargs: None)(RedisCache.delete_many)
    clear = _fail_open(lambda *args, **kwargs: False)(RedisCache.clear)
