"""Search queries built from templates, as EMOTIC built its own: places x activities x emotion words.

A template names its slots (``{emotion} people {activity} in a {place}``);
every combination of the slot words becomes one query, and each stored image
keeps the query text and the words that made it.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass

from emotic.errors import FieldError
from emotic.taxonomy import CATEGORY_NAMES

DEFAULT_TEMPLATE = "{emotion} people {activity} in a {place}"
DEFAULT_WORDS: dict[str, tuple[str, ...]] = {
    "place": ("park", "office", "kitchen", "street", "classroom", "hospital", "stadium", "beach", "restaurant", "airport"),
    "activity": ("talking", "eating", "working", "playing", "waiting", "dancing", "arguing", "celebrating"),
    # The 26 EMOTIC categories, as search words.
    "emotion": tuple(name.lower().replace("/", " ") for name in CATEGORY_NAMES),
}


@dataclass(frozen=True)
class SearchQuery:
    text: str
    parts: dict[str, str]

    def as_json(self) -> dict:
        return {"text": self.text, "parts": self.parts}

    @classmethod
    def from_json(cls, value: dict) -> SearchQuery:
        return cls(text=str(value["text"]), parts=dict(value.get("parts", {})))


def template_slots(template: str) -> list[str]:
    slots = []
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier():
            raise FieldError("template", f"slot {{{name}}} must be a plain name such as {{place}}")
        if name not in slots:
            slots.append(name)
    return slots


def expand_template(template: str, words: dict[str, list[str] | tuple[str, ...]] | None = None) -> list[SearchQuery]:
    """Every combination of the words for the template's slots, in a stable order.

    Slots without words given use ``DEFAULT_WORDS``; a slot with neither is an error.
    """
    words = {**DEFAULT_WORDS, **{k: tuple(v) for k, v in (words or {}).items() if v}}
    slots = template_slots(template)
    if not slots:
        return [SearchQuery(template.strip(), {})]
    missing = [slot for slot in slots if not words.get(slot)]
    if missing:
        raise FieldError("template", f"no words for slot {{{missing[0]}}} (give --{missing[0]}s)")
    queries = []
    for combination in itertools.product(*(words[slot] for slot in slots)):
        parts = dict(zip(slots, combination, strict=True))
        queries.append(SearchQuery(" ".join(template.format(**parts).split()), parts))
    return queries
