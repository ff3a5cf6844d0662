"""Streaming summaries: statistics of per-path outputs without keeping every path.

With ``output.per_path=false`` (or ``auto`` above :data:`AUTO_LIMIT` path x grid points)
the engine hands each chunk's per-path outputs to :class:`StreamStats` and drops them;
host memory is then bounded by the chunk plus the retained tails, not by ``sim.paths``.

What is kept per variable and grid point, and how exact it is:

- count, mean and variance by Chan et al.'s pairwise merge of chunk moments (float64):
  mean, sd and the SE of the mean are those of the full sample up to summation order
  (relative differences ~1e-12);
- the ``k = ceil(tail * n) + 1`` smallest and largest values exactly (``tail`` = 10%):
  quantiles at 1%, 5%, 95%, 99%, VaR and ES at 95% and 99% (the definitions of
  :mod:`simulator.metrics`: VaR the lower empirical quantile ``L_(ceil(n a))`` of the losses
  ``L = -x``; ES = VaR + mean((L - VaR)^+)/(1 - a)) and the ES standard error (the sd of the
  ES influence values, which vanish outside the tail) are therefore exact;
- a deterministic 1-in-m subsample of paths (global index multiple of m, at most
  :data:`SUBSAMPLE` values) only for the interquartile range in Silverman's bandwidth of
  the kernel density behind the VaR/quantile SEs; the density itself uses the exact tail
  points within 8 bandwidths of the quantile. The VaR SE is thus a KDE estimate like the
  full-sample one, with a bandwidth that differs by the subsample's IQR error (about
  ``1/sqrt(SUBSAMPLE)`` relative, ~0.3%, and only when the IQR term is the smaller one).
  ``tail_ok`` is 0 where the retained tail does not reach 8 bandwidths past a reported
  quantile (the density then misses points): those SEs are NaN, never silently wrong.

Nothing here imports JAX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AUTO_LIMIT", "STATS", "SUBSAMPLE", "TAIL", "StreamStats", "keep_per_path"]

TAIL = 0.10
"""Share of paths retained exactly in each tail: the 95% and 99% levels plus room for the
kernel window of their SEs (8 bandwidths, ~3.5% of paths at 1e7 paths)."""
SUBSAMPLE = 100_000
"""At most this many paths (every m-th) kept for the bandwidth's interquartile range."""
AUTO_LIMIT = 2_000_000
"""``output.per_path=auto`` keeps per-path outputs up to this many path x grid points."""

LEVELS = (0.95, 0.99)
QUANTILES = (0.01, 0.05, 0.95, 0.99)
STATS = (
    "n", "mean", "mean_se", "sd", "min", "max",
    *(f"p{round(100 * q):02d}" for q in QUANTILES),
    *(f"p{round(100 * q):02d}_se" for q in QUANTILES),
    "var95", "var95_se", "es95", "es95_se", "var99", "var99_se", "es99", "es99_se",
    "p_below_0", "tail_ok",
)  # fmt: skip
"""Statistics of every streamed variable; var*/es* are losses of L = -x (for P&L)."""


def keep_per_path(setting: str | bool, paths: int, grid_points: int) -> bool:
    """Whether per-path outputs are kept: ``true``/``false``, or ``auto`` below the limit."""
    if setting in (True, "true"):
        return True
    if setting in (False, "false"):
        return False
    return paths * max(grid_points, 1) <= AUTO_LIMIT


@dataclass
class _Acc:
    """Running state of one variable: arrays over its leading (grid, ...) axes."""

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    below0: np.ndarray
    lo: np.ndarray  # (*lead, <=k) smallest values seen (unsorted)
    hi: np.ndarray  # (*lead, <=k) largest values seen (unsorted)
    sub: list = field(default_factory=list)
    pending: list = field(default_factory=list)  # chunks not yet merged into lo/hi
    n_pending: int = 0


NOT_STREAMED = frozenset({"layer_first_buy"})
"""Per-path variables without streamed statistics (-1 marks 'never': not a sample)."""


class StreamStats:
    """Accumulates chunks of per-path outputs (path axis last) for ``total`` paths."""

    def __init__(self, total: int, tail: float = TAIL, subsample: int = SUBSAMPLE) -> None:
        self.total = int(total)
        self.k = min(self.total, math.ceil(tail * self.total) + 1)
        self.every = max(1, math.ceil(self.total / subsample))
        self.acc: dict[str, _Acc] = {}

    def update(self, name: str, values: np.ndarray, start: int) -> None:
        """Add paths ``start .. start + n - 1`` of variable ``name`` (shape (*lead, n));
        variables in :data:`NOT_STREAMED` are ignored."""
        if name in NOT_STREAMED:
            return
        raw = np.asarray(values)
        if raw.dtype.kind != "f":
            raw = raw.astype(np.float64)
        x = raw.astype(np.float64, copy=False)  # moments in float64
        n = x.shape[-1]
        if n == 0:
            return
        cn = np.full(x.shape[:-1], float(n))
        cmean = x.mean(axis=-1)
        cm2 = ((x - cmean[..., None]) ** 2).sum(axis=-1)
        below = (x < 0).sum(axis=-1).astype(np.float64)
        first = (-start) % self.every
        sub = x[..., first :: self.every].copy()  # a copy: a view would keep the chunk
        a = self.acc.get(name)
        if a is None:
            empty = np.empty((*x.shape[:-1], 0), raw.dtype)
            self.acc[name] = a = _Acc(cn, cmean, cm2, below, empty, empty, [sub])
            a.pending, a.n_pending = [raw.copy()], n  # tails in the input's dtype (exact)
            self._compact(a, force=False)
            return
        tot = a.n + cn
        delta = cmean - a.mean
        a.mean = a.mean + delta * cn / tot
        a.m2 = a.m2 + cm2 + delta**2 * a.n * cn / tot
        a.n = tot
        a.below0 = a.below0 + below
        a.pending.append(raw.copy())
        a.n_pending += n
        a.sub.append(sub)
        self._compact(a, force=False)

    def _compact(self, a: _Acc, force: bool) -> None:
        """Merge pending chunks into the tails once they hold >= k values (amortised
        O(paths) work in all) or when ``force``."""
        if not a.pending or (not force and a.n_pending < self.k):
            return
        both = np.concatenate([a.lo, *a.pending], axis=-1)
        a.lo = self._keep(both, low=True)
        both = np.concatenate([a.hi, *a.pending], axis=-1)
        a.hi = self._keep(both, low=False)
        a.pending, a.n_pending = [], 0

    def _keep(self, x: np.ndarray, low: bool) -> np.ndarray:
        k = self.k
        if x.shape[-1] <= k:
            return x
        if low:
            return np.partition(x, k - 1, axis=-1)[..., :k].copy()  # copy: free the rest
        return np.partition(x, x.shape[-1] - k, axis=-1)[..., -k:].copy()

    # ---------------------------------------------------------------------- results

    def result(self, name: str) -> np.ndarray:
        """``(*lead, len(STATS))`` statistics of one variable (see :data:`STATS`)."""
        a = self.acc[name]
        self._compact(a, force=True)
        a.lo = np.sort(a.lo.astype(np.float64), axis=-1)
        a.hi = np.sort(a.hi.astype(np.float64), axis=-1)
        n = a.n
        var = np.where(n > 1, a.m2 / np.maximum(n - 1, 1), np.nan)
        sd = np.sqrt(var)
        sub = np.sort(np.concatenate(a.sub, axis=-1), axis=-1)
        m = sub.shape[-1]
        # Silverman's bandwidth as in simulator.metrics, for x and for the losses L = -x
        # (lower empirical quartiles are not symmetric under negation).
        q25, q75 = sub[..., math.ceil(0.25 * m) - 1], sub[..., math.ceil(0.75 * m) - 1]
        l25, l75 = -sub[..., m - math.ceil(0.25 * m)], -sub[..., m - math.ceil(0.75 * m)]
        h, h_loss = (
            0.9 * np.where(iqr > 0, np.fmin(sd, iqr), sd) * n**-0.2  # 0 if constant: SE NaN
            for iqr in ((q75 - q25) / 1.349, (l75 - l25) / 1.349)
        )
        out = {
            "n": n, "mean": a.mean, "mean_se": sd / np.sqrt(n), "sd": sd,
            "min": a.lo[..., 0], "max": a.hi[..., -1], "p_below_0": a.below0 / n,
        }  # fmt: skip
        ok = np.ones(n.shape, bool)
        for q in QUANTILES:
            v, se, good = self._quantile(a, n, q, h)
            tag = f"p{round(100 * q):02d}"
            out[tag], out[tag + "_se"] = v, se
            ok &= good
        for lev in LEVELS:  # losses L = -x: the upper tail of L is the lower tail of x
            q = 1.0 - lev
            # VaR = L_(ceil(n a)) = -(x sorted descending)_(ceil(n a)) = -x_(n - ceil(n a) + 1)
            idx = n - np.ceil(n * lev - 8.0 * np.finfo(np.float64).eps * n) + 1
            v = -self._order(a, n, idx)
            _, se, good = self._quantile(a, n, q, h_loss, value=-v)
            L = -a.lo  # the k largest losses (and more: all losses above VaR are among them)
            excess = np.maximum(L - v[..., None], 0.0)
            s1 = excess.sum(axis=-1)
            s2 = (excess**2).sum(axis=-1)
            es = v + s1 / (n * (1 - lev))
            # influence values psi = VaR + excess/(1-a); their sample variance from sums
            e1, e2 = s1 / (1 - lev), s2 / (1 - lev) ** 2
            psi_var = (e2 - e1**2 / n) / np.maximum(n - 1, 1)
            tag = f"{round(100 * lev)}"
            out[f"var{tag}"], out[f"var{tag}_se"] = v, se
            out[f"es{tag}"], out[f"es{tag}_se"] = es, np.sqrt(np.maximum(psi_var, 0.0) / n)
            ok &= good
        out["tail_ok"] = ok.astype(np.float64)
        return np.stack([np.broadcast_to(out[s], n.shape) for s in STATS], axis=-1)

    def _order(self, a: _Acc, n: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """x_(idx) (1-based, ascending) from the retained tails; NaN if not retained."""
        lo_i = idx - 1
        hi_i = a.hi.shape[-1] - (n - idx) - 1
        from_lo = np.take_along_axis(
            a.lo, np.clip(lo_i, 0, a.lo.shape[-1] - 1).astype(np.int64)[..., None], -1
        )[..., 0]
        from_hi = np.take_along_axis(
            a.hi, np.clip(hi_i, 0, a.hi.shape[-1] - 1).astype(np.int64)[..., None], -1
        )[..., 0]
        return np.where(lo_i < a.lo.shape[-1], from_lo, np.where(hi_i >= 0, from_hi, np.nan))

    def _quantile(self, a: _Acc, n, q, h, value=None):
        """Lower empirical q-quantile of x, its KDE-based SE and whether the tail covered
        the kernel window (8 bandwidths) around it."""
        if value is None:
            idx = np.ceil(n * q - 8.0 * np.finfo(np.float64).eps * n)
            value = self._order(a, n, np.maximum(idx, 1))
        side = a.lo if q < 0.5 else a.hi
        reach = (
            (a.lo[..., -1] >= value + 8 * h) if q < 0.5 else (a.hi[..., 0] <= value - 8 * h)
        ) | (a.lo.shape[-1] >= n)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = (value[..., None] - side) / h[..., None]
            dens = np.where(np.abs(z) <= 8.0, np.exp(-0.5 * z * z), 0.0).sum(axis=-1)
            dens = dens / (n * h * math.sqrt(2 * math.pi))
            se = np.sqrt(q * (1 - q) / n) / dens
        return value, np.where(reach & np.isfinite(se), se, np.nan), reach


# ------------------------------------------------------------------------------ dataset

SUMMARY_ROWS = {
    # summary metric: (variable, stat, se stat or None, sign)
    "mean": ("pnl", "mean", "mean_se", 1.0),
    "sd": ("pnl", "sd", None, 1.0),
    "var95": ("pnl", "var95", "var95_se", 1.0),
    "es95": ("pnl", "es95", "es95_se", 1.0),
    "var99": ("pnl", "var99", "var99_se", 1.0),
    "es99": ("pnl", "es99", "es99_se", 1.0),
    "mdd_mean": ("max_drawdown", "mean", "mean_se", 1.0),
    "mdd_p95": ("max_drawdown", "p95", "p95_se", 1.0),
    "mdd_p99": ("max_drawdown", "p99", "p99_se", 1.0),
    "hedge_cost": ("pnl_hedge", "mean", "mean_se", -1.0),
    "condor_credit": ("condor_credit", "mean", "mean_se", 1.0),
    "es99_unhedged": ("pnl_condor", "es99", "es99_se", 1.0),
}
"""The rows of ``summary`` that streaming reproduces (same names and meaning as
simulator.metrics.summarize; paired differences and drawdown medians need every path)."""


def add_stats(ds, stream: StreamStats, grid_dims=None, grid_valid=None, extra_dims=None):
    """``ds`` plus ``<name>_stats(grid..., extra..., stat)`` for every streamed variable and,
    when ``pnl`` was streamed, ``summary``/``summary_se`` with the rows of
    :data:`SUMMARY_ROWS`. Invalid grid points are NaN."""
    import xarray as xr

    grid_dims = list(grid_dims or [])
    gshape = tuple(len(v) for _, v in grid_dims)
    gnames = tuple(name for name, _ in grid_dims)
    extra_dims = dict(extra_dims or {})
    out = ds.copy()
    stats: dict[str, xr.DataArray] = {}
    for name in stream.acc:
        r = stream.result(name)
        extra = (extra_dims[name],) if name in extra_dims else ()
        if r.ndim - 1 == len(extra):  # not on the hedge grid
            dims = (*extra, "stat")
        else:
            if grid_valid is not None:
                valid = np.asarray(grid_valid).reshape((-1,) + (1,) * (r.ndim - 1))
                r = np.where(valid, r, np.nan)
            r = r.reshape(*gshape, *r.shape[1:])
            dims = (*gnames, *extra, "stat")
        da = xr.DataArray(r, dims=dims, coords={"stat": np.array(STATS, dtype=str)})
        da.attrs["long_name"] = (
            f"streamed statistics of {name} over paths (see the stat coordinate; "
            "var*/es* are losses of -x, p* lower empirical quantiles)"
        )
        stats[name] = da
        out[f"{name}_stats"] = da
    out = out.assign_coords(stat=np.array(STATS, dtype=str))
    for name, values in grid_dims:
        out = out.assign_coords({name: np.asarray(values, np.float64)})
    if "pnl" in stats:
        rows, ses, names = [], [], []
        for metric, (var, stat, se_stat, sign) in SUMMARY_ROWS.items():
            if var not in stats:
                continue
            da = stats[var]
            rows.append(sign * da.sel(stat=stat, drop=True))
            ses.append(
                da.sel(stat=se_stat, drop=True) if se_stat else xr.full_like(rows[-1], np.nan)
            )
            names.append(metric)
        p = stats["pnl"].sel(stat="p_below_0", drop=True)
        n = stats["pnl"].sel(stat="n", drop=True)
        rows.append(p)
        ses.append(np.sqrt(p * (1 - p) / n))
        names.append("p_loss")
        metric = xr.DataArray(np.array(names, dtype=str), dims="metric")
        out["summary"] = xr.concat(rows, dim=metric, coords="minimal", join="outer")
        out["summary_se"] = xr.concat(ses, dim=metric, coords="minimal", join="outer")
        out["summary"] = out["summary"].transpose(..., "metric")
        out["summary_se"] = out["summary_se"].transpose(..., "metric")
        units = ["1" if m == "p_loss" else "USD" for m in names]
        out = out.assign_coords(unit=("metric", units))
        out["summary"].attrs["long_name"] = "metrics per grid point, from streamed statistics"
        out["summary_se"].attrs["long_name"] = "Monte Carlo standard errors of summary"
    if "path" in out.coords and not any("path" in v.dims for v in out.data_vars.values()):
        out = out.drop_vars("path")  # no per-path variable left: no (paths,) coordinate
    out.attrs["per_path"] = "streamed: per-path variables not stored (output.per_path)"
    return out
