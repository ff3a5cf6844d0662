"""Market models and pricing: pure functions and frozen parameter objects, no IO, no config."""

from models.bates import Bates
from models.heston import SCHEMES, Heston, Paths, Premia
from models.pricing.black import black76, black_scholes, implied_vol
from models.rbergomi import RoughBergomi
from models.svcj import SVCJ

__all__ = [
    "SCHEMES",
    "SVCJ",
    "Bates",
    "Heston",
    "Paths",
    "Premia",
    "RoughBergomi",
    "black76",
    "black_scholes",
    "implied_vol",
]
