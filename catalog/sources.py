"""Sources: where the library's images come from. The one writer of ``Source`` rows.

A search has one source per (engine, query), found again when the same query
is searched again; an import, a folder or a URL list has one source per job.
Names and long fields are cut to what the row holds.
"""

from __future__ import annotations

from catalog.errors import CatalogError
from catalog.models import Source


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def search_source(engine: str, query: str) -> Source:
    """The source of the results of ``query`` on ``engine`` (made on first use)."""
    source, _ = Source.objects.get_or_create(
        kind=Source.Kind.SEARCH_ENGINE,
        engine=engine,
        query=_clip(query, 500),
        defaults={"name": _clip(f"{engine}: {query}", 200), "config": {"engine": engine}},
    )
    return source


def dataset_source(dataset: str, location: str, config: dict) -> Source:
    """A research dataset's file (COCO, ADE20K, EMOTIC) read by one import."""
    return Source.objects.create(
        kind=Source.Kind.DATASET, name=_clip(f"{dataset}: {location}", 200), dataset=dataset,
        location=location[:1000], config=config,
    )


def collection_source(kind: str, label: str, location: str, config: dict) -> Source:
    """A local folder or a URL list (``kind`` is ``folder`` or ``url_list``) read by one job."""
    if kind not in (Source.Kind.FOLDER, Source.Kind.URL_LIST, Source.Kind.BUNDLED):
        raise CatalogError("kind", f"must be folder, url_list or bundled, got {kind!r}")
    return Source.objects.create(kind=kind, name=_clip(f"{label}: {location}", 200), location=location[:1000], config=config)


def bundled_source(name: str) -> Source:
    """The samples bundled with the platform (the demo's photos), found again by name."""
    source, _ = Source.objects.get_or_create(kind=Source.Kind.BUNDLED, name=name)
    return source
