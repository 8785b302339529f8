"""Reading the X-Robots-Tag header: does the site refuse image indexing or AI use?

Each header line holds comma-separated directives, optionally scoped to one
crawler (``otherbot: noindex``); a scope lasts until the next one. Value
directives such as ``max-image-preview: large`` contain a colon too and are
not scopes.
"""

from __future__ import annotations

# Directives that forbid collecting the image into a dataset.
IMAGE_REFUSING_DIRECTIVES = frozenset({"noimageindex", "noai", "noimageai", "none"})
_VALUE_DIRECTIVES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})


def refusing_directives(header_lines: str, agent_token: str) -> set[str]:
    """Directives in the header (one header per line) that apply to us and refuse the image."""
    refused: set[str] = set()
    for line in header_lines.splitlines():
        scope: str | None = None  # None: every crawler
        for token in line.split(","):
            token = token.strip().lower()
            if not token:
                continue
            name, colon, rest = token.partition(":")
            name = name.strip()
            if colon and name not in _VALUE_DIRECTIVES:
                scope = name
                token = rest.strip()
            directive = token.partition(":")[0].strip()
            if scope in (None, "*", agent_token) and directive in IMAGE_REFUSING_DIRECTIVES:
                refused.add(directive)
    return refused
