"""Dawid-Skene EM for binary labels, one independent model per category.

A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer
error-rates using the EM algorithm", Applied Statistics 28(1), 1979. For
category c each worker w has a sensitivity s_wc = P(chooses c | c is true)
and a specificity t_wc = P(does not choose c | c is false); the prior
prevalence is pi_c. Answers are independent given the true label, so

    P(c true for p | answers) ∝ pi_c * prod_{answers a of p} s^y (1 - s)^(1 - y)
    P(c false for p | answers) ∝ (1 - pi_c) * prod t^(1 - y) (1 - t)^y

E-step: these posteriors T[p, c]. M-step: s_wc = sum T y / sum T over the
worker's answers, t_wc likewise with 1 - T and 1 - y, pi_c = mean T. EM
starts from the vote share (majority-vote soft labels, as Dawid and Skene
do), which keeps workers better than chance on the right side of 0.5.

``smoothing`` adds that many pseudo-answers of each kind to every worker's
counts (a Beta(1 + smoothing, 1 + smoothing) prior, i.e. MAP-EM): without it
a worker with few answers gets s or t of exactly 0 or 1, and a single answer
then overrides everyone else. All categories and workers update at once in
arrays of shape (P, A, C) and (W, C); nothing loops over people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotic.annotation_arrays import AnnotationArrayError, as_choices, as_codes, count_workers


@dataclass(frozen=True)
class DawidSkeneResult:
    posterior: np.ndarray  # (P, C) P(category true | answers)
    labels: np.ndarray  # (P, C) posterior > 0.5; an exact 0.5 is not chosen
    prevalence: np.ndarray  # (C,)
    sensitivity: np.ndarray  # (W, C); 0.5-ish (prior only) for a category a worker never met
    specificity: np.ndarray  # (W, C)
    iterations: int
    converged: bool


def dawid_skene(
    choices: object,
    worker_index: object,
    n_workers: int | None = None,
    *,
    max_iter: int = 200,
    tol: float = 1e-6,
    smoothing: float = 1.0,
) -> DawidSkeneResult:
    """Fit binary Dawid-Skene per category to ``choices`` (P, A, C); slots with ``worker_index`` -1 are empty.

    Stops when no posterior moves by more than ``tol`` in an iteration, or
    after ``max_iter``. People without answers get the prior prevalence.
    """
    index = as_codes(worker_index, np.iinfo(np.int64).max, "worker_index")
    present = index >= 0
    votes, _ = as_choices(choices, present)
    if max_iter < 1 or tol <= 0 or smoothing < 0:
        raise AnnotationArrayError("max_iter, tol, smoothing: need max_iter >= 1, tol > 0 and smoothing >= 0")
    n_workers = count_workers(index, n_workers)
    y = votes.astype(float)
    answered = present.sum(axis=1)
    has_answers = answered > 0
    posterior = np.divide(
        y.sum(axis=1), answered[:, None], out=np.full((y.shape[0], y.shape[2]), 0.5), where=has_answers[:, None]
    )
    worker_of_answer = index[present]  # (K,) answers in present slots, row-major
    person_of_answer = np.nonzero(present)[0]
    y_answers = y[present]  # (K, C)

    converged = False
    for iteration in range(1, max_iter + 1):
        prevalence, sensitivity, specificity = _maximise(
            posterior, has_answers, person_of_answer, worker_of_answer, y_answers, n_workers, smoothing
        )
        updated = _expect(prevalence, sensitivity, specificity, index, present, y)
        change = np.abs(updated - posterior).max(initial=0.0)
        posterior = updated
        if change < tol:
            converged = True
            break
    return DawidSkeneResult(posterior, posterior > 0.5, prevalence, sensitivity, specificity, iteration, converged)


def _maximise(posterior, has_answers, person_of_answer, worker_of_answer, y_answers, n_workers, smoothing):
    """M-step: prevalence and each worker's sensitivity and specificity from the soft labels."""
    prevalence = posterior[has_answers].mean(axis=0) if has_answers.any() else np.full(posterior.shape[1], 0.5)
    prevalence = np.clip(prevalence, 1e-6, 1 - 1e-6)  # keeps log(prior) finite for a category no one chose
    truth = posterior[person_of_answer]  # (K, C) soft true label behind each answer
    sums = np.zeros((4, n_workers, posterior.shape[1]))
    for k, values in enumerate((truth * y_answers, truth, (1 - truth) * (1 - y_answers), 1 - truth)):
        np.add.at(sums[k], worker_of_answer, values)
    # 0.5 (uninformative) where a worker has no evidence at all: no answers and no smoothing.
    sensitivity = _ratio(sums[0] + smoothing, sums[1] + 2 * smoothing)
    specificity = _ratio(sums[2] + smoothing, sums[3] + 2 * smoothing)
    return prevalence, np.clip(sensitivity, 1e-6, 1 - 1e-6), np.clip(specificity, 1e-6, 1 - 1e-6)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(numerator.shape, 0.5), where=denominator > 0)


def _expect(prevalence, sensitivity, specificity, index, present, y):
    """E-step: posterior P(true) per person and category, computed in log space."""
    worker = np.where(present, index, 0)
    s = sensitivity[worker]  # (P, A, C)
    t = specificity[worker]
    log_true = np.where(present[:, :, None], y * np.log(s) + (1 - y) * np.log1p(-s), 0.0).sum(axis=1)
    log_false = np.where(present[:, :, None], (1 - y) * np.log(t) + y * np.log1p(-t), 0.0).sum(axis=1)
    log_true += np.log(prevalence)
    log_false += np.log1p(-prevalence)
    return 1 / (1 + np.exp(np.clip(log_false - log_true, -700, 700)))
