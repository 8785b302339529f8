"""The seed's claim on data where it must hold: body + context beats either stream alone.

The snapshot is built here. Each person is a box in a synthetic photograph:
three colour cues (red, green, blue channel high or low) are painted on the
person and three others, drawn independently, on the background outside the
box. Categories 0-2 (Affection, Anger, Annoyance) are the person's cues,
categories 3-5 (Anticipation, Aversion, Confidence) the background's; the other
20 never occur. Every split holds the cue combinations in equal numbers (all
64 in train and test), so no cue predicts another and a stream that cannot see
a cue scores chance on it: AP 0.5, the prevalence. The arrays are made by
``training.core.data.crop_and_resize``, as for a real snapshot: the body stream sees
the person only, the context stream the whole photograph, in which the person
is a patch of 8%.

Three real ResNet-18 pairs are trained from scratch on the CPU with the same
budget and seed (two epochs of 64 people), then evaluated on the held-out test
split by ``evaluate_checkpoint``: about 100 s of one CPU core in all. The
thresholds below held with margin for five data and training seeds (fused mAP
0.87-0.92 against 0.71-0.77 for either stream; a blind stream's AP on what it
cannot see 0.50-0.56; the fused model's AP on either kind 0.84-0.98). VAD
follows the cues too but is not asserted: sixteen steps with a small VAD
weight leave it unlearned.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emotic.formats.arrays import array_names
from emotic.taxonomy import CATEGORY_NAMES, NUM_CATEGORIES
from training.core.checkpoint import load_checkpoint
from training.core.data import crop_and_resize
from training.core.evaluate import evaluate_checkpoint
from training.core.hyperparameters import MODES, Hyperparameters
from training.core.loop import train_model

pytestmark = pytest.mark.slow

BODY_CATEGORIES = CATEGORY_NAMES[0:3]
CONTEXT_CATEGORIES = CATEGORY_NAMES[3:6]
ABSENT_CATEGORIES = CATEGORY_NAMES[6:]
CUE_COMBINATIONS = [
    (np.array(body), np.array(context))
    for body in itertools.product((0, 1), repeat=3)
    for context in itertools.product((0, 1), repeat=3)
]
PHOTO_SIZE = 448
BOX_WIDTH, BOX_HEIGHT = 96, 160  # 7.7% of the photograph
LOW, HIGH = 50, 200  # channel level of a cue that is off / on
PIXEL_NOISE = 20.0
SPLIT_SIZES = {"train": 64, "val": 16, "test": 64}
CHANCE_AP = 0.5

# The same budget for every mode. The learning rate is the default one; higher
# rates scramble the randomly initialised trunks faster than a few steps can
# use them. The VAD loss, on the 1-10 scale, has much larger gradients than the
# categories' and would take most of sixteen steps, so it is given less weight.
HYPERPARAMETERS = Hyperparameters(
    epochs=2, batch_size=8, learning_rate=1e-4, vad_loss_weight=0.05, num_workers=0, device="cpu", seed=0
)


def scene(rng: np.random.Generator, body_cues: np.ndarray, context_cues: np.ndarray):
    """One person: (context 224x224x3, body 128x128x3, categories (26,), VAD (3,))."""
    photo = np.empty((PHOTO_SIZE, PHOTO_SIZE, 3))
    photo[:] = np.where(context_cues, HIGH, LOW)
    x1 = int(rng.integers(0, PHOTO_SIZE - BOX_WIDTH + 1))
    y1 = int(rng.integers(0, PHOTO_SIZE - BOX_HEIGHT + 1))
    photo[y1 : y1 + BOX_HEIGHT, x1 : x1 + BOX_WIDTH] = np.where(body_cues, HIGH, LOW)
    photo += rng.normal(0.0, PIXEL_NOISE, photo.shape)
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    context, body = crop_and_resize(image, (x1, y1, x1 + BOX_WIDTH, y1 + BOX_HEIGHT))
    categories = np.zeros(NUM_CATEGORIES, dtype=np.float32)
    categories[0:3], categories[3:6] = body_cues, context_cues
    # Valence follows the person's red cue, arousal the background's.
    vad = np.array([3.0 + 4.0 * body_cues[0], 3.0 + 4.0 * context_cues[0], 5.0], dtype=np.float32)
    return context, body, categories, vad


def write_scene_snapshot(root: Path, sizes: dict[str, int], seed: int) -> Path:
    """Splits of balanced cue combinations (all 64 for a split of 64) in the baseline's array layout."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for split, size in sizes.items():
        chosen = rng.permutation(len(CUE_COMBINATIONS))[:size]
        contexts, bodies, categories, vad = zip(*(scene(rng, *CUE_COMBINATIONS[index]) for index in chosen))
        names = array_names(split)
        for key, rows in (("context", contexts), ("body", bodies), ("categories", categories),
                          ("continuous", vad)):
            np.save(root / names[key], np.stack(rows))
    return root


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, dict]:
    """Train and evaluate each mode once; the tests below read the test-split reports."""
    root = tmp_path_factory.mktemp("learning")
    snapshot = write_scene_snapshot(root / "snapshot", SPLIT_SIZES, seed=0)
    # One thread: float sums come out the same on any machine however many cores it has.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = {}
        for mode in MODES:
            trained = train_model(snapshot, root / mode, HYPERPARAMETERS.replace(mode=mode))
            assert trained.status == "completed" and trained.epochs_completed == HYPERPARAMETERS.epochs
            report = evaluate_checkpoint(trained.best_checkpoint, snapshot, root / f"{mode}-report",
                                         split="test", device="cpu")
            report["thresholds_in_checkpoint"] = load_checkpoint(trained.best_checkpoint)["thresholds"]
            results[mode] = report
    finally:
        torch.set_num_threads(threads)
    return results


def mean_ap(report: dict, categories: tuple[str, ...]) -> float:
    return float(np.mean([report["metrics"]["average_precision"][name] for name in categories]))


def test_body_and_context_model_learns_both_kinds_of_category(reports):
    both = reports["body_context"]
    assert both["metrics"]["samples"] == SPLIT_SIZES["test"]
    assert mean_ap(both, BODY_CATEGORIES) > 0.75, both["metrics"]["average_precision"]
    assert mean_ap(both, CONTEXT_CATEGORIES) > 0.75, both["metrics"]["average_precision"]


def test_each_stream_alone_learns_only_the_categories_it_can_see(reports):
    body, context = reports["body"], reports["context"]
    assert mean_ap(body, BODY_CATEGORIES) > 0.75, body["metrics"]["average_precision"]
    assert mean_ap(body, CONTEXT_CATEGORIES) < CHANCE_AP + 0.1, body["metrics"]["average_precision"]
    assert mean_ap(context, CONTEXT_CATEGORIES) > 0.75, context["metrics"]["average_precision"]
    assert mean_ap(context, BODY_CATEGORIES) < CHANCE_AP + 0.1, context["metrics"]["average_precision"]


def test_body_and_context_beats_either_stream_alone_on_map(reports):
    fused = reports["body_context"]["metrics"]["mean_average_precision"]
    for single in ("body", "context"):
        assert fused > reports[single]["metrics"]["mean_average_precision"] + 0.08, {
            mode: report["metrics"]["mean_average_precision"] for mode, report in reports.items()
        }


def test_categories_without_positives_are_undefined_not_zero(reports):
    for mode, report in reports.items():
        metrics = report["metrics"]
        assert all(metrics["average_precision"][name] is None for name in ABSENT_CATEGORIES), mode
        assert all(metrics["positives"][name] == 0 for name in ABSENT_CATEGORIES), mode
        assert all(metrics["positives"][name] == SPLIT_SIZES["test"] // 2 for name in CATEGORY_NAMES[:6]), mode
        # mAP is the mean over the six categories that occur, not over 26 with zeros.
        present = [metrics["average_precision"][name] for name in CATEGORY_NAMES[:6]]
        assert metrics["mean_average_precision"] == pytest.approx(np.mean(present))
        # Never predicted: no validation threshold exists for them.
        assert all(np.isinf(report["thresholds_in_checkpoint"][6:])), mode
