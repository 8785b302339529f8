"""Request bodies of the worker API: JSON without NaN or Infinity, refused by field."""

from __future__ import annotations

import math

from rest_framework.parsers import JSONParser

from annotator.services.errors import BodyInvalid


class FiniteJSONParser(JSONParser):
    """JSON bodies, refusing NaN and Infinity with the name of the field that holds them.

    Python's json reads the tokens ``NaN``, ``Infinity`` and ``-Infinity``, and
    reads numbers too big for a float (``1e999``) as infinity. JSON allows none
    of them; the stock parser refuses the tokens without saying where, so they
    are read here and refused by field: a ``BodyInvalid``, which the API's exception
    handler answers as a 400 naming the field.
    """

    strict = False

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise BodyInvalid("body", "is nested too deeply") from None
        found = _first_non_finite(data)
        if found is not None:
            field, value = found
            token = "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
            raise BodyInvalid(field, f"must be a finite number, got {token}")
        return data


def _first_non_finite(data) -> tuple[str, float] | None:
    """``("boxes[0][2]", inf)`` for the first NaN or infinity in ``data``, named as ``config.api_errors.flatten`` names fields."""
    stack = [("", data)]  # iterative: a deeply nested body must not exhaust the recursion limit
    while stack:
        name, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return name or "body", value
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        stack.extend((f"{name}[{key}]" if name else str(key), item) for key, item in reversed(items))
    return None
