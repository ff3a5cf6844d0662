"""The Python API (simulator.run, open_results, build_spec): the same numbers as the
command line, written or not."""

from __future__ import annotations

import numpy as np
import pytest

import simulator
from simulator.config import conf

# Chunks of 100: the book program of tests/test_reliability.py's rerun study (one compile).
SMALL = ["sim.paths=300", "sim.horizon_days=10", "sim.chunk_paths=100", "output.report=false"]


@pytest.mark.slow
def test_run_returns_the_dataset_the_cli_writes(tmp_path, run_cli):
    ds = simulator.run([*SMALL, "hedge.grid.l1_threshold=[18,20]"])
    assert ds.sizes["l1_threshold"] == 2 and ds.sizes["path"] == 300 and "summary" in ds
    proc = run_cli(
        *SMALL, "hedge.grid.l1_threshold=[18,20]", f"output.dir={tmp_path}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    written = simulator.open_results(tmp_path)
    for name in ("pnl", "max_drawdown", "summary"):
        np.testing.assert_array_equal(ds[name].values, written[name].values)
    # The same study as a RunSpec, written (the same compiled program as above).
    grid = [*SMALL, "hedge.grid.l1_threshold=[18,20]"]
    spec = simulator.build_spec(conf.compose([*grid, f"output.dir={tmp_path / 'api'}"]))
    again = simulator.run(spec, write=True)
    assert (tmp_path / "api" / "results.nc").is_file() and int(again.attrs["complete"]) == 1
    np.testing.assert_array_equal(again["pnl"].values, ds["pnl"].values)
    np.testing.assert_array_equal(again["pnl"].values, simulator.run(grid)["pnl"].values)
