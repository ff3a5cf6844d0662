"""Test-wide setup: float64 JAX for the reference tests.

x64 must be switched on before the first JAX array exists, so it happens here at import
time (pytest imports conftest.py before any test module). float32 simulations still run
in float32 because ``Heston.simulate`` takes the dtype explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)
