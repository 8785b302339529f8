"""Annotator agreement on emotion answers: the figures EMOTIC's TPAMI paper reports.

Kosti et al., "Context based emotion recognition using EMOTIC dataset",
IEEE TPAMI 2019, section 3 (annotation agreement, on the validation split
with 5 annotators per person) reports:

- Fleiss' kappa computed *per person* over that person's 26 category
  decisions (each category is a subject rated "chosen"/"not chosen" by the
  person's annotators), shown as a distribution; the share of people with
  kappa above 0.30 summarises it (``person_kappa``).
- Agreement per category (``category_kappa``): each category separately,
  the subjects are the people and the two classes chosen/not chosen. Their
  mean over categories is the single figure our quality pages compare with
  the paper's "about 0.30".
- The standard deviation of the VAD values across a person's annotators,
  averaged over people: 1.04 (valence), 1.57 (arousal), 1.84 (dominance)
  (``vad_spread``).

Arrays follow ``emotic.annotation_arrays``. Undefined figures (fewer than
two annotators, or every rating in one class so chance agreement is 1) are
NaN, never an exception, and means skip them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotic.annotation_arrays import AnnotationArrayError, as_choices, as_vad
from emotic.krippendorff_alpha import interval_alpha, nominal_alpha_from_counts

TPAMI_KAPPA_THRESHOLD = 0.30


def fleiss_kappa(counts: object) -> np.ndarray | float:
    """Fleiss' kappa from a count table of shape (..., subjects, classes).

    ``counts[..., i, j]`` raters put subject i in class j; leading axes are
    independent tables answered at once. Subjects may have different numbers
    of raters m_i. Following Fleiss, Levin & Paik, Statistical Methods for
    Rates and Proportions, 3rd ed. (2003), ch. 18 (kappa with different
    numbers of ratings per subject):

        kappa = 1 - sum_i sum_j x_ij (m_i - x_ij) / m_i
                    / ( N (m_bar - 1) sum_j p_j (1 - p_j) )

    with N subjects, m_bar their mean number of ratings and p_j the pooled
    share of all ratings in class j. With equal m_i this is exactly Fleiss'
    (1971) kappa, the one ``statsmodels.stats.inter_rater.fleiss_kappa``
    computes. Subjects with fewer than two ratings say nothing about
    agreement and are left out first. NaN when no subject is left or all
    ratings fall in one class (chance agreement 1: kappa is 0/0).
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim < 2 or table.shape[-1] < 2:
        raise AnnotationArrayError("counts", f"expected a (..., subjects, classes>=2) table, got shape {table.shape}")
    if (table < 0).any() or (table != np.round(table)).any():
        raise AnnotationArrayError("counts", "must be non-negative whole numbers of ratings")
    raters = table.sum(axis=-1)
    rated = raters >= 2
    table = np.where(rated[..., None], table, 0.0)
    raters = np.where(rated, raters, 0.0)
    disagreement = _share(table * (raters[..., None] - table), raters[..., None]).sum(axis=(-2, -1))
    total = raters.sum(axis=-1)
    pooled = _share(table.sum(axis=-2), total[..., None])
    chance_disagreement = (total - rated.sum(axis=-1)) * (pooled * (1 - pooled)).sum(axis=-1)
    defined = chance_disagreement > 0
    kappa = np.where(defined, 1 - disagreement / np.where(defined, chance_disagreement, 1), np.nan)
    return float(kappa) if kappa.ndim == 0 else kappa


def category_kappa(choices: object, present: object) -> np.ndarray:
    """Fleiss' kappa per category (C,): subjects are people, classes chosen/not chosen.

    People may have different numbers of annotators (see ``fleiss_kappa``);
    people with one annotator are left out. NaN for a category no one (or
    every annotator of every person) chose.
    """
    chosen, raters = _chosen_counts(choices, present)
    table = np.stack([chosen, raters[:, None] - chosen], axis=-1)  # (P, C, 2)
    return fleiss_kappa(np.moveaxis(table, 1, 0))


def person_kappa(choices: object, present: object) -> np.ndarray:
    """Fleiss' kappa per person (P,), over the C category decisions, as TPAMI computes it.

    For person p, each category is a subject rated by the person's n_p
    annotators into chosen/not chosen; kappa compares their agreement with
    the chance level set by how many categories they chose overall. NaN for
    people with fewer than two annotators, or when every annotator chose
    every category or none.
    """
    chosen, raters = _chosen_counts(choices, present)
    return np.atleast_1d(fleiss_kappa(np.stack([chosen, raters[:, None] - chosen], axis=-1)))


def vad_spread(vad: object, ddof: int = 1) -> np.ndarray:
    """Standard deviation of each VAD dimension across a person's annotators, shape (P, 3).

    ``ddof=1`` (divide by n - 1) by default: the sample standard deviation,
    an unbiased variance estimate for the 3-5 annotators of a person and the
    default of MATLAB's ``std``, the tool of EMOTIC's era. The paper does not
    say which it used; ``ddof=0`` gives values sqrt((n-1)/n) times smaller
    (0.89x for 5 annotators). NaN where a person has n <= ddof values.
    """
    arr = as_vad(vad)
    if ddof < 0:
        raise AnnotationArrayError("ddof", f"must be 0 or more, got {ddof}")
    given = ~np.isnan(arr)
    n = given.sum(axis=1)
    mean = np.divide(np.where(given, arr, 0).sum(axis=1), n, out=np.zeros(n.shape), where=n > 0)
    squares = np.where(given, arr - mean[:, None, :], 0) ** 2
    defined = n > ddof
    variance = np.divide(squares.sum(axis=1), n - ddof, out=np.full(n.shape, np.nan), where=defined)
    return np.sqrt(variance)


def mean_vad_spread(vad: object, ddof: int = 1) -> np.ndarray:
    """The TPAMI figure: ``vad_spread`` averaged over people with two or more values, shape (3,).

    People with one answer are left out whatever ``ddof`` is: their spread
    of 0 (with ddof=0) says nothing about agreement.
    """
    arr = as_vad(vad)
    spread = vad_spread(arr, ddof)
    return nan_mean(np.where((~np.isnan(arr)).sum(axis=1) >= 2, spread, np.nan), axis=0)


def nan_mean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean over the defined (non-NaN) values; NaN, without a warning, when none is defined."""
    values = np.asarray(values, dtype=float)
    defined = ~np.isnan(values)
    count = defined.sum(axis=axis)
    total = np.where(defined, values, 0).sum(axis=axis)
    mean = np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)
    return float(mean) if mean.ndim == 0 else mean


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement figures for one set of multi-annotated people (e.g. the val split)."""

    people_compared: int  # people with two or more annotators
    category_kappa: np.ndarray  # (C,) Fleiss' kappa per category
    mean_category_kappa: float  # mean over categories with a defined kappa
    person_kappa: np.ndarray  # (P,) Fleiss' kappa per person over the categories
    mean_person_kappa: float
    share_people_above_threshold: float  # among people with a defined kappa
    kappa_threshold: float
    category_alpha: np.ndarray  # (C,) Krippendorff's alpha, nominal, per category
    pooled_category_alpha: float  # nominal alpha with every (person, category) as a unit
    vad_alpha: np.ndarray  # (3,) Krippendorff's alpha, interval, per VAD dimension
    vad_spread: np.ndarray  # (3,) mean standard deviation across annotators (ddof=1)


def agreement_summary(
    choices: object, present: object, vad: object, kappa_threshold: float = TPAMI_KAPPA_THRESHOLD
) -> AgreementSummary:
    """All agreement figures at once, in the form the quality pages show next to TPAMI's."""
    choices_arr, present_arr = as_choices(choices, present)
    vad_arr = as_vad(vad)
    if vad_arr.shape[:2] != present_arr.shape:
        raise AnnotationArrayError(
            "vad", f"expected shape {present_arr.shape + (3,)} to match present, got {vad_arr.shape}"
        )
    vad_arr = np.where(present_arr[:, :, None], vad_arr, np.nan)
    chosen, raters = _chosen_counts(choices_arr, present_arr)
    per_category = category_kappa(choices_arr, present_arr)
    per_person = person_kappa(choices_arr, present_arr)
    defined = ~np.isnan(per_person)
    table = np.stack([chosen, raters[:, None] - chosen], axis=1)  # (P, 2, C): units, values, batch
    return AgreementSummary(
        people_compared=int((raters >= 2).sum()),
        category_kappa=per_category,
        mean_category_kappa=nan_mean(per_category),
        person_kappa=per_person,
        mean_person_kappa=nan_mean(per_person),
        share_people_above_threshold=float((per_person[defined] > kappa_threshold).mean()) if defined.any() else np.nan,
        kappa_threshold=kappa_threshold,
        category_alpha=nominal_alpha_from_counts(table),
        pooled_category_alpha=nominal_alpha_from_counts(np.moveaxis(table, 2, 1).reshape(-1, 2)),
        vad_alpha=interval_alpha(vad_arr),
        vad_spread=mean_vad_spread(vad_arr),
    )


def _chosen_counts(choices: object, present: object) -> tuple[np.ndarray, np.ndarray]:
    """(P, C) annotators who chose each category, and (P,) annotators per person."""
    choices_arr, present_arr = as_choices(choices, present)
    return choices_arr.sum(axis=1).astype(float), present_arr.sum(axis=1).astype(float)


def _share(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (rows that were left out)."""
    denominator = np.broadcast_to(denominator, numerator.shape)
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)
