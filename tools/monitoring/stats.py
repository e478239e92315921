"""Closed-form distributions behind the drift sizing: chi-squared and noncentral chi-squared, pure Python.

The planner stays deterministic and free of scipy: the regularized incomplete gamma function (series and continued
fraction, Numerical Recipes 6.2), the noncentral chi-squared CDF as its Poisson mixture of central ones, and the
quantiles by bisection (stopped where a double cannot split the interval further). Quantiles and the power inverse
are memoised: features of the same type and binning share them within a design and across designs.
tests/test_monitoring_stats.py checks every function against scipy.stats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


def _binom_pmf(n: int, p: float, i: int) -> float:
    return math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                    + i * math.log(p) + (n - i) * math.log1p(-p))


def _tail_up_to_mode(n: int, p: float, k: int) -> float:
    """P(X < k) for k - 1 at or below the mode, summed from k - 1 downwards by the ratio of consecutive terms: each
    ratio is smaller than the last, so the terms left sum to under term x r / (1 - r); stop once that cannot change
    the double (about ten standard deviations of terms instead of the whole tail)."""
    odds = (1.0 - p) / p
    i, term, total = k - 1, _binom_pmf(n, p, k - 1), 0.0
    while True:
        total += term
        if i == 0:
            return total
        ratio = i / (n - i + 1) * odds
        if term * ratio <= total * (1.0 - ratio) * 2.0**-60:
            return total
        term *= ratio
        i -= 1


def binom_below(n: int, p: float, k: int) -> float:
    """P(X < k) for X ~ Binomial(n, p); above the mode as 1 - P(n - X < n - k + 1), the other tail."""
    if k <= 0:
        return 0.0
    if k > n:
        return 1.0
    if k - 1 <= math.floor((n + 1) * p):
        return min(1.0, _tail_up_to_mode(n, p, k))
    return max(0.0, 1.0 - _tail_up_to_mode(n, 1.0 - p, n - k + 1))


def _binom_lower(n: int, p: float, alpha: float) -> tuple[int, float]:
    """Largest k with P(X < k) <= alpha for X ~ Binomial(n, p), and that probability: from the normal quantile,
    stepped by one term at a time."""
    sd = math.sqrt(n * p * (1.0 - p))
    k = min(n + 1, max(0, math.floor(n * p + z(alpha) * sd + 0.5)))
    below = binom_below(n, p, k)
    while below > alpha:
        k -= 1
        below = binom_below(n, p, k)
    while k <= n:
        step = below + _binom_pmf(n, p, k)
        if step > alpha:
            break
        k, below = k + 1, step
    return k, below


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
