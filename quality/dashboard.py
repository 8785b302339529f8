"""What the quality dashboard shows: the latest report's figures for one scope, ready to print.

Scopes are "all", a split ("train", "val", "test") or "unassigned". Numbers
become strings here (``display``): "n/a" for anything undefined.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from annotator.protocol import protocol_in_force
from annotator.models import Worker
from annotator.selectors import ControlPool, control_pool
from quality import selectors
from quality.figures import (
    TPAMI_MEAN_CATEGORY_KAPPA,
    TPAMI_VAD_SPREAD,
    category_rows,
    display,
    vad_rows,
)
from quality.models import QualityReport
from quality.errors import QualityError
from emotic.aggregation import METHODS
from emotic.taxonomy import SPLITS

SCOPES = ("all", *SPLITS, "unassigned")
PLOTS = ("category-kappa", "person-kappa", "vad-spread", "worker-accuracy")


def checked_scope(scope: str | None) -> str:
    scope = scope or "all"
    if scope not in SCOPES:
        raise QualityError("split", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
    return scope


def scope_split(scope: str) -> str | None:
    """The ``Image.split`` value of a scope (None: every split)."""
    return None if scope == "all" else ("" if scope == "unassigned" else scope)


def scope_figures(report: QualityReport | None, scope: str) -> dict | None:
    return None if report is None else report.figures.get(scope)


def person_kappas(scope: str) -> list[float | None]:
    """Stored per-person kappa of every person with two or more counted answers in the scope."""
    rows = selectors.person_agreements(scope_split(scope)).filter(annotators__gte=2)
    return list(rows.values_list("fleiss_kappa", flat=True))


def worker_accuracies() -> list[float | None]:
    return list(Worker.objects.order_by("id").values_list("gold_accuracy", flat=True))


@dataclass
class Dashboard:
    report: QualityReport | None
    scope: str
    scopes: list[str]
    summary: list[tuple[str, str, str]]  # (figure, value, TPAMI's value or "")
    categories: list[dict]
    vad: list[dict]
    methods: list[str]
    workers: list[tuple[str, str]]
    pool: ControlPool  # the hidden controls and the qualification pool, with warnings where they run short


def dashboard(scope: str) -> Dashboard:
    scope = checked_scope(scope)
    report = selectors.latest_report()
    figures = scope_figures(report, scope)
    summary, categories, vad, methods = [], [], [], []
    if figures is not None:
        per_person = ", ".join(f"{k}: {v}" for k, v in sorted(figures["annotators_per_person"].items(), key=lambda kv: int(kv[0])))
        summary = [
            ("People", str(figures["people"]), ""),
            ("Answers", str(figures["answers"]), ""),
            ("People with two or more annotators", str(figures["people_compared"]), ""),
            ("People by number of annotators", per_person or "n/a", ""),
            ("Mean Fleiss' kappa over categories", display(figures["mean_category_kappa"], 3), f"{TPAMI_MEAN_CATEGORY_KAPPA:.2f}"),
            ("Mean Fleiss' kappa over people", display(figures["mean_person_kappa"], 3), ""),
            (f"People with kappa above {figures['kappa_threshold']:.2f}", display(figures["share_people_above_threshold"], 1, percent=True), ""),
            ("Krippendorff's alpha, categories pooled (nominal)", display(figures["pooled_category_alpha"], 3), ""),
            *[
                (f"{d.capitalize()}: mean std across annotators", display(figures["vad_spread"][d], 2), f"{TPAMI_VAD_SPREAD[d]:.2f}")
                for d in TPAMI_VAD_SPREAD
            ],
            *[
                (f"{d.capitalize()}: Krippendorff's alpha (interval)", display(figures["vad_alpha"][d], 3), "")
                for d in TPAMI_VAD_SPREAD
            ],
        ]
        methods = [m for m in METHODS if m in figures.get("positive_labels", {})]
        for row in category_rows(figures):
            categories.append({
                "category": row["category"],
                "kappa": display(row["fleiss_kappa"], 3),
                "alpha": display(row["krippendorff_alpha"], 3),
                "answers": row["answers_choosing"],
                "positives": [row[f"positive_{m}"] for m in methods],
            })
        vad = [{**row, **{k: display(row[k], 3 if k == "krippendorff_alpha" else 2) for k in ("mean_std", "krippendorff_alpha")}}
               for row in vad_rows(figures)]
    counts = Worker.objects.aggregate(
        total=Count("id"),
        blocked=Count("id", filter=Q(is_blocked=True)),
        blocked_automatically=Count("id", filter=Q(is_blocked=True, blocked_automatically=True)),
        with_gold=Count("id", filter=Q(gold_accuracy__isnull=False)),
    )
    accuracies = [a for a in worker_accuracies() if a is not None]
    protocol = protocol_in_force()
    workers = [
        ("Workers", str(counts["total"])),
        ("Blocked (automatically)", f"{counts['blocked']} ({counts['blocked_automatically']})"),
        ("Flagged for review", str(selectors.flagged_workers().count())),
        ("With gold answers", str(counts["with_gold"])),
        ("Mean gold accuracy", display(sum(accuracies) / len(accuracies) if accuracies else None, 1, percent=True)),
        ("Block threshold", f"below {protocol.trust_min_accuracy:.0%} over the last {protocol.trust_window} control answers (at least {protocol.trust_min_answers})"),
    ]
    scopes = [s for s in SCOPES if report is not None and s in report.figures] or ["all"]
    return Dashboard(report, scope, scopes, summary, categories, vad, methods, workers, control_pool())
