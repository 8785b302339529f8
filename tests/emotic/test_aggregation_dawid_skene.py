"""Dawid-Skene EM: recovers true labels from good and bad workers better than majority vote."""

import numpy as np
import pytest

from emotic.aggregation import majority_categories
from emotic.annotation_arrays import AnnotationArrayError
from emotic.dawid_skene import dawid_skene


def simulate(seed, people=300, slots=5, workers=25, categories=26, good_workers=10, bad=(0.55, 0.55)):
    """Answers from `good_workers` reliable workers (sensitivity 0.9, specificity 0.95) and the rest poor."""
    rng = np.random.default_rng(seed)
    truth = rng.random((people, categories)) < rng.uniform(0.05, 0.3, size=categories)
    good = np.arange(workers) < good_workers
    sensitivity = np.where(good, 0.9, bad[0])
    specificity = np.where(good, 0.95, bad[1])
    worker_index = np.stack([rng.choice(workers, slots, replace=False) for _ in range(people)])
    draw = rng.random((people, slots, categories))
    chosen = np.where(
        truth[:, None, :],
        draw < sensitivity[worker_index][:, :, None],
        draw > specificity[worker_index][:, :, None],
    )
    return truth, chosen, worker_index, good


def test_recovers_truth_better_than_majority_vote():
    truth, chosen, worker_index, _ = simulate(seed=1)
    result = dawid_skene(chosen, worker_index)
    majority = majority_categories(chosen, worker_index >= 0)
    dawid_skene_accuracy = (result.labels == truth).mean()
    majority_accuracy = (majority == truth).mean()
    assert result.converged
    assert dawid_skene_accuracy > majority_accuracy + 0.03
    assert dawid_skene_accuracy > 0.93


def test_estimates_recover_the_workers_true_rates():
    # Plenty of answers per worker and almost no smoothing: estimates sit at the simulated 0.9/0.95 and 0.55/0.55.
    truth, chosen, worker_index, good = simulate(seed=2, people=1500, categories=4)
    result = dawid_skene(chosen, worker_index, smoothing=0.01, max_iter=500)
    assert result.sensitivity[good].mean() == pytest.approx(0.9, abs=0.03)
    assert result.specificity[good].mean() == pytest.approx(0.95, abs=0.03)
    assert result.sensitivity[~good].mean() == pytest.approx(0.55, abs=0.05)
    assert result.specificity[~good].mean() == pytest.approx(0.55, abs=0.05)
    np.testing.assert_allclose(result.prevalence, truth.mean(axis=0), atol=0.03)


def test_smoothing_pulls_rates_of_sparse_workers_towards_one_half():
    truth, chosen, worker_index, good = simulate(seed=2, people=100)
    loose = dawid_skene(chosen, worker_index, smoothing=0.01)
    smoothed = dawid_skene(chosen, worker_index, smoothing=5.0)
    assert (np.abs(smoothed.sensitivity - 0.5) <= np.abs(loose.sensitivity - 0.5) + 1e-9).mean() > 0.9


def test_an_adversarial_minority_is_turned_around():
    # Bad workers here answer the opposite of the truth most of the time (sensitivity 0.2, specificity 0.3).
    truth, chosen, worker_index, good = simulate(seed=3, good_workers=15, bad=(0.2, 0.3))
    result = dawid_skene(chosen, worker_index)
    assert (result.labels == truth).mean() > (majority_categories(chosen, worker_index >= 0) == truth).mean()
    assert result.sensitivity[~good].mean() < 0.4


def test_unanimous_answers_give_confident_posteriors():
    chosen = np.zeros((4, 3, 26), bool)
    chosen[:2, :, 0] = True
    chosen[2:, :, 1] = True
    worker_index = np.tile([0, 1, 2], (4, 1))
    result = dawid_skene(chosen, worker_index)
    assert result.labels[:2, 0].all() and not result.labels[2:, 0].any()
    assert result.labels[2:, 1].all() and not result.labels[:, 2:].any()
    assert (result.posterior[:2, 0] > 0.9).all()


def test_people_without_answers_get_the_prior_and_workers_without_answers_stay_neutral():
    truth, chosen, worker_index, _ = simulate(seed=4, people=60)
    worker_index[0] = -1
    result = dawid_skene(chosen, worker_index, n_workers=30)
    np.testing.assert_allclose(result.posterior[0], result.prevalence, atol=1e-12)
    np.testing.assert_allclose(result.sensitivity[25:], 0.5)
    np.testing.assert_allclose(result.specificity[25:], 0.5)


def test_answers_in_empty_slots_are_ignored():
    truth, chosen, worker_index, _ = simulate(seed=5, people=80)
    worker_index[:, -1] = -1
    padded = chosen.copy()
    padded[:, -1] = ~padded[:, -1]
    np.testing.assert_allclose(
        dawid_skene(chosen, worker_index).posterior, dawid_skene(padded, worker_index).posterior
    )


def test_stops_at_max_iter_without_claiming_convergence():
    truth, chosen, worker_index, _ = simulate(seed=6, people=80)
    result = dawid_skene(chosen, worker_index, max_iter=2)
    assert result.iterations == 2 and not result.converged


def test_worker_index_must_match_the_choices():
    with pytest.raises(AnnotationArrayError, match="worker_index"):
        dawid_skene(np.zeros((2, 3, 26), bool), np.zeros((2, 2), int))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"max_iter": 0}, "max_iter"),
        ({"tol": 0}, "tol"),
        ({"smoothing": -1}, "smoothing"),
        ({"n_workers": 2}, "n_workers"),
    ],
)
def test_bad_options_are_rejected(kwargs, field):
    chosen = np.zeros((2, 2, 26), bool)
    with pytest.raises(AnnotationArrayError, match=field):
        dawid_skene(chosen, np.array([[0, 1], [2, 3]]), **kwargs)


def reference_dawid_skene(chosen, worker_index, n_workers, iterations, smoothing):
    """The textbook EM written answer by answer in plain Python loops, to check the sparse arrays against."""
    people, slots, categories = chosen.shape
    answers = [(p, int(worker_index[p, a]), chosen[p, a]) for p in range(people) for a in range(slots) if worker_index[p, a] >= 0]
    counts = np.zeros(people)
    posterior = np.full((people, categories), 0.5)
    votes = np.zeros((people, categories))
    for p, _, y in answers:
        counts[p] += 1
        votes[p] += y
    posterior[counts > 0] = votes[counts > 0] / counts[counts > 0, None]
    for _ in range(iterations):
        prevalence = np.clip(posterior[counts > 0].mean(axis=0), 1e-6, 1 - 1e-6)
        tallies = np.zeros((n_workers, 4, categories))  # T*y, T, (1-T)(1-y), 1-T
        for p, w, y in answers:
            t = posterior[p]
            tallies[w] += [t * y, t, (1 - t) * (1 - y), 1 - t]
        rates = []
        for hits, total in ((tallies[:, 0], tallies[:, 1]), (tallies[:, 2], tallies[:, 3])):
            rate = np.full(hits.shape, 0.5)  # a worker without answers (worker 9) stays uninformative
            np.divide(hits + smoothing, total + 2 * smoothing, out=rate, where=total + 2 * smoothing > 0)
            rates.append(np.clip(rate, 1e-6, 1 - 1e-6))
        sensitivity, specificity = rates
        log_true = np.tile(np.log(prevalence), (people, 1))
        log_false = np.tile(np.log1p(-prevalence), (people, 1))
        for p, w, y in answers:
            log_true[p] += np.where(y, np.log(sensitivity[w]), np.log1p(-sensitivity[w]))
            log_false[p] += np.where(y, np.log1p(-specificity[w]), np.log(specificity[w]))
        posterior = 1 / (1 + np.exp(log_false - log_true))
    return posterior, sensitivity, specificity


@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_matches_the_textbook_em_written_answer_by_answer(smoothing):
    _, chosen, worker_index, _ = simulate(seed=7, people=60, slots=4, workers=9, categories=5)
    worker_index[::7, 3] = -1  # some people with fewer answers
    worker_index[5] = -1  # and one with none
    result = dawid_skene(chosen, worker_index, n_workers=10, max_iter=6, tol=1e-15, smoothing=smoothing)
    posterior, sensitivity, specificity = reference_dawid_skene(chosen, worker_index, 10, 6, smoothing)
    assert result.iterations == 6
    np.testing.assert_allclose(result.posterior, posterior, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.sensitivity, sensitivity, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.specificity, specificity, rtol=0, atol=1e-10)
