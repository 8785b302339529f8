"""Limits another part may put on what a worker is given: which task kinds and splits, and an end to the work.

The annotator knows nothing of who sets them or why. A part that runs
workers in bounded sessions (a panel's participants working N tasks for a
fixed reward) registers a provider at start-up; for every request the
assignment service, the worker page and the API ask it what this worker may
get now:

- ``kinds`` and ``splits`` narrow the pool (``None``: no limit; ``""`` in
  ``splits`` is the images not yet placed in a split);
- ``finished``: the worker's bounded work is over (a quota met), or has not
  begun (a consent not yet given). The worker keeps the task it holds, but is
  given no new one, not even a qualification item: ``next_task`` answers
  "nothing left" (``done``) with ``finish_url``, where the page sends the
  worker next. ``finish_url`` is also where the page sends a worker who may
  no longer work (a failed qualification) or for whom nothing is left;
- ``label``, ``tasks_left`` and ``minutes_left`` are shown on the page.

Only workers made bounded (``workers.bounded_worker_for``) are asked about,
so everyone else's requests cost no query more. A provider returns ``None``
for workers it does not limit; the first scope returned counts. Providers
must only read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annotator.models import Worker


@dataclass(frozen=True)
class WorkScope:
    kinds: frozenset[str] | None = None
    splits: frozenset[str] | None = None
    finished: bool = False
    finish_url: str = ""
    label: str = ""
    tasks_left: int | None = None
    minutes_left: float | None = None

    def allows_kind(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


ScopeProvider = Callable[[Worker], "WorkScope | None"]
_providers: list[ScopeProvider] = []


def register_scope_provider(provider: ScopeProvider) -> None:
    """Ask ``provider(worker)`` for the scope of every worker from now on (registering twice changes nothing)."""
    if provider not in _providers:
        _providers.append(provider)


def unregister_scope_provider(provider: ScopeProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)


def work_scope(worker: Worker) -> WorkScope | None:
    """The limits on ``worker``'s work now, or None when nothing limits it."""
    if not worker.bounded:
        return None
    for provider in _providers:
        scope = provider(worker)
        if scope is not None:
            return scope
    return None
