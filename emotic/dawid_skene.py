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
tables of shape (W, C) and (P, C); nothing loops over people or answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from emotic.annotation_arrays import AnnotationArrayError, as_choices, as_worker_index, count_workers


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
    index = as_worker_index(worker_index, choices)
    present = index >= 0
    votes, _ = as_choices(choices, present)
    for name, value, valid, rule in (
        ("max_iter", max_iter, max_iter >= 1, "at least 1"),
        ("tol", tol, tol > 0, "above 0"),
        ("smoothing", smoothing, smoothing >= 0, "0 or more"),
    ):
        if not valid:
            raise AnnotationArrayError(name, f"must be {rule}, got {value}")
    answers = _Answers(votes, index, count_workers(index, n_workers))
    answered = present.sum(axis=1)
    has_answers = answered > 0
    posterior = np.divide(  # the vote share: majority-vote soft labels
        votes.sum(axis=1), answered[:, None], out=np.full(answers.votes_shape, 0.5), where=has_answers[:, None]
    )
    converged = False
    for iteration in range(1, max_iter + 1):
        prevalence = np.clip(posterior[has_answers].mean(axis=0) if has_answers.any() else 0.5, 1e-6, 1 - 1e-6)
        sensitivity, specificity = answers.worker_rates(posterior, smoothing)
        updated = answers.posterior(prevalence, sensitivity, specificity)
        change = np.abs(updated - posterior).max(initial=0.0)
        posterior = updated
        if change < tol:
            converged = True
            break
    return DawidSkeneResult(posterior, posterior > 0.5, prevalence, sensitivity, specificity, iteration, converged)


class _Answers:
    """The K given answers, kept sparse: per-worker and per-person sums without (K, C) temporaries.

    Each answer chooses only a few of the C categories, so the chosen
    (answer, category) pairs are few; everything about the unchosen ones
    follows from per-worker totals. An EM iteration then costs two sparse
    products with K non-zeros and two ``bincount`` calls over the chosen
    pairs, instead of a dozen dense (K, C) arrays.
    """

    def __init__(self, votes: np.ndarray, index: np.ndarray, n_workers: int) -> None:
        present = index >= 0
        person, _ = np.nonzero(present)
        worker = index[present]
        n_people, n_categories = votes.shape[0], votes.shape[2]
        answer, category = np.nonzero(votes[present])  # the chosen (answer, category) pairs
        self.votes_shape = (n_people, n_categories)
        self.n_workers = n_workers
        self.person_worker = csr_matrix(
            (np.ones(len(worker)), (person, worker)), shape=(n_people, n_workers)
        )  # answers of person p by worker w (1, or more if the arrays repeat a worker)
        self.worker_person = self.person_worker.T.tocsr()
        self.chosen_at_person = person[answer] * n_categories + category  # flat (P, C) index
        self.chosen_at_worker = worker[answer] * n_categories + category  # flat (W, C) index
        self.answers_per_worker = np.bincount(worker, minlength=n_workers).astype(float)[:, None]
        self.chosen_per_worker = self._per_worker(None)

    def worker_rates(self, posterior: np.ndarray, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
        """M-step: sensitivity and specificity (W, C) from the soft labels, with pseudo-counts."""
        positives = self.worker_person @ posterior  # sum of T over each worker's answers
        hits = self._per_worker(posterior.ravel()[self.chosen_at_person])  # sum of T * y
        negatives = self.answers_per_worker - positives  # sum of (1 - T)
        # sum of (1 - T)(1 - y) = sum (1 - T) - sum (1 - T) y; clipped against rounding below 0.
        rejections = np.maximum(negatives - (self.chosen_per_worker - hits), 0.0)
        # 0.5 (uninformative) where a worker has no evidence at all: no answers and no smoothing.
        sensitivity = _ratio(hits + smoothing, positives + 2 * smoothing)
        specificity = _ratio(rejections + smoothing, negatives + 2 * smoothing)
        return np.clip(sensitivity, 1e-6, 1 - 1e-6), np.clip(specificity, 1e-6, 1 - 1e-6)

    def posterior(self, prevalence: np.ndarray, sensitivity: np.ndarray, specificity: np.ndarray) -> np.ndarray:
        """E-step: P(true) per person and category, from the log-odds summed over the person's answers."""
        # Log-likelihood ratio false:true of one answer, on the small (W, C) tables.
        unchosen = np.log(specificity) - np.log1p(-sensitivity)
        chosen = np.log1p(-specificity) - np.log(sensitivity)
        # Every answer counted as unchosen, then the chosen pairs corrected.
        correction = np.bincount(
            self.chosen_at_person,
            weights=(chosen - unchosen).ravel()[self.chosen_at_worker],
            minlength=self.votes_shape[0] * self.votes_shape[1],
        ).reshape(self.votes_shape)
        log_odds_false = self.person_worker @ unchosen + correction + (np.log1p(-prevalence) - np.log(prevalence))
        return 1 / (1 + np.exp(np.clip(log_odds_false, -700, 700)))

    def _per_worker(self, weights: np.ndarray | None) -> np.ndarray:
        """Sum ``weights`` (one per chosen pair; 1 when None) into a (W, C) table."""
        n_categories = self.votes_shape[1]
        return np.bincount(
            self.chosen_at_worker, weights=weights, minlength=self.n_workers * n_categories
        ).astype(float).reshape(self.n_workers, n_categories)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(numerator.shape, 0.5), where=denominator > 0)
