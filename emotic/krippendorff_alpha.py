"""Krippendorff's alpha, nominal and interval, with missing values.

Alpha suits crowd data because every person may be rated by a different
subset of workers: only *pairable* values count (units with at least two
values), and nothing assumes a fixed set of raters.

    alpha = 1 - D_o / D_e
          = 1 - (n - 1) * sum_u [ sum_{i != j in u} d(v_i, v_j) / (m_u - 1) ]
                         / sum_{i != j over all n pairable values} d(v_i, v_j)

with m_u the values in unit u, n the pairable values in all, and
d = [v_i != v_j] (nominal) or (v_i - v_j)^2 (interval). Source: K.
Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), and
Content Analysis, 3rd ed. (2013), ch. 12. Both sums have closed forms, so
the code below never builds pairs:

- nominal, from value counts n_uv:  sum_{i != j in u} = m_u^2 - sum_v n_uv^2
- interval, from sums S1 = sum v, S2 = sum v^2:  sum_{i != j} = 2 (m S2 - S1^2)

Layout: axis 0 = units (people), axis 1 = coders (annotator slots), any
trailing axes = independent batches (e.g. 26 categories or 3 VAD
dimensions), answered in one call. Alpha is NaN (undefined, 0/0) when fewer
than two pairable values exist or all pairable values are equal.
"""

from __future__ import annotations

import numpy as np

from emotic.annotation_arrays import AnnotationArrayError


def nominal_alpha(values: object) -> np.ndarray | float:
    """Alpha for nominal values of shape (units, coders, ...); NaN marks a missing value."""
    arr = _reliability_data(values)
    given = ~np.isnan(arr)
    domain = np.unique(arr[given])
    codes = np.searchsorted(domain, np.where(given, arr, domain[0] if domain.size else 0))
    one_hot = (codes[..., None] == np.arange(domain.size)) & given[..., None]
    return nominal_alpha_from_counts(np.moveaxis(one_hot.sum(axis=1), -1, 1))


def nominal_alpha_from_counts(counts: object) -> np.ndarray | float:
    """Nominal alpha from value counts of shape (units, values, ...): counts[u, v] coders gave unit u value v."""
    arr = np.asarray(counts, dtype=float)
    if arr.ndim < 2:
        raise AnnotationArrayError("counts", f"expected a (units, values, ...) array, got shape {arr.shape}")
    per_unit = arr.sum(axis=1)
    pairable = per_unit >= 2
    arr = np.where(pairable[:, None], arr, 0.0)
    per_unit = np.where(pairable, per_unit, 0.0)
    within = _divide(per_unit**2 - (arr**2).sum(axis=1), per_unit - 1).sum(axis=0)
    per_value = arr.sum(axis=0)
    n = per_value.sum(axis=0)
    expected = _divide(n**2 - (per_value**2).sum(axis=0), n - 1)
    return _alpha(within, expected, defined=expected > 0)


def interval_alpha(values: object) -> np.ndarray | float:
    """Alpha for interval values of shape (units, coders, ...); NaN marks a missing value."""
    arr = _reliability_data(values)
    given = ~np.isnan(arr)
    per_unit = given.sum(axis=1)
    pairable = given & (per_unit >= 2)[:, None]
    n = pairable.sum(axis=(0, 1))
    # Centring on the mean of the pairable values keeps S2 - S1^2/m free of cancellation.
    centre = _divide(np.where(pairable, arr, 0).sum(axis=(0, 1)), n)
    centred = np.where(pairable, arr - centre, 0.0)
    sums = centred.sum(axis=1)
    squares = (centred**2).sum(axis=1)
    m = pairable.sum(axis=1)
    within = _divide(m * squares - sums**2, m - 1).sum(axis=0)
    expected = _divide(n * squares.sum(axis=0) - sums.sum(axis=0) ** 2, n - 1)
    # Compared exactly, not through ``expected``, which rounding can leave a hair above 0.
    highest = np.where(pairable, arr, -np.inf).max(axis=(0, 1), initial=-np.inf)
    spread = highest > np.where(pairable, arr, np.inf).min(axis=(0, 1), initial=np.inf)
    return _alpha(within, expected, defined=spread)


def _reliability_data(values: object) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim < 2:
        raise AnnotationArrayError("values", f"expected a (units, coders, ...) array, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise AnnotationArrayError("values", "must be finite numbers, or NaN for a missing value")
    return arr


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (terms of units that do not count)."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.broadcast_to(np.asarray(denominator, dtype=float), numerator.shape)
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)


def _alpha(within: np.ndarray, expected: np.ndarray, defined: np.ndarray) -> np.ndarray | float:
    """1 - within / expected (both scaled alike); NaN where alpha is undefined."""
    alpha = np.where(defined, 1 - np.divide(within, np.where(defined, expected, 1)), np.nan)
    return float(alpha) if alpha.ndim == 0 else alpha
