"""Storing computed figures: the per-person agreement rows and the figures on each worker row.

Shared by the full recomputation and the incremental refresh
(``quality.services``) and by trust changes (``quality.trust``), which
refresh the people and workers a block or unblock touched.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotator.models import Worker
from quality import selectors
from quality.arrays import PeopleArrays
from quality.figures import defined_or_none, person_figures
from quality.models import PersonAgreement
from quality.worker_figures import WorkerFigures, compute_worker_figures

BATCH = 2000
PERSON_FIGURES = (
    "annotators", "fleiss_kappa", "valence_std", "arousal_std", "dominance_std", "union_mask", "majority_mask",
    "dawid_skene_mask",
)
WORKER_FIGURES = ("gold_accuracy", "gold_answered", "median_seconds_per_task", "skip_rate", "consensus_agreement")


def _changed(stored_rows: Iterable[tuple], computed: dict[int, tuple]) -> list[int]:
    """Primary keys whose computed figures differ from the stored ones (or that have none stored).

    Writing only those keeps a steady-state run cheap: most figures do not move between runs.
    """
    stored = {row[0]: tuple(row[1:]) for row in stored_rows}
    return [pk for pk, values in computed.items() if stored.get(pk) != values]


def store_person_figures(
    people: PeopleArrays, dawid_skene_masks: np.ndarray | None = None, labels: dict | None = None
) -> int:
    """Upsert ``PersonAgreement`` for the people in ``people`` whose figures changed; returns how many.

    Dawid-Skene is NULL when not given; ``labels`` (union and majority) are reused when given.
    """
    figures = person_figures(people, labels)
    columns = [
        figures.annotators.tolist(),
        *([defined_or_none(v) for v in values] for values in (figures.fleiss_kappa, *figures.vad_std.T)),
        figures.union_mask.tolist(),
        figures.majority_mask.tolist(),
        [None] * len(people.person_ids) if dawid_skene_masks is None else np.asarray(dawid_skene_masks).tolist(),
    ]
    computed = dict(zip(people.person_ids.tolist(), zip(*columns)))
    stored = PersonAgreement.objects.filter(person_id__in=list(computed)).values_list("person_id", *PERSON_FIGURES)
    now = timezone.now()
    rows = [
        PersonAgreement(person_id=pk, computed_at=now, **dict(zip(PERSON_FIGURES, computed[pk])))
        for pk in _changed(stored.iterator(chunk_size=BATCH), computed)
    ]
    PersonAgreement.objects.bulk_create(
        rows, batch_size=BATCH, update_conflicts=True, unique_fields=["person"],
        update_fields=[*PERSON_FIGURES, "computed_at"],
    )
    return len(rows)


def refresh_people(person_ids: Iterable[int]) -> None:
    """Recompute the stored figures of these people from their counted answers (the incremental path)."""
    person_ids = sorted(set(person_ids))
    if not person_ids:
        return
    people = selectors.counted_people_arrays(person_ids)
    with transaction.atomic():
        PersonAgreement.objects.filter(person_id__in=person_ids).exclude(person_id__in=people.person_ids.tolist()).delete()
        # Dawid-Skene labels of people whose answers changed are stale until the next full run.
        PersonAgreement.objects.filter(person_id__in=person_ids).update(dawid_skene_mask=None)
        store_person_figures(people)


def store_worker_figures(figures: WorkerFigures) -> int:
    """Write the figures onto the rows of the workers whose figures changed; returns how many.

    A blocked worker has no counted answers, so no consensus to measure:
    their ``consensus_agreement`` keeps the value it had when they were blocked.
    """
    stored = {row[0]: row for row in Worker.objects.filter(pk__in=figures.worker_ids.tolist()).values_list(
        "pk", *WORKER_FIGURES, "is_blocked"
    )}
    computed = {}
    for i, worker_id in enumerate(figures.worker_ids.tolist()):
        if worker_id not in stored:
            continue  # deleted meanwhile
        consensus = defined_or_none(figures.consensus_majority[i])
        computed[worker_id] = (
            defined_or_none(figures.gold_window_accuracy[i]),
            int(figures.gold_window_answers[i]),
            defined_or_none(figures.median_seconds[i]),
            defined_or_none(figures.skip_rate[i]),
            stored[worker_id][5] if stored[worker_id][6] else consensus,
        )
    changed = _changed((row[:6] for row in stored.values()), computed)
    workers = [Worker(pk=pk, **dict(zip(WORKER_FIGURES, computed[pk]))) for pk in changed]
    Worker.objects.bulk_update(workers, WORKER_FIGURES, batch_size=500)
    return len(workers)


def refresh_worker_figures(worker_ids: Iterable[int] | None = None, people: PeopleArrays | None = None) -> WorkerFigures:
    """Recompute and store these workers' figures (all if None); trust decisions are the caller's."""
    figures = compute_worker_figures(worker_ids, people)
    store_worker_figures(figures)
    return figures
