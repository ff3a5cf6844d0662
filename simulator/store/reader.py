"""The one reader of results datasets (netCDF files and zarr stores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from simulator.config.errors import ResultsError

__all__ = ["RESULT_NAMES", "find_results", "load_stored_config", "open_results"]

RESULT_NAMES = ("results.nc", "results.zarr")


def find_results(path: str | Path) -> Path:
    """The results file for ``path``: the file itself or ``results.nc``/``results.zarr``
    inside a directory."""
    p = Path(path)
    if p.is_dir() and p.suffix != ".zarr":
        for name in RESULT_NAMES:
            if (p / name).exists():
                return p / name
        raise ResultsError(f"{p}: no results.nc or results.zarr in this directory")
    if not p.exists():
        raise ResultsError(f"{p}: no such file or directory")
    return p


def open_results(
    path: str | Path, lazy: bool = False, chunks: dict | None = None, complete: bool = True
) -> xr.Dataset:
    """Open a results dataset: fully into memory, or ``lazy`` (a context manager; with
    ``chunks`` as dask arrays). ``complete`` refuses datasets not marked complete."""
    p = find_results(path)
    try:
        if p.suffix == ".zarr" or p.is_dir():
            ds = xr.open_zarr(p, chunks=chunks) if lazy else xr.open_zarr(p, consolidated=None)
        else:
            ds = xr.open_dataset(p, engine="h5netcdf", chunks=chunks)
        if not lazy:
            ds = ds.load()
    except Exception as exc:  # any reader error: not a results dataset
        raise ResultsError(
            f"{p}: cannot be read as a results dataset ({type(exc).__name__}: {exc})"
        ) from None
    if complete and int(ds.attrs.get("complete", 0)) != 1:
        kind = "not marked complete" if "complete" in ds.attrs else "not an ALVH results dataset"
        raise ResultsError(f"{p}: {kind} (attribute complete = 1)")
    return ds


MAX_CONFIG_CHARS = 1_000_000
"""Stored configs are a few kB; anything past this is refused unread."""


def _no_alias_loader() -> type:
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """yaml.SafeLoader that refuses every alias (``*name``): the engine never writes
        one, and nested aliases expand exponentially (a 'billion laughs' hangs a reader)."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.YAMLError(
                    f"aliases are not allowed in a stored configuration (*{event.anchor}"
                    f" at line {event.start_mark.line + 1})"
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def load_stored_config(text: object) -> Any:
    """A configuration stored in a dataset (attribute ``config``) as plain data: safe YAML
    (no tags, no code), no aliases, at most :data:`MAX_CONFIG_CHARS` characters. Raises
    ResultsError otherwise."""
    import yaml

    if not isinstance(text, str):
        raise ResultsError("the stored configuration (attribute config) is not text")
    if len(text) > MAX_CONFIG_CHARS:
        raise ResultsError(
            f"the stored configuration is {len(text)} characters, more than the "
            f"{MAX_CONFIG_CHARS} allowed: not a configuration this engine wrote"
        )
    try:
        return yaml.load(text, Loader=_no_alias_loader())
    except yaml.YAMLError as exc:
        raise ResultsError(f"the stored configuration is not valid YAML ({exc})") from None
