"""Test-wide setup: float64 JAX for the reference tests, one compilation cache.

x64 must be switched on before the first JAX array exists, so it happens here at import
time (pytest imports conftest.py before any test module). float32 simulations still run
in float32 because ``Heston.simulate`` takes the dtype explicitly.

Many CLI tests compile the same study in separate processes; a persistent compilation
cache shared by the session (a fresh temporary directory, inherited by the subprocesses
through ``JAX_COMPILATION_CACHE_DIR``) compiles each program once. A cached executable is
the same binary, so bitwise comparisons are unaffected.
"""

import atexit
import os
import shutil
import tempfile

import jax

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="alvh-test-jax-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_enable_x64", True)
