"""Checks shared by the sources, answering in words that name the problem."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

MAX_URL_LENGTH = 2000  # the length of Image.source_url
_url_validator = URLValidator(schemes=["http", "https"])


def url_problem(url: str, *, show: bool = True) -> str | None:
    """Why ``url`` cannot be fetched and stored, or None when it is fine.

    ``show=False`` leaves the text itself out of the answer: a line of a file that
    is not a URL may be anything (a password in a .env), and is named by its place only.
    """
    if not url:
        return "empty"
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    try:
        _url_validator(url)
    except ValidationError:
        return f"{url[:200]!r} is not an http(s) URL" if show else "not an http(s) URL"
    return None
