"""What other apps add to a snapshot's release notes, without the export knowing them.

A snapshot's manifest says how its data was collected (``collection``): the
campaigns app, for one, says which crowd platforms, how many participants,
what they were paid. Each contributor is given the ids of the images in the
snapshot and returns something JSON can hold (or None to say nothing).
"""

from __future__ import annotations

from collections.abc import Callable

Contributor = Callable[[list[int]], object]
_contributors: dict[str, Contributor] = {}


def register_release_notes(name: str, contributor: Contributor) -> None:
    """Add ``contributor`` under ``name`` (an app's ``ready``); registering a name again replaces it."""
    _contributors[name] = contributor


def unregister_release_notes(name: str) -> None:
    _contributors.pop(name, None)


def release_notes(image_ids: list[int]) -> dict:
    notes = {}
    for name, contributor in sorted(_contributors.items()):
        said = contributor(list(image_ids))
        if said is not None:
            notes[name] = said
    return notes
