"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV injection).

Every CSV the platform writes goes through ``csv_writer`` (the quality
dashboard's figures, the snapshot's per-split ``{split}.csv``): a text cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or
the full-width ``＝ ＋ － ＠``, which some spreadsheets read as the ASCII
ones) gets a leading apostrophe, so a worker called ``+1+1`` or ``@SUM(A1)``
stays text. Only strings are escaped: numbers are written as numbers, so a
negative figure stays a number. A cell that already starts with an
apostrophe before such a character gets one more, so ``unescape_cell`` gives
back exactly what was written (readers of our own files use it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
ESCAPE = "'"


def _needs_escape(text: str) -> bool:
    if text.startswith(FORMULA_PREFIXES):
        return True
    return text.startswith(ESCAPE) and _needs_escape(text[1:])


def escape_cell(value: Any) -> Any:
    """The cell as written: a string a spreadsheet would run gets a leading apostrophe; anything else as given."""
    if isinstance(value, str) and _needs_escape(value):
        return ESCAPE + value
    return value


def unescape_cell(text: str) -> str:
    """The string ``escape_cell`` was given, from the cell it wrote."""
    if text.startswith(ESCAPE) and _needs_escape(text[1:]):
        return text[1:]
    return text


class SafeCsvWriter:
    """``csv.writer`` whose rows are escaped cell by cell (``writerow``, ``writerows``)."""

    def __init__(self, stream: TextIO, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([escape_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: TextIO, **options: Any) -> SafeCsvWriter:
    """The one way the platform writes CSV: ``csv.writer(stream, **options)`` with every text cell escaped."""
    return SafeCsvWriter(stream, **options)
