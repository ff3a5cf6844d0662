"""Market models and pricing: pure functions and frozen parameter objects, no IO, no config."""

from models.base import PathModel, Paths, Premia
from models.bates import Bates
from models.bergomi import Bergomi2F
from models.calibration import PFacts, PFit, QFit, QQuotes, fit_p, fit_q, p_facts
from models.heston import SCHEMES, Heston
from models.pricing.black import black76, black_scholes, implied_vol
from models.rbergomi import RoughBergomi
from models.svcj import SVCJ

__all__ = [
    "SCHEMES",
    "SVCJ",
    "Bates",
    "Bergomi2F",
    "Heston",
    "PFacts",
    "PFit",
    "PathModel",
    "Paths",
    "Premia",
    "QFit",
    "QQuotes",
    "RoughBergomi",
    "black76",
    "black_scholes",
    "fit_p",
    "fit_q",
    "implied_vol",
    "p_facts",
]
