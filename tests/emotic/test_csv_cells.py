"""CSV injection: every CSV the platform writes escapes text a spreadsheet would run, and only text."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from emotic.csv_cells import csv_writer, escape_cell, unescape_cell

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        ("'=1", "''=1"),  # an apostrophe already there: one more, so reading gives it back
        ("worker1", "worker1"),
        ("it's", "it's"),
        ("'quoted", "'quoted"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_text_a_spreadsheet_would_run_is_escaped_and_reads_back(value, written):
    assert escape_cell(value) == written
    assert unescape_cell(written) == value


@pytest.mark.parametrize("number", [-2, -0.25, 3, 1.5e-7, -1e9, 0])
def test_numbers_stay_numbers(number):
    assert escape_cell(number) is number
    buffer = io.StringIO()
    csv_writer(buffer, lineterminator="\n").writerow([number, "-2+3"])
    assert buffer.getvalue() == f"{number!r},'-2+3\n"


def test_writerows_escapes_every_row():
    buffer = io.StringIO()
    csv_writer(buffer, lineterminator="\n").writerows([["=a", 1], ["b", "@c"]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [["'=a", "1"], ["b", "'@c"]]


def test_the_project_writes_csv_only_through_the_safe_writer():
    """One place: no module but emotic/csv_cells.py makes a csv.writer or csv.DictWriter."""
    pattern = re.compile(r"\bcsv\.(writer|DictWriter)\b")
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("config", "emotic", "catalog", "annotator", "quality", "scraper", "emotic_export", "training", "demo")
        for path in (REPO / folder).rglob("*.py")
        if path != REPO / "emotic" / "csv_cells.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
