"""The dashboard's figures as PNG images (matplotlib, Agg: no display, no pyplot state).

Each function takes plain numbers (None for undefined) and returns PNG
bytes. Undefined values are left out of the picture and named in it ("n/a"),
never drawn as zero.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from quality.figures import TPAMI_MEAN_CATEGORY_KAPPA, TPAMI_VAD_SPREAD
from emotic.agreement import TPAMI_KAPPA_THRESHOLD
from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS

BAR = "#2f6fde"
REFERENCE = "#b3261e"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _numbers(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def category_kappa_png(category_kappa: Sequence[float | None], names: Sequence[str] = CATEGORY_NAMES) -> bytes:
    """Fleiss' kappa per category, with TPAMI's mean of about 0.30 as a line; "n/a" where undefined."""
    values = _numbers(category_kappa)
    figure = Figure(figsize=(10, 4))
    axes = figure.add_subplot()
    positions = np.arange(len(values))
    defined = ~np.isnan(values)
    axes.bar(positions[defined], values[defined], color=BAR)
    for x in positions[~defined]:
        axes.text(x, 0, "n/a", rotation=90, ha="center", va="bottom", fontsize=7, color="#777")
    axes.axhline(TPAMI_MEAN_CATEGORY_KAPPA, color=REFERENCE, linestyle="--", label="TPAMI mean (0.30)")
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xticks(positions, names, rotation=75, ha="right", fontsize=8)
    axes.set_ylabel("Fleiss' kappa")
    axes.set_title("Agreement per category")
    axes.legend(loc="upper right", fontsize=8)
    return _png(figure)


def person_kappa_png(person_kappa: Sequence[float | None]) -> bytes:
    """Distribution of per-person Fleiss' kappa, with TPAMI's 0.30 threshold."""
    values = _numbers(person_kappa)
    defined = values[~np.isnan(values)]
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.hist(defined, bins=np.linspace(-1, 1, 41), color=BAR)
    axes.axvline(TPAMI_KAPPA_THRESHOLD, color=REFERENCE, linestyle="--", label="0.30 (TPAMI)")
    undefined = len(values) - len(defined)
    axes.set_title(f"Agreement per person ({len(defined)} people; {undefined} n/a)")
    axes.set_xlabel("Fleiss' kappa over the 26 categories")
    axes.set_ylabel("people")
    axes.legend(fontsize=8)
    return _png(figure)


def vad_spread_png(vad_spread: dict[str, float | None]) -> bytes:
    """Mean standard deviation across annotators per VAD dimension, beside TPAMI's figures."""
    ours = _numbers([vad_spread.get(d) for d in VAD_DIMENSIONS])
    theirs = [TPAMI_VAD_SPREAD[d] for d in VAD_DIMENSIONS]
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    positions = np.arange(len(VAD_DIMENSIONS))
    defined = ~np.isnan(ours)
    axes.bar(positions[defined] - 0.2, ours[defined], width=0.4, color=BAR, label="this dataset")
    for x in positions[~defined]:
        axes.text(x - 0.2, 0, "n/a", ha="center", va="bottom", fontsize=8, color="#777")
    axes.bar(positions + 0.2, theirs, width=0.4, color="#999", label="EMOTIC val (TPAMI)")
    axes.set_xticks(positions, [d.capitalize() for d in VAD_DIMENSIONS])
    axes.set_ylabel("standard deviation across annotators")
    axes.set_title("VAD spread per dimension")
    axes.legend(fontsize=8)
    return _png(figure)


def worker_accuracy_png(accuracies: Sequence[float | None], threshold: float) -> bytes:
    """Histogram of workers' gold accuracy (workers with no gold answers yet are counted, not drawn)."""
    values = _numbers(accuracies)
    defined = values[~np.isnan(values)]
    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.hist(defined, bins=np.linspace(0, 1, 21), color=BAR)
    axes.axvline(threshold, color=REFERENCE, linestyle="--", label=f"block below {threshold:.0%}")
    axes.set_title(f"Gold accuracy ({len(defined)} workers; {len(values) - len(defined)} without gold answers)")
    axes.set_xlabel("share of recent control answers passed")
    axes.set_ylabel("workers")
    axes.legend(fontsize=8)
    return _png(figure)


def worker_gold_history_png(passed: Sequence[bool], window: int, threshold: float) -> bytes:
    """One worker's control answers in time order, and the accuracy over the trailing window."""
    outcomes = np.asarray(passed, dtype=float)
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    if outcomes.size:
        x = np.arange(1, outcomes.size + 1)
        cumulative = np.concatenate([[0], np.cumsum(outcomes)])
        start = np.maximum(x - window, 0)
        rolling = (cumulative[x] - cumulative[start]) / (x - start)
        axes.plot(x, rolling, color=BAR, label=f"accuracy, last {window}")
        axes.scatter(x, outcomes, c=np.where(outcomes > 0, "#1e7e34", REFERENCE), s=12, zorder=3)
    else:
        axes.text(0.5, 0.5, "no control answers yet (n/a)", ha="center", va="center", transform=axes.transAxes)
    axes.axhline(threshold, color=REFERENCE, linestyle="--", linewidth=0.8)
    axes.set_ylim(-0.05, 1.05)
    axes.set_xlabel("control answer")
    axes.set_title("Gold answers over time")
    return _png(figure)
