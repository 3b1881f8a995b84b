"""USL fitting: known parameters come back from synthetic throughput; too little data gives no fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loadgen.report.model.usl import fit_usl, usl_throughput

CLIENTS = [1, 2, 4, 6, 8, 12, 16, 24, 32]


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"), [(1.0, 0.05, 0.002), (0.9, 0.2, 0.0005), (2.5, 0.01, 0.01)]
)
def test_recovers_known_parameters_from_noisy_throughput(lam, sigma, kappa):
    rng = np.random.default_rng(7)
    clean = usl_throughput(CLIENTS, lam, sigma, kappa)
    fit = fit_usl(CLIENTS, clean * (1 + rng.normal(0, 0.01, len(CLIENTS))))
    assert fit is not None
    assert fit.lam == pytest.approx(lam, rel=0.05)
    assert fit.sigma == pytest.approx(sigma, abs=0.02)
    assert fit.kappa == pytest.approx(kappa, rel=0.25, abs=2e-4)
    assert fit.peak_clients == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=0.15)
    assert fit.r2 > 0.99 and fit.points == len(CLIENTS)


def test_peak_is_the_maximum_of_the_fitted_curve():
    fit = fit_usl(CLIENTS, usl_throughput(CLIENTS, 1.0, 0.05, 0.004))
    assert fit is not None and fit.peak_clients is not None and fit.peak_throughput is not None
    grid = np.linspace(1, 60, 5000)
    assert fit.peak_throughput == pytest.approx(
        usl_throughput(grid, fit.lam, fit.sigma, fit.kappa).max(), rel=1e-4
    )


def test_linear_scaling_has_no_peak():
    fit = fit_usl(CLIENTS, [2.0 * n for n in CLIENTS])
    assert fit is not None
    assert fit.lam == pytest.approx(2.0, rel=1e-3) and fit.sigma < 1e-3
    assert fit.peak_clients is None or fit.peak_clients > 10 * max(CLIENTS)


def test_bounds_hold_even_for_data_that_wants_negative_contention():
    fit = fit_usl([1, 2, 3, 4], [1.0, 2.2, 3.6, 5.2])  # superlinear
    assert fit is not None and fit.sigma >= 0 and fit.kappa >= 0


@pytest.mark.parametrize(
    ("clients", "throughput"),
    [([], []), ([1, 2], [1.0, 1.9]), ([4, 4, 4], [3.0, 3.1, 2.9]), ([1, 2, 4], [0.0, 0.0, 0.0])],
)
def test_too_few_distinct_points_or_no_throughput_gives_none(clients, throughput):
    assert fit_usl(clients, throughput) is None


def test_non_finite_points_are_dropped():
    clean = list(usl_throughput(CLIENTS, 1.0, 0.05, 0.002))
    fit = fit_usl([*CLIENTS, 40], [*clean, math.nan])
    assert fit is not None and fit.points == len(CLIENTS)


def test_noise_lowers_r2():
    rng = np.random.default_rng(3)
    clean = usl_throughput(CLIENTS, 1.0, 0.05, 0.002)
    noisy = fit_usl(CLIENTS, clean * (1 + rng.normal(0, 0.15, len(CLIENTS))))
    exact = fit_usl(CLIENTS, clean)
    assert noisy is not None and exact is not None
    assert exact.r2 > noisy.r2
