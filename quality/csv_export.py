"""The dashboard's figures as CSV, one file per plot. An undefined figure is an empty cell."""

from __future__ import annotations

import io
from collections.abc import Iterable

from django.db.models import QuerySet

from annotator.models import Worker
from quality.figures import category_rows, defined_or_none, vad_rows
from quality.models import PersonAgreement
from emotic.csv_cells import csv_writer
from emotic.taxonomy import mask_to_categories


def _cell(value) -> object:
    """Numbers stay numbers (written as ``repr``); text is escaped by the writer; NaN is an empty cell."""
    if isinstance(value, bool) or isinstance(value, (int, str)):
        return value
    number = defined_or_none(value)
    return "" if number is None else number


def _write(header: list[str], rows: Iterable[dict]) -> str:
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    return buffer.getvalue()


def category_csv(figures: dict) -> str:
    rows = category_rows(figures)
    return _write(list(rows[0].keys()), rows)


def vad_csv(figures: dict) -> str:
    rows = vad_rows(figures)
    return _write(list(rows[0].keys()), rows)


def person_csv(agreements: QuerySet[PersonAgreement]) -> str:
    header = [
        "person_id", "image_id", "split", "annotators", "fleiss_kappa", "valence_std", "arousal_std", "dominance_std",
        "union_categories", "majority_categories", "dawid_skene_categories",
    ]
    rows = (
        {
            "person_id": a.person_id,
            "image_id": a.person.image_id,
            "split": a.person.image.split,
            "annotators": a.annotators,
            "fleiss_kappa": a.fleiss_kappa,
            "valence_std": a.valence_std,
            "arousal_std": a.arousal_std,
            "dominance_std": a.dominance_std,
            "union_categories": ";".join(mask_to_categories(a.union_mask)),
            "majority_categories": ";".join(mask_to_categories(a.majority_mask)),
            "dawid_skene_categories": "" if a.dawid_skene_mask is None else ";".join(mask_to_categories(a.dawid_skene_mask)),
        }
        for a in agreements.iterator(chunk_size=2000)
    )
    return _write(header, rows)


def worker_csv(workers: QuerySet[Worker]) -> str:
    header = [
        "worker_id", "username", "is_blocked", "blocked_automatically", "gold_accuracy", "gold_answered",
        "consensus_agreement", "median_seconds_per_task", "skip_rate", "tasks_submitted",
    ]
    rows = (
        {
            "worker_id": w.pk,
            "username": w.user.get_username(),
            **{column: getattr(w, column) for column in header[2:]},
        }
        for w in workers.select_related("user").order_by("id").iterator(chunk_size=2000)
    )
    return _write(header, rows)
