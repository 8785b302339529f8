"""A campaign's progress as PNG plots (matplotlib, Agg, no pyplot state), as the quality dashboard draws its own.

Each function takes plain numbers and returns PNG bytes; an empty series is
drawn as a labelled empty plot, never as zeros.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

BAR = "#2f6fde"
SECOND = "#1e7e34"
REFERENCE = "#b3261e"
PLOTS = ("progress", "sessions", "seconds-per-task", "hourly-pay")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _nothing(axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#777")


def progress_png(completions: Sequence[datetime], answers: Sequence[datetime], target: int | None) -> bytes:
    """Completed sessions and answers stored over time (cumulative)."""
    figure = Figure(figsize=(7, 3.4))
    axes = figure.add_subplot()
    if not completions and not answers:
        _nothing(axes, "no sessions completed and no answers yet")
    else:
        if answers:
            axes.step(answers, np.arange(1, len(answers) + 1), where="post", color=BAR, label="answers stored")
        axes.set_ylabel("answers", color=BAR)
        twin = axes.twinx()
        if completions:
            twin.step(completions, np.arange(1, len(completions) + 1), where="post", color=SECOND, label="sessions completed")
        if target:
            twin.axhline(target, color=REFERENCE, linestyle="--", linewidth=0.8, label=f"target ({target})")
        twin.set_ylabel("sessions completed", color=SECOND)
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        handles = [*axes.get_legend_handles_labels()[0], *twin.get_legend_handles_labels()[0]]
        if handles:
            axes.legend(handles=handles, fontsize=8, loc="upper left")
    axes.set_title("Progress")
    return _png(figure)


def sessions_png(states: dict[str, int], labels: dict[str, str]) -> bytes:
    """Sessions by state."""
    figure = Figure(figsize=(7, 3.4))
    axes = figure.add_subplot()
    names = list(labels)
    counts = [states.get(name, 0) for name in names]
    axes.barh(np.arange(len(names)), counts, color=BAR)
    axes.set_yticks(np.arange(len(names)), [labels[n] for n in names], fontsize=8)
    axes.invert_yaxis()
    for y, count in enumerate(counts):
        axes.text(count, y, f" {count}", va="center", fontsize=8)
    axes.set_xlabel("sessions")
    axes.set_title("Sessions by state")
    return _png(figure)


def seconds_per_task_png(seconds: Sequence[float]) -> bytes:
    """Time on task per answer, with its median."""
    figure = Figure(figsize=(7, 3.4))
    axes = figure.add_subplot()
    values = np.asarray([s for s in seconds if s is not None], dtype=float)
    if values.size:
        top = max(float(np.percentile(values, 99)), 1.0)
        axes.hist(np.clip(values, 0, top), bins=30, color=BAR)
        median = float(np.median(values))
        axes.axvline(median, color=REFERENCE, linestyle="--", label=f"median {median:.1f} s")
        axes.legend(fontsize=8)
    else:
        _nothing(axes, "no answers yet")
    axes.set_xlabel("seconds on the task (as the page measured)")
    axes.set_ylabel("answers")
    axes.set_title(f"Time per task ({values.size} answers)")
    return _png(figure)


def hourly_pay_png(hourly_cents: Sequence[float], minimum_cents: int | None, currency_sign: str) -> bytes:
    """Effective hourly pay of each completed session, against the marketplace's minimum."""
    figure = Figure(figsize=(7, 3.4))
    axes = figure.add_subplot()
    values = np.asarray(hourly_cents, dtype=float) / 100
    if values.size:
        axes.hist(values, bins=20, color=BAR)
        axes.axvline(float(np.median(values)), color=SECOND, linestyle="-", label=f"median {currency_sign}{np.median(values):.2f}")
    else:
        _nothing(axes, "no completed sessions yet")
    if minimum_cents:
        axes.axvline(minimum_cents / 100, color=REFERENCE, linestyle="--", label=f"minimum {currency_sign}{minimum_cents / 100:.2f}")
    if values.size or minimum_cents:
        axes.legend(fontsize=8)
    axes.set_xlabel(f"{currency_sign} per hour (reward and bonuses over the whole session)")
    axes.set_ylabel("sessions")
    axes.set_title("Effective hourly pay per completed session")
    return _png(figure)
