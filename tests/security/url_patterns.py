"""Every URL pattern of the project, read from the resolver, as full route strings."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    route: str  # e.g. "api/tasks/<int:task_id>/submit/"
    name: str  # namespaced, e.g. "annotator-api:submit-task"; "" when unnamed


def _pattern_text(pattern) -> str:
    return str(pattern.pattern)


def all_routes(patterns=None, prefix: str = "", namespace: str = "") -> list[Route]:
    """Walk the URL tree recursively (includes, admin sites, namespaced apps)."""
    routes: list[Route] = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace or "") if n)
            routes += all_routes(entry.url_patterns, prefix + _pattern_text(entry), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            routes.append(Route(prefix + _pattern_text(entry), name))
    return routes
