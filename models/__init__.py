"""Market models and pricing: pure functions and frozen parameter objects, no IO, no config."""

from models.bates import Bates
from models.heston import SCHEMES, Heston, Paths, Premia
from models.pricing.black import black76, black_scholes, implied_vol

__all__ = [
    "SCHEMES",
    "Bates",
    "Heston",
    "Paths",
    "Premia",
    "black76",
    "black_scholes",
    "implied_vol",
]
