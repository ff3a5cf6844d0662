"""``python -m simulator.calibrate p|q``: fit a model config to data (models/calibration.py).

- ``p``: the P dynamics fitted to the stylized facts of the daily SPX and VIX closes
  2014-2018 shipped with ``arch`` (simulator/facts.py computes them): VIX 5/50/95
  percentiles and mean, half-life, SPX/VIX correlation and variance risk premium.
  ``--kappa``/``--theta`` pin the Q mean reversion (e.g. from a Q fit); otherwise they are
  fitted too. ``--family bates`` keeps the jumps of ``--jumps`` (default: those of
  conf/model/bates.yaml) fixed.
- ``p --family svcj|bergomi2f|rbergomi``: the same facts by the simulated method of
  moments (models.calibration.fit_p_simulated): facts of FIT_PATHS simulated P paths of
  CHECK_DAYS trading days from the model's initial state, seed FIT_SEED for every trial
  (common random numbers), a few free parameters from the base config
  conf/model/<family>.yaml (models.registry: the rest kept fixed), then a check on
  ``--check-paths`` paths of another seed with the rounded config as written.
- ``q``: the Q parameters fitted to a YAML quotes file (``--quotes``; see
  simulator/data/calibration/q_quotes.yaml for the format): VIX futures, SPX and VIX implied vols.

Prints a fit table (target, model, error) and writes a model config YAML usable as a Hydra
model group file, with the fit table and its provenance as comments: to ``-o PATH``, by
default into the model group's folder (conf/model/<family>_<p|q>_fit.yaml, then
``model=<family>_<p|q>_fit`` selects it; the line before the last on stdout says how to
select it, the last is the path). The file is written atomically and never replaces an
existing one.
Exit codes: 0 written, 2 bad input or existing output (one message naming the key or
path; nothing written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from models import registry
from models.calibration import (
    FAMILIES,
    PFacts,
    PFit,
    QFit,
    QQuotes,
    SimPFit,
    fit_p,
    fit_p_simulated,
    fit_q,
)
from simulator.analysis.facts import facts_of, history_facts
from simulator.cli.common import fail
from simulator.config.conf import CONF_DIR
from simulator.config.errors import CalibrationError
from simulator.config.spec import DAYS_PER_YEAR, model_spec
from simulator.store.atomic import write_text

__all__ = ["CalibrationError", "history_targets", "load_quotes", "main", "write_config"]

CHECK_DAYS = 1260  # simulated check: paths of ~ the history's 1256 trading days
CHECK_SEED = 2014
FIT_SEED = 2018  # common random numbers of the simulated fits (the check uses CHECK_SEED)
FIT_PATHS = 1000
DEFAULT_EQUITY = 0.05
CONF_MODEL = CONF_DIR / "model"
CALIBRATION_DIR = Path(__file__).resolve().parents[1] / "data" / "calibration"
"""Shipped calibration inputs: quotes format example, fixed Bates jumps, the example Q fit."""
QUOTE_KEYS = {"spot", "rate", "div_yield", "vix_futures", "spx_options", "vix_options"}
QUOTE_OPTIONAL = {"description", "family", "vix_options"}
FACT_LABELS = {
    "vix_p5": "VIX p5 (vol points)",
    "vix_p50": "VIX p50 (vol points)",
    "vix_p95": "VIX p95 (vol points)",
    "vix_mean": "VIX mean (vol points)",
    "half_life_days": "VIX half-life (trading days)",
    "corr_spx_vix": "corr(SPX log return, VIX change)",
    "vrp": "VRP: VIX - next 21-day realised vol",
}


# --------------------------------------------------------------------------- inputs


def history_targets() -> PFacts:
    """The facts of the shipped 2014-2018 daily history (simulator.facts.history_facts)."""
    h = history_facts()
    p = dict(zip((5, 25, 50, 75, 95, 99), (float(x) for x in h.vix_percentiles), strict=True))
    return PFacts(
        vix_p5=p[5],
        vix_p50=p[50],
        vix_p95=p[95],
        vix_mean=float(h.vix_mean),
        half_life_days=float(h.half_life),
        corr_spx_vix=float(h.corr_spx_vix),
        vrp=float(h.vrp),
    )


def _rows(raw: object, key: str, width: int) -> tuple[tuple[float, ...], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CalibrationError(key, f"must be a list of [{width} numbers] rows, got {raw!r}")
    out = []
    for i, row in enumerate(raw):
        ok = (
            isinstance(row, list)
            and len(row) == width
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in row)
        )
        if not ok:
            raise CalibrationError(f"{key}[{i}]", f"must be a list of {width} numbers, got {row!r}")
        out.append(tuple(float(x) for x in row))
    return tuple(out)


def load_quotes(path: str | Path) -> QQuotes:
    """Read a YAML quotes file (format: simulator/data/calibration/q_quotes.yaml)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise CalibrationError("--quotes", f"cannot read {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CalibrationError("--quotes", f"{p} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise CalibrationError("--quotes", f"{p} must hold a mapping of quote keys")
    unknown = set(raw) - QUOTE_KEYS - QUOTE_OPTIONAL
    if unknown:
        k = sorted(unknown)[0]
        raise CalibrationError(k, f"unknown key (allowed: {', '.join(sorted(QUOTE_KEYS))})")
    missing = QUOTE_KEYS - QUOTE_OPTIONAL - set(raw)
    if missing:
        raise CalibrationError(sorted(missing)[0], f"missing in {p}")
    for k in ("spot", "rate", "div_yield"):
        x = raw[k]
        if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x):
            raise CalibrationError(k, f"must be a finite number, got {x!r}")
    try:
        return QQuotes(
            spot=float(raw["spot"]),
            rate=float(raw["rate"]),
            div_yield=float(raw["div_yield"]),
            vix_futures=_rows(raw["vix_futures"], "vix_futures", 2),
            spx_options=_rows(raw["spx_options"], "spx_options", 3),
            vix_options=_rows(raw.get("vix_options"), "vix_options", 3),
        )
    except ValueError as exc:
        msg = str(exc)
        key = msg.split(":", 1)[0].removeprefix("quotes.")
        raise CalibrationError(key, msg.split(":", 1)[-1].strip()) from None


def _jumps_of(path: Path) -> dict[str, float]:
    try:
        raw = yaml.safe_load(path.read_text())
        return {k: float(raw[k]) for k in ("lam", "mu_j", "sigma_j")}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        raise CalibrationError(
            "--jumps", f"{path} must be a YAML file with lam, mu_j, sigma_j"
        ) from None


# --------------------------------------------------------------------------- tables


def simulated_facts(
    model, n_paths: int, n_days: int = CHECK_DAYS, seed: int = CHECK_SEED
) -> PFacts:
    """The facts of ``n_paths`` simulated P paths of ``n_days`` daily steps from the
    model's initial state, computed like the history's (simulator.facts.facts_of); float32
    paths; the VIX from the paths where the model records it (Bergomi models)."""
    import jax

    opts = {"with_vix": True} if hasattr(model, "vix_keys") else {}  # rough Bergomi
    paths = model.simulate(
        jax.random.key(seed), n_paths, n_days, 1.0 / DAYS_PER_YEAR, spot=100.0, measure="P",
        dtype="float32", **opts,
    )  # fmt: skip
    spx = np.asarray(paths.spot, np.float64).T
    if getattr(paths, "vix", None) is not None:  # Bergomi models: VIX from the factors/path
        vix = np.asarray(paths.vix, np.float64).T
    else:
        vix = model.vix(np.asarray(paths.var, np.float64).T)
    f = facts_of(spx, vix)
    p5, p50, p95 = (float(x) for x in f.vix_percentiles[[0, 2, 4]])
    return PFacts(p5, p50, p95, float(f.vix_mean), float(f.half_life), float(f.corr_spx_vix),
                  float(f.vrp))  # fmt: skip


def p_table(fit: PFit, sim: PFacts | None = None) -> list[tuple]:
    """(fact, target, model, model - target[, simulated, simulated - target]) rows."""
    t, m = fit.targets.as_dict(), fit.facts.as_dict()
    rows = []
    for k, label in FACT_LABELS.items():
        row = (label, t[k], m[k], m[k] - t[k])
        if sim is not None:
            x = sim.as_dict()[k]
            row += (x, x - t[k])
        rows.append(row)
    return rows


def q_table(fit: QFit, quotes: QQuotes) -> list[tuple[str, float, float, float]]:
    """(quote, target, model, model - target) rows of a Q fit; vol points."""
    rows = []
    for (t, px), r in zip(quotes.vix_futures, fit.residuals["vix_futures"], strict=True):
        rows.append((f"VIX future T={t:.4f}", px, px + r, r))
    for (t, k, iv), r in zip(quotes.spx_options, fit.residuals["spx_options"], strict=True):
        rows.append((f"SPX IV T={t:.4f} K={k:g}", 100 * iv, 100 * iv + r, r))
    for (t, k, iv), r in zip(quotes.vix_options, fit.residuals["vix_options"], strict=True):
        rows.append((f"VIX IV T={t:.4f} K={k:g}", 100 * iv, 100 * iv + r, r))
    return rows


def format_table(rows: Sequence[tuple], columns: Sequence[str] = ("data", "model", "error")) -> str:
    """Plain-text table: a label column, then numbers (differences signed)."""
    width = max(len(r[0]) for r in rows)
    head = f"{'target':<{width}}" + "".join(f"  {c:>10}" for c in columns)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = [
            f"{x:+10.4f}" if "error" in c else f"{x:10.4f}"
            for c, x in zip(columns, r[1:], strict=True)
        ]
        lines.append(f"{r[0]:<{width}}" + "".join(f"  {c}" for c in cells))
    return "\n".join(lines)


# --------------------------------------------------------------------------- output


def config_of(family: str, params: Mapping[str, float]) -> dict:
    """A model group config (the keys of conf/model/heston.yaml / bates.yaml)."""
    cfg = {"name": family}
    cfg |= {k: round(float(params[k]), 6) for k in ("kappa", "theta", "sigma", "rho", "v0")}
    if family == "bates":
        cfg |= {k: round(float(params[k]), 6) for k in ("lam", "mu_j", "sigma_j")}
    cfg["premia"] = {
        "equity": round(float(params["premia.equity"]), 6),
        "variance": round(float(params["premia.variance"]), 6),
    }
    return cfg


def check_out(target: Path) -> None:
    """Refuse an unusable ``-o`` (exists, missing or non-directory parent, not writable)
    before any work: CalibrationError naming -o."""
    if target.exists() or target.is_symlink():
        raise CalibrationError("-o", f"{target} already exists: choose another output path")
    if not target.parent.is_dir():
        raise CalibrationError("-o", f"directory {target.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        why = exc.strerror or exc
        raise CalibrationError("-o", f"{target} cannot be written ({why})") from None


def write_config(path: str | Path, cfg: Mapping, header: str) -> Path:
    """Write ``header`` (comment lines) and ``cfg`` as YAML to ``path`` atomically, never
    replacing an existing file (CalibrationError naming -o)."""
    target = Path(path)
    if target.exists():
        raise CalibrationError("-o", f"{target} already exists: choose another output path")
    if not target.parent.is_dir():
        raise CalibrationError("-o", f"directory {target.parent} does not exist")
    text = header + yaml.safe_dump(dict(cfg), sort_keys=False)
    try:
        return write_text(text, target, replace=False)
    except FileExistsError:
        raise CalibrationError(
            "-o", f"{target} already exists: choose another output path"
        ) from None


def _header(title: str, lines: Sequence[str], table: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [f"# {title}", f"# Written by `python -m simulator.calibrate` on {stamp}."]
    out += [f"# {x}" for x in lines]
    out += ["#", *(f"# {x}" for x in table.splitlines()), ""]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- commands


def run_p(args: argparse.Namespace) -> tuple[dict, str, str]:
    jumps, jump_note = None, []
    if args.family == "bates":
        src = Path(args.jumps) if args.jumps else CONF_MODEL / "bates.yaml"
        jumps = _jumps_of(src)
        jump_note = [f"Jumps kept fixed (not identified by these facts), from {args.jumps or src}."]
    for name in ("kappa", "theta"):
        x = getattr(args, name)
        if x is not None and not (math.isfinite(x) and x > 0):
            raise CalibrationError(f"--{name}", f"must be a positive number, got {x}")
    fit = fit_p(
        history_targets(), args.family, kappa=args.kappa, theta=args.theta,
        equity=args.equity, jumps=jumps,
    )  # fmt: skip
    sim = simulated_facts(fit.model, args.check_paths) if args.check_paths else None
    cols = ("data", "model", "error") + (("simulated", "sim error") if sim else ())
    table = format_table(p_table(fit, sim), cols)
    kp, tp = fit.model.p_parameters()
    notes = [
        "P fitted to the daily SPX and VIX closes 2014-01-03 .. 2018-12-31 shipped with",
        "the arch package (facts as in simulator/facts.py). Model column: closed forms",
        "(VIX percentiles and mean: stationary Gamma law) and stated approximations",
        "(half-life, correlation, VRP: models.calibration.PFacts). Simulated column: "
        + (
            f"{args.check_paths} P paths of {CHECK_DAYS} trading days, seed {CHECK_SEED}"
            if sim
            else "not run"
        )
        + ".",
        "Q parameters "
        + ("given" if args.kappa or args.theta else "fitted from the VRP (not from quotes)")
        + f"; kappa_P = {kp:.4f}, theta_P = {tp:.6f} (v0 = theta_P),",
        f"Feller ratio {fit.model.feller_ratio:.3f}, VIX floor 100 sqrt(b_Q) = "
        f"{100 * math.sqrt(fit.model.vix_coefficients()[1]):.3f}. premia.equity as given.",
        *jump_note,
        f"optimizer: success={fit.success} ({fit.message})",
    ]
    return config_of(args.family, fit.params), _header(
        f"{args.family} P calibration to 2014-2018 (generated)",
        notes, table), table  # fmt: skip


SIM_FAMILIES = tuple(n for n, e in registry.MODELS.items() if e.simulated_fit is not None)
"""Models fitted to the history by simulation (their registry entry has a simulated_fit)."""


def base_config(family: str) -> dict:
    """The base model config conf/model/<family>.yaml as a mapping."""
    return yaml.safe_load((CONF_MODEL / f"{family}.yaml").read_text())


def sim_model(family: str, params: Mapping[str, float]):
    """The model of a simulated fit from its parameters (the registry's names,
    premia.equity, premia.variance; SVCJ: kappa_p instead of premia.variance and v0, set
    to the stationary P mean). Raises ValueError for an invalid set."""
    p = dict(params)
    if family == "svcj":
        kp = p.pop("kappa_p")
        p["premia.variance"] = p["kappa"] - kp
        p["v0"] = (p["kappa"] * p["theta"] + p["lam"] * p["mu_v"]) / kp
    q = {k: float(p[k]) for k in registry.MODELS[family].names}
    return registry.build(family, q, float(p["premia.equity"]), float(p["premia.variance"]))


def sim_config(family: str, params: Mapping[str, float]) -> dict:
    """The model group config of a simulated fit (the base config's keys), rounded."""
    model = sim_model(family, params)
    cfg: dict = {"name": family}
    for k in registry.MODELS[family].names:
        cfg[k] = round(float(getattr(model, k)), 6)
    cfg["premia"] = {
        "equity": round(float(model.premia.equity), 6),
        "variance": round(float(model.premia.variance), 6),
    }
    return cfg


def model_of_config(cfg: Mapping):
    """The model of a model group config, through the run spec's validation."""
    return model_spec({"model": dict(cfg)}).build()


def fit_simulated(family: str, equity: float = DEFAULT_EQUITY, n_paths: int = FIT_PATHS,
                  max_nfev: int = 40) -> SimPFit:  # fmt: skip
    """The simulated P fit of ``family`` to the history (models.registry)."""
    spec = registry.MODELS[family].simulated_fit
    base = base_config(family)
    fixed = {k: float(base[k]) for k in registry.MODELS[family].names if k not in spec.x0}
    fixed["premia.equity"] = float(equity)
    if "premia.variance" not in spec.x0 and family != "svcj":
        fixed["premia.variance"] = 0.0
    if family == "svcj":
        fixed.pop("v0", None)

    def facts(model) -> PFacts:
        return simulated_facts(model, n_paths, CHECK_DAYS, FIT_SEED)

    return fit_p_simulated(
        lambda p: sim_model(family, p), history_targets(), spec.x0, spec.bounds, facts,
        fixed=fixed, weights=spec.weights, max_nfev=max_nfev,
    )  # fmt: skip


def run_p_simulated(args: argparse.Namespace) -> tuple[dict, str, str]:
    fit = fit_simulated(args.family, args.equity)
    cfg = sim_config(args.family, fit.params)
    model = model_of_config(cfg)
    sim = simulated_facts(model, args.check_paths) if args.check_paths else None
    pseudo = PFit(model, fit.params, fit.facts, fit.targets, fit.success, fit.message, fit.cost)
    cols = ("data", "fit sim", "error") + (("check sim", "chk error") if sim else ())
    table = format_table(p_table(pseudo, sim), cols)
    spec = registry.MODELS[args.family].simulated_fit
    dropped = [k for k, w in spec.weights.items() if w == 0]
    notes = [
        "P fitted to the daily SPX and VIX closes 2014-01-03 .. 2018-12-31 shipped with",
        "the arch package (facts as in simulator/facts.py) by the simulated method of",
        f"moments: {FIT_PATHS} P paths of {CHECK_DAYS} trading days from the initial state, "
        f"seed {FIT_SEED}",
        "(common random numbers), least squares on the scales of models.calibration.P_SCALES.",
        *textwrap.wrap(spec.note, 86, break_on_hyphens=False),
        "The Q parameters come from these P facts, not from option quotes.",
        *([f"Not fitted (weight 0): {', '.join(dropped)}."] if dropped else []),
        "Check column: the config as written, "
        + (
            f"{args.check_paths} P paths of {CHECK_DAYS} trading days, seed {CHECK_SEED}"
            if sim
            else "not run"
        )
        + ".",
        f"optimizer: success={fit.success} ({fit.message}), {fit.nfev} simulations",
    ]
    return cfg, _header(
        f"{args.family} P calibration to 2014-2018 (generated)", notes, table), table  # fmt: skip


def run_q(args: argparse.Namespace) -> tuple[dict, str, str]:
    if not args.quotes:
        raise CalibrationError("--quotes", "required for q (a YAML quotes file)")
    quotes = load_quotes(args.quotes)
    fit = fit_q(quotes, args.family)
    params = dict(fit.params) | {"premia.equity": args.equity, "premia.variance": 0.0}
    table = format_table(q_table(fit, quotes))
    rm = ", ".join(f"{k} {v:.4f}" for k, v in fit.rmse.items() if np.isfinite(v))
    try:
        desc = str((yaml.safe_load(Path(args.quotes).read_text()) or {}).get("description", ""))
    except (OSError, yaml.YAMLError, AttributeError):
        desc = ""
    notes = [
        *([f"Quotes: {desc}."] if desc else []),
        f"Q fitted to {args.quotes} (least squares, vol points); RMSE: {rm}.",
        "premia.variance = 0 (quotes do not identify P), premia.equity as given.",
        f"optimizer: success={fit.success} ({fit.message}), {fit.nfev} evaluations",
    ]
    return config_of(args.family, params), _header(
        f"{args.family} Q calibration (generated)", notes, table), table  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m simulator.calibrate",
        description="Fit P (to the shipped 2014-2018 history) or Q (to quotes) and write a "
        "model config YAML.",
    )
    p.add_argument("measure", choices=("p", "q"))
    p.add_argument(
        "--quotes", help="q: YAML quotes file (see simulator/data/calibration/q_quotes.yaml)"
    )
    p.add_argument(
        "-o",
        "--out",
        help="output YAML (default: the model group's folder, "
        f"{CONF_MODEL}/<family>_<p|q>_fit.yaml); never replaces a file",
    )
    p.add_argument("--family", choices=FAMILIES + SIM_FAMILIES, default="heston")
    p.add_argument("--kappa", type=float, help="p: pin the Q mean reversion (1/year)")
    p.add_argument("--theta", type=float, help="p: pin the Q long-run variance")
    p.add_argument("--jumps", help="p, bates: YAML with lam, mu_j, sigma_j (kept fixed)")
    p.add_argument("--check-paths", type=int, default=2000,
                   help="p: simulate this many P paths to check the fit (0: skip)")  # fmt: skip
    p.add_argument("--equity", type=float, default=DEFAULT_EQUITY,
                   help="premia.equity written to the config (per year)")  # fmt: skip
    args = p.parse_args(argv)
    out = Path(args.out) if args.out else CONF_MODEL / f"{args.family}_{args.measure}_fit.yaml"
    try:
        if not (math.isfinite(args.equity) and -1 <= args.equity <= 1):
            raise CalibrationError("--equity", f"must be in [-1, 1] per year, got {args.equity}")
        if args.check_paths < 0:
            raise CalibrationError("--check-paths", f"must be >= 0, got {args.check_paths}")
        check_out(out)  # before the fit, not after it
        if args.family in SIM_FAMILIES:
            if args.measure != "p":
                raise CalibrationError("--family", f"{args.family}: only p (simulated) fits")
            for name in ("kappa", "theta", "jumps"):
                if getattr(args, name) is not None:
                    raise CalibrationError(f"--{name}", f"not used by --family {args.family}")
            run = run_p_simulated
        else:
            run = run_p if args.measure == "p" else run_q
        cfg, header, table = run(args)
        print(table)
        written = write_config(out, cfg, header)
    except CalibrationError as exc:
        return fail(exc)
    print(_how_to_use(written))
    print(written)
    return 0


def _how_to_use(path: Path) -> str:
    """One line: how a written config is selected as a model group option."""
    name = path.name.removesuffix(".yaml")
    if path.resolve().parent == CONF_MODEL.resolve() and path.suffix == ".yaml":
        return f"model config written to {path}: run it with `python -m simulator model={name}`"
    return (
        f"model config written to {path}; to run it as `python -m simulator model={name}`, "
        f"move it into {CONF_MODEL}"
    )


if __name__ == "__main__":
    sys.exit(main())
