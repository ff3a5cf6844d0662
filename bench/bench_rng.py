"""Where a Heston QE path-step goes: random bits, normal transform, QE arithmetic, recording.

    python bench/bench_rng.py [--paths N] [--steps 252] [--rounds 5]

Every variant is compiled first, then all are timed in turns (``--rounds`` times, best
kept), so a busy shared machine slows them alike. Prints nanoseconds per path-step and
each variant's speed-up over the first one of its group, in wall time and in this
process's CPU time (steadier on a loaded machine; run it under ``taskset -c 0`` for one
core):

- ``bits``: two uniforms per path-step and nothing else (summed so nothing is dead code):
  JAX's own threefry2x32 primitive (the engine's generator before 0.4; on CPU JAX lowers it
  as a rolled loop), models._random's unrolled Threefry (bitwise the same numbers), Philox
  with two of its four words used per step, Philox with all four used over two steps;
- ``normals``: the same plus the transform to two normals: erfinv (the engine's), XLA's
  ndtri and Wichura's PPND7 rational form (AS 241, written here for the comparison);
- ``engine``: the engine's Heston QE kernel (models.heston, float32) with each generator
  (and once with PPND7 normals), recording every step and only the final state.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.extend.random import threefry2x32_p  # noqa: E402

import models  # noqa: E402
from models import _random as R  # noqa: E402
from models import heston as H  # noqa: E402

PARAMS = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7, "v0": 0.04}
U32 = jnp.uint32


def jax_threefry_bits(keys, step, stream):
    """Counter (step, stream) through JAX's threefry2x32 primitive (the pre-0.4 engine)."""
    k0, k1 = keys[:, 0], keys[:, 1]
    c0 = jnp.broadcast_to(jnp.asarray(step, U32), k0.shape)
    return threefry2x32_p.bind(k0, k1, c0, jnp.full(k0.shape, stream, U32))


def ppnd7(u):
    """Wichura's AS 241 PPND7 (about 1e-7 relative in exact arithmetic): central rational
    for |u - 1/2| <= 0.425, two tail rationals in r = sqrt(-log(min(u, 1 - u)))."""
    q = u - 0.5
    r = 0.180625 - q * q
    num = ((59.10937472 * r + 159.29113202) * r + 50.434271938) * r + 3.387132872
    den = ((67.1875636 * r + 78.757757664) * r + 17.895169469) * r + 1.0
    central = q * num / den
    rr = jnp.sqrt(-jnp.log(jnp.minimum(u, 1.0 - u)))
    a = rr - 1.6
    near = (((0.17023821103 * a + 1.3067284816) * a + 2.75681539) * a + 1.4234372777) / (
        (0.12021132975 * a + 0.7370016425) * a + 1.0
    )
    b = rr - 5.0
    far = (((0.017337203997 * b + 0.42868294337) * b + 3.0812263860) * b + 6.657904643) / (
        (0.012258202635 * b + 0.24197894225) * b + 1.0
    )
    tail = jnp.where(rr <= 5.0, near, far)
    return jnp.where(jnp.abs(q) <= 0.425, central, jnp.where(q < 0, -tail, tail))


def sum_loop(keys, n_steps, per_step, steps_per_iter=1):
    n = keys.shape[0]

    def body(t, acc):
        return acc + per_step(t.astype(U32))

    return jax.lax.fori_loop(0, n_steps // steps_per_iter, body, jnp.zeros(n, jnp.float32))


def bits_variants(keys, n_steps):
    u23 = R._u23

    def two(bits_fn, transform=lambda u: u):
        def step(t):
            b0, b1 = bits_fn(keys, t, 0)[:2]
            return transform(u23(b0)) + transform(u23(b1))

        return step

    def philox_four(t):
        return sum(u23(w) for w in R._philox_bits(keys, t, 0))

    erfinv, ndtri = R.inverse_normal, jax.scipy.special.ndtri
    tf, ph = R._threefry_bits, R._philox_bits
    return {
        "bits": {
            "jax threefry2x32_p (rolled on CPU)": (two(jax_threefry_bits), 1),
            "unrolled threefry (default)": (two(tf), 1),
            "philox, 2 of 4 words per step": (two(ph), 1),
            "philox, 4 words per 2 steps": (philox_four, 2),
        },
        "normals": {
            "unrolled threefry + erfinv (default)": (two(tf, erfinv), 1),
            "unrolled threefry + ndtri": (two(tf, ndtri), 1),
            "unrolled threefry + PPND7": (two(tf, ppnd7), 1),
            "jax threefry2x32_p + erfinv (pre-0.4)": (two(jax_threefry_bits, erfinv), 1),
        },
    }


def engine_fn(keys, n_steps, record_every, uniforms, inverse=None):
    """The models.heston QE kernel traced with ``uniforms`` in place of step_uniforms (and
    ``inverse`` in place of inverse_normal when given)."""
    model = models.Heston(**PARAMS)
    coef = H._coefficients(model._dynamics("Q", 0.02, 0.0), 1 / 252, jnp.float32)
    init = jnp.asarray([math.log(100.0), PARAMS["v0"]], jnp.float32)
    raw = H._simulate.__wrapped__
    saved = H.step_uniforms, H.inverse_normal
    H.step_uniforms = uniforms
    H.inverse_normal = inverse or saved[1]
    try:
        n_rec, dtype = n_steps // record_every, jnp.dtype("float32")

        def spot(k):
            return raw(k, init, coef, None, None, n_rec, record_every, "qe", dtype).spot

        return jax.jit(spot).lower(keys).compile()
    finally:
        H.step_uniforms, H.inverse_normal = saved


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=2**16)
    ap.add_argument("--steps", type=int, default=252)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    n, s = a.paths, a.steps
    keys = R.path_keys(jax.random.key(2024), 0, n)
    print(f"paths {n}, steps {s}, jax {jax.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()}")  # fmt: skip

    groups: dict[str, dict] = {}
    for group, variants in bits_variants(keys, s).items():
        groups[group] = {
            name: jax.jit(lambda k, f=f, m=m: sum_loop(k, s, f, m)).lower(keys).compile()
            for name, (f, m) in variants.items()
        }

    def old_uniforms(keys, step, dtype, stream=0):
        b0, b1 = jax_threefry_bits(keys, step, stream)
        return R._u23(b0), R._u23(b1)

    def gen_uniforms(gen):
        return lambda keys, step, dtype, stream=0: R.step_uniforms(
            keys, step, dtype, stream, generator=gen
        )

    for rec, label in ((1, "every step"), (s, "final only")):
        groups[f"engine QE float32, record {label}"] = {
            name: engine_fn(keys, s, rec, fn, inv)
            for name, fn, inv in (
                ("jax threefry2x32_p (pre-0.4)", old_uniforms, None),
                ("unrolled threefry (default)", gen_uniforms("threefry"), None),
                ("philox", gen_uniforms("philox"), None),
                ("unrolled threefry + PPND7 normals", gen_uniforms("threefry"), ppnd7),
            )
        }

    best = {g: dict.fromkeys(v, math.inf) for g, v in groups.items()}
    cpu = {g: dict.fromkeys(v, math.inf) for g, v in groups.items()}
    for _ in range(a.rounds):
        for g, variants in groups.items():
            for name, f in variants.items():
                t0, c0 = time.perf_counter(), time.process_time()
                jax.block_until_ready(f(keys))
                best[g][name] = min(best[g][name], time.perf_counter() - t0)
                cpu[g][name] = min(cpu[g][name], time.process_time() - c0)
    ps = n * s
    for g, times in best.items():
        print(f"\n[{g}]  wall: ns per path-step, path-steps/s, speed-up vs first row; "
              "CPU ns per path-step (all threads) and its speed-up")  # fmt: skip
        first, first_cpu = next(iter(times.values())), next(iter(cpu[g].values()))
        for name, t in times.items():
            c = cpu[g][name]
            print(f"  {name:<48} {t / ps * 1e9:7.2f} {ps / t:10.3g} {first / t:6.2f}x"
                  f"   cpu {c / ps * 1e9:7.2f} {first_cpu / c:6.2f}x")  # fmt: skip
    print(f"\nload average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
