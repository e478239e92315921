"""Closed-form distributions behind the drift sizing: chi-squared and noncentral chi-squared, pure Python.

The planner stays deterministic and free of scipy: the regularized incomplete gamma function (series and continued
fraction, Numerical Recipes 6.2), the noncentral chi-squared CDF as its Poisson mixture of central ones, and the
quantiles by bisection (stopped where a double cannot split the interval further). Quantiles and the power inverse
are memoised: features of the same type and binning share them within a design and across designs.
tests/test_monitoring_stats.py checks every function against scipy.stats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import lru_cache
from statistics import NormalDist

_EPS = 1e-15


def _gamma_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    ap = a
    for _ in range(100_000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x)."""
    if x <= 0:
        return 0.0
    if x < a + 1.0:
        return _gamma_series(a, x)
    return 1.0 - _gamma_fraction(a, x)


def chi2_cdf(x: float, df: float) -> float:
    return gamma_p(df / 2.0, x / 2.0)


def ncx2_cdf(x: float, df: float, nc: float) -> float:
    """Noncentral chi-squared CDF: sum over j of Poisson(j; nc/2) * P(df/2 + j, x/2)."""
    if nc <= 0:
        return chi2_cdf(x, df)
    if nc > 2000:  # the series would need ~sqrt(nc) terms of huge-df gammas: the normal limit is exact enough here
        return NormalDist(df + nc, math.sqrt(2 * (df + 2 * nc))).cdf(x)
    half = nc / 2.0
    centre = int(half)
    start = max(0, centre - 2000)
    xh = x / 2.0
    a = df / 2.0 + start
    p = gamma_p(a, xh)  # P(df/2 + j, x/2), stepped down by P(a + 1, y) = P(a, y) - y^a e^-y / Gamma(a + 1) (NR 6.2.7)
    log_xh = math.log(xh) if xh > 0 else -math.inf
    total = 0.0
    for j in range(start, centre + 2000):
        weight = math.exp(-half + j * math.log(half) - math.lgamma(j + 1))
        if weight < 1e-17 and j > centre:
            break
        total += weight * max(p, 0.0)
        p -= math.exp(a * log_xh - xh - math.lgamma(a + 1.0)) if xh > 0 else 0.0
        a += 1.0
    return min(1.0, total)


def _bisect(f: Callable[[float], bool], lo: float, hi: float, iterations: int = 200) -> float:  # f increasing
    for _ in range(iterations):
        if hi - lo <= 1e-13 * max(1.0, hi):  # as close as a double can tell the ends apart: stop
            break
        mid = (lo + hi) / 2.0
        if f(mid):
            hi = mid
        else:
            lo = mid
    return hi


@lru_cache(maxsize=1024)
def chi2_ppf(q: float, df: float) -> float:
    """x with chi2_cdf(x, df) = q."""
    hi = max(1.0, df)
    while chi2_cdf(hi, df) < q:
        hi *= 2.0
    return _bisect(lambda x: chi2_cdf(x, df) >= q, 0.0, hi)


@lru_cache(maxsize=1024)
def noncentrality_for_power(df: float, alpha: float, power: float) -> float:
    """Smallest noncentrality at which a chi-squared test at level alpha rejects with the given power."""
    critical = chi2_ppf(1.0 - alpha, df)
    hi = 1.0
    while 1.0 - ncx2_cdf(critical, df, hi) < power:
        hi *= 2.0
    return _bisect(lambda nc: 1.0 - ncx2_cdf(critical, df, nc) >= power, 0.0, hi, iterations=80)


@lru_cache(maxsize=1024)
def power_at(df: float, alpha: float, nc: float) -> float:
    return 1.0 - ncx2_cdf(chi2_ppf(1.0 - alpha, df), df, nc)


def z(q: float) -> float:
    return NormalDist().inv_cdf(q)


def ks_critical(alpha: float, n: int, m: int) -> float:
    """Two-sample Kolmogorov-Smirnov rejection level, asymptotic: c(alpha) * sqrt((n + m) / (n m))."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt((n + m) / (n * m))


def _binom_log_terms(n: int, p: float) -> Iterator[tuple[int, float]]:
    """(i, log P(X = i)) for X ~ Binomial(n, p), from 40 standard deviations below the mean (the terms before it are
    below e^-800 and add nothing to a double), by the ratio of consecutive terms: one log per step."""
    start = max(0, int(n * p - 40.0 * math.sqrt(n * p * (1.0 - p))) - 1)
    log_ratio = math.log(p) - math.log1p(-p)
    log_term = (math.lgamma(n + 1) - math.lgamma(start + 1) - math.lgamma(n - start + 1)
                + start * math.log(p) + (n - start) * math.log1p(-p))
    for i in range(start, n + 1):
        yield i, log_term
        if i < n:
            log_term += math.log((n - i) / (i + 1)) + log_ratio


def _binom_lower(n: int, p: float, alpha: float) -> tuple[int, float]:
    """Largest k with P(X < k) <= alpha for X ~ Binomial(n, p), and that probability."""
    total = 0.0
    for i, log_term in _binom_log_terms(n, p):
        term = math.exp(log_term)
        if total + term > alpha:
            return i, total
        total += term
    return n + 1, total


def binom_below(n: int, p: float, k: int) -> float:
    """P(X < k) for X ~ Binomial(n, p)."""
    total = 0.0
    for i, log_term in _binom_log_terms(n, p):
        if i >= k:
            break
        total += math.exp(log_term)
    return min(1.0, total)


def binomial_drop_test(p0: float, p1: float, alpha: float, power: float, start: int) -> tuple[int, int]:
    """Smallest n from 0.9 x start (the normal-approximation size) up, stepping by n/200, whose exact one-sided
    binomial test 'alarm when successes < k' has false-alarm rate <= alpha under p0 and the power under p1 < p0;
    returns (n, k)."""
    n = max(10, int(0.9 * start))
    while True:
        k, _ = _binom_lower(n, p0, alpha)
        if binom_below(n, p1, k) >= power:
            return n, k
        n += max(1, n // 200)
