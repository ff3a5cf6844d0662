"""Kill campaign (``make chaos``; not part of ``make test``): start real runs and sweeps,
stop them with SIGTERM, SIGINT or SIGKILL at random moments, then check what is left.

For every run: the exit code matches the signal (143, 130, -9; 0 when it finished
first), any ``results.nc`` left is complete (``complete = 1``) and nothing else visible
is left (but ``summary.csv`` and ``report.html``), and the same command run again finishes
with ``summary.csv`` beside the dataset (or, over complete results, is refused with exit
2). For every sweep: no worker outlives its parent by 5 s (SIGKILL too), every point
written is complete, and the resumed sweep completes every point, each with its
``summary.csv``.

    python -m tests.chaos [--runs 20] [--sweeps 3] [--seed 0] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5netcdf

ROOT = Path(__file__).resolve().parents[1]
RUN = ["model=heston", "market.start=v0", "sim.paths=20000", "sim.chunk_paths=5000",
       "sim.horizon_days=42"]  # fmt: skip
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)
EXPECTED = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -9}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


def _complete(path: Path) -> bool:
    try:
        with h5netcdf.File(path, "r") as f:
            return int(f.attrs.get("complete", 0)) == 1
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    from simulator.engine.interrupt import _children

    return _children(pid)


def _visible(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def baseline_seconds(base: Path) -> float:
    """Wall time of one complete run of :data:`RUN` here (tables cached after it): the
    kill moments are drawn inside it, so that (almost) every run is stopped mid-way."""
    t0 = time.monotonic()
    args = [*RUN, "sim.seed=999", f"output.dir={base / 'baseline'}", "output.report=false"]
    subprocess.run(_cmd(*args), cwd=base, env=_env(), capture_output=True, check=True)
    return time.monotonic() - t0


def one_run(i: int, base: Path, rng: random.Random, span: float) -> dict:
    out = base / f"run{i:02d}"
    sig = rng.choice(SIGNALS)
    delay = rng.uniform(0.2, 0.95 * span)
    args = [*RUN, f"sim.seed={i}", f"output.dir={out}", f"output.report={rng.random() < 0.3}"]
    proc = subprocess.Popen(_cmd(*args), cwd=base, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    rc = proc.returncode
    res = out / "results.nc"
    row = {"run": i, "signal": sig.name, "at_s": round(delay, 1), "rc": rc, "problems": []}
    if rc not in (0, EXPECTED[sig]):
        row["problems"].append(f"exit code {rc}")
    for bad in ("Traceback", "Exception ignored", "Segmentation"):
        if bad in err:
            row["problems"].append(bad)
    if res.exists() and not _complete(res):
        row["problems"].append("incomplete results.nc")
    extra = [n for n in _visible(out) if n not in ("results.nc", "summary.csv", "report.html")]
    if extra:
        row["problems"].append(f"left {extra}")
    # (SIGKILL prints nothing: after the dataset's atomic rename a complete one is right.)
    if rc != 0 and sig != signal.SIGKILL and res.exists() and "results written" not in err:
        row["problems"].append("results.nc after a stop that said none were written")
    again = subprocess.run(_cmd(*args), cwd=base, env=_env(), text=True, capture_output=True,
                           timeout=900)  # fmt: skip
    resumed = again.returncode == 0 and _complete(res)
    refused = res.exists() and again.returncode == 2 and "overwrite" in again.stderr
    if not (resumed or refused):
        row["problems"].append(f"rerun exit {again.returncode}")
    if resumed and not (out / "summary.csv").is_file():  # a resume writes a missing one
        row["problems"].append("no summary.csv beside the complete results.nc")
    row["rerun"] = "refused (complete)" if refused else ("ok" if resumed else "FAILED")
    return row


def one_sweep(i: int, base: Path, rng: random.Random, span: float) -> dict:
    sweep = base / f"sweep{i}"
    sig = rng.choice(SIGNALS)
    delay = rng.uniform(5.0, max(10.0, 1.5 * span))  # three points on parallel workers
    args = ["-m", "hydra/launcher=parallel", *RUN, "sim.seed=1,2,3", "output.report=false",
            f"hydra.sweep.dir={sweep}"]  # fmt: skip
    # No pipes: workers orphaned by a SIGKILL would hold them open and block the wait.
    proc = subprocess.Popen(_cmd(*args), cwd=base, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    kids: list[int] = []
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < delay:
        kids = sorted(set(kids) | set(_descendants(proc.pid)))
        time.sleep(0.2)
    if proc.poll() is None:
        proc.send_signal(sig)
    rc = proc.wait(timeout=600)
    row = {"sweep": i, "signal": sig.name, "at_s": round(delay, 1), "rc": rc, "problems": []}
    if rc not in (0, EXPECTED[sig]):
        row["problems"].append(f"exit code {rc}")
    time.sleep(5)
    alive = [k for k in kids if Path(f"/proc/{k}").exists()]
    if alive:  # a SIGKILLed parent's workers end themselves (interrupt.watch_sweep_parent)
        row["problems"].append(f"{len(alive)} workers alive 5 s after the parent stopped")
    row["orphans"] = len(alive)
    for res in sweep.glob("*/results.nc"):
        if not _complete(res):
            row["problems"].append(f"incomplete {res.parent.name}/results.nc")
    for k in alive:  # workers left (a problem above): clean up before the resume
        os.kill(k, signal.SIGKILL)
    again = subprocess.run(_cmd(*args), cwd=base, env=_env(), text=True, capture_output=True,
                           timeout=1800)  # fmt: skip
    points = [p for p in sweep.glob("*/results.nc") if _complete(p)]
    if again.returncode != 0 or len(points) != 3:
        row["problems"].append(f"resume exit {again.returncode}, {len(points)}/3 points")
    bare = [p.parent.name for p in points if not (p.parent / "summary.csv").is_file()]
    if bare:
        row["problems"].append(f"no summary.csv beside {', '.join(bare)}")
    row["rerun"] = f"{len(points)}/3 points"
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--sweeps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, default=None)
    a = ap.parse_args(argv)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # children get SIGINT back
    rng = random.Random(a.seed)
    base = a.dir or Path(tempfile.mkdtemp(prefix="alvh-chaos-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"kill campaign in {base}: {a.runs} runs, {a.sweeps} sweeps, seed {a.seed}", flush=True)
    span = baseline_seconds(base)
    print(f"one complete run takes {span:.1f} s here: signals fall inside that", flush=True)
    rows = []
    for i in range(a.runs):
        rows.append(one_run(i, base, rng, span))
        print(rows[-1], flush=True)
    for i in range(a.sweeps):
        rows.append(one_sweep(i, base, rng, span))
        print(rows[-1], flush=True)
    bad = [r for r in rows if r["problems"]]
    corrupt = sum(any("incomplete" in p for p in r["problems"]) for r in rows)
    codes = sum(any("exit code" in p for p in r["problems"]) for r in rows)
    resumes = sum(any(p.startswith(("rerun", "resume")) for p in r["problems"]) for r in rows)
    stopped = sum(r["rc"] != 0 for r in rows)
    print(f"\n{len(rows)} runs and sweeps, {stopped} stopped by their signal (the others "
          f"finished first): {corrupt} corrupt outputs, {codes} wrong exit codes, "
          f"{resumes} failed resumes, {len(bad)} with any problem")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
