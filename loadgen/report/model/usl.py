"""The Universal Scalability Law fitted to goodput (or any throughput) vs clients. Pure.

X(N) = lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1)): lambda is the throughput of one client, sigma the
contention (serialised share), kappa the coherency cost (crosstalk). With kappa > 0 throughput peaks at
N* = sqrt((1 - sigma) / kappa).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS = 3  # three parameters need three distinct client counts
LAMBDA, SIGMA, KAPPA = (
    "\N{GREEK SMALL LETTER LAMDA}",
    "\N{GREEK SMALL LETTER SIGMA}",
    "\N{GREEK SMALL LETTER KAPPA}",
)


@dataclass(frozen=True)
class UslFit:
    """Fitted USL parameters, the predicted peak and the goodness of fit."""

    lam: float
    sigma: float
    kappa: float
    peak_clients: float | None  # N*; None when kappa = 0 (throughput never turns down)
    peak_throughput: float | None  # X(N*); None when kappa = 0
    r2: float
    points: int
    largest_clients: float  # the largest client count measured

    @property
    def extrapolated(self) -> bool:
        """The peak lies beyond the largest measured step: a guess of the model, not a measurement."""
        return self.peak_clients is not None and self.peak_clients > self.largest_clients

    def parameters(self) -> str:
        """The fitted parameters and R² in one line, with their Greek names."""
        fitted = f"{LAMBDA} = {self.lam:.3f}, {SIGMA} = {self.sigma:.3f}, {KAPPA} = {self.kappa:.4f}"
        return f"{fitted}, R² = {self.r2:.3f}"


def usl_throughput(n: ArrayLike, lam: float, sigma: float, kappa: float) -> NDArray[np.float64]:
    """X(N) of the Universal Scalability Law."""
    n = np.asarray(n, dtype=np.float64)
    return np.asarray(lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1)), dtype=np.float64)


def fit_usl(clients: Sequence[float], throughput: Sequence[float]) -> UslFit | None:
    """Fit lambda > 0, 0 <= sigma <= 1, kappa >= 0 by least squares.

    None with fewer than 3 distinct client counts, no positive throughput, or a fit that does not converge.
    """
    n, x = _finite_pairs(clients, throughput)
    if len(np.unique(n)) < MIN_POINTS or not np.any(x > 0):
        return None
    lam0 = float(np.max(x[n == n.min()] / n.min())) or float(np.max(x / n))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)  # 3 points: no covariance, not needed
            params, _ = curve_fit(
                usl_throughput,
                n,
                x,
                p0=(lam0, 0.01, 0.001),
                bounds=((1e-12, 0.0, 0.0), (np.inf, 1.0, np.inf)),
                maxfev=20000,
            )
    except (RuntimeError, ValueError):
        return None
    lam, sigma, kappa = (float(p) for p in params)
    peak_n = math.sqrt((1 - sigma) / kappa) if kappa > 0 else None
    peak_x = float(usl_throughput(peak_n, lam, sigma, kappa)) if peak_n is not None else None
    r2 = _r2(x, usl_throughput(n, lam, sigma, kappa))
    return UslFit(lam, sigma, kappa, peak_n, peak_x, r2, len(n), float(n.max()))


def _finite_pairs(
    xs: Sequence[float], ys: Sequence[float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(xs, dtype=np.float64)
    b = np.asarray(ys, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0)
    return a[keep], b[keep]


def _r2(observed: NDArray[np.float64], predicted: NDArray[np.float64]) -> float:
    total = float(np.sum((observed - observed.mean()) ** 2))
    residual = float(np.sum((observed - predicted) ** 2))
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)
