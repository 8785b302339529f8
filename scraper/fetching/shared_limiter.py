"""The fetch limits held in Redis, so they bind every crawl process together.

``ConcurrencyLimiter`` keeps its slots in one process. Celery runs crawls in
several processes, often on several machines, and each would otherwise allow
the full overall and per-host limits on its own. This limiter has the same
``slot(host, min_interval=...)`` interface; its state lives in Redis:

- a sorted set of held slots overall and one per host, each member a random
  token scored by when its lease runs out, taken both at once or not at all
  (one Lua script), so a process that dies holding slots loses them when the
  lease ends instead of starving everyone;
- per host, the earliest time the next request may start, so ``min_interval``
  (the politeness delay, robots.txt Crawl-delay) spaces requests from all
  processes, on Redis's clock rather than the machines' own.

A waiting thread polls with a short, growing sleep: slots free up at the pace
of HTTP requests, so the poll costs little next to what it waits for.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from scraper.fetching.cancel import pause as pause_for

# KEYS: overall set, host set. ARGV: token, lease seconds, overall limit, host limit.
_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
for _, key in ipairs(KEYS) do redis.call('ZREMRANGEBYSCORE', key, '-inf', t) end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 0
end
local expires = t + tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, expires, ARGV[1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[2])) + 60)
end
return 1
"""

# KEYS: the host's next-start key. ARGV: interval seconds. Returns seconds to wait (a string: Lua floats truncate).
_TURN = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local start = math.max(t, tonumber(redis.call('GET', KEYS[1]) or '0'))
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', start + interval), 'PX', math.ceil((start - t + interval) * 1000) + 1000)
return string.format('%.6f', start - t)
"""

POLL_START_SECONDS = 0.005
POLL_MAX_SECONDS = 0.1


class SharedConcurrencyLimiter:
    """At most ``total`` requests at once and ``per_host`` to one host, across every process using ``url``."""

    def __init__(self, url: str, *, total: int, per_host: int, lease_seconds: float, prefix: str = "scraper:limits"):
        if total < 1 or per_host < 1:
            raise ValueError("total and per_host must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be above 0")
        self._redis = redis.Redis.from_url(url)
        self._total, self._per_host, self._lease = total, per_host, lease_seconds
        self._prefix = prefix
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._turn = self._redis.register_script(_TURN)

    def _keys(self, host: str) -> list[str]:
        return [f"{self._prefix}:all", f"{self._prefix}:host:{host}"]

    def _take(self, host: str) -> str:
        token = secrets.token_hex(8)
        delay = POLL_START_SECONDS
        while not self._acquire(keys=self._keys(host), args=[token, self._lease, self._total, self._per_host]):
            pause_for(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)
        return token

    def _wait_for_turn(self, host: str, min_interval: float) -> None:
        if min_interval <= 0:
            return
        wait = float(self._turn(keys=[f"{self._prefix}:next:{host}"], args=[repr(min_interval)]))
        if wait > 0:
            pause_for(wait)

    @contextmanager
    def slot(self, host: str, *, min_interval: float = 0.0) -> Iterator[None]:
        token = self._take(host)
        try:
            self._wait_for_turn(host, min_interval)
            yield
        finally:
            keys = self._keys(host)
            with self._redis.pipeline() as pipe:
                for key in keys:
                    pipe.zrem(key, token)
                pipe.execute()

    def close(self) -> None:
        self._redis.close()
