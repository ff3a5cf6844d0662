"""Shared data of the sleeve tests (test_alvh, test_condor): the hand-made Heston model, its
mark tables and hand-built deterministic paths."""

from __future__ import annotations

import functools

import numpy as np

from models import Heston
from models.pricing import tables
from models.pricing.vix import vix_affine_coefficients

MODEL = Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7, v0=0.04)


@functools.cache
def spx_table(max_days: int = 40):
    return tables.cast_table(tables.build_spx_table(MODEL, max_days, 0.0, 0.0), np.float64)


@functools.cache
def vix_table(max_days: int = 80):
    return tables.cast_table(tables.build_vix_table(MODEL, max_days, 0.0), np.float64)


def var_for_vix(vix) -> np.ndarray:
    """The variance state whose model VIX (vol points) is ``vix``."""
    a, b = vix_affine_coefficients(MODEL.kappa, MODEL.theta)
    return ((np.asarray(vix, np.float64) / 100.0) ** 2 - b) / a


def column(values) -> np.ndarray:
    """A (D+1, 1) float64 path from a list of daily values."""
    return np.asarray(values, np.float64)[:, None]
