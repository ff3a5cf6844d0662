"""An on-disk cache of the Q-measure mark tables (models.pricing.tables).

A table is a pure function of the marking model's parameters, the build arguments and
the pricing code, and building one is the slowest step of a short study (the default
SVCJ study: about 5 s for its 25 days of SPX smiles, 2-4 s for the VIX table, on one
core of the development machine). Every table built is stored as an
``.npz`` file under a key that hashes all three, and a later run, another Hydra job or
another process with the same inputs loads it instead (a few hundred milliseconds).
Loaded arrays are the stored float64 arrays bit for bit, so results are identical with
and without the cache.

Where: ``$ALVH_TABLE_CACHE`` when set (``off`` or ``0`` switches the cache off), else
``$XDG_CACHE_HOME/alvh-sim/tables`` (``~/.cache/alvh-sim/tables``). Files are written
atomically (temporary sibling, then ``os.replace``); an unreadable or mismatched file is
rebuilt, never trusted. The oldest files beyond MAX_BYTES are deleted after each write.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import models
from models.pricing import tables

__all__ = ["MAX_BYTES", "cache_dir", "cached_build"]

log = logging.getLogger(__name__)

ENV = "ALVH_TABLE_CACHE"
MAX_BYTES = 2 * 1024**3
"""Size cap of the cache folder; the least recently used files beyond it are removed."""
FORMAT = 1  # bump when the stored layout changes

T = TypeVar("T")

TABLE_TYPES: dict[Callable, type] = {
    tables.build_spx_table: tables.SpxSmileTable,
    tables.build_vix_table: tables.VixTable,
}
"""The builders the cache knows, with the NamedTuple each returns."""


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$ALVH_TABLE_CACHE`` is ``off``/``0``/empty."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "false", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alvh-sim" / "tables"


@cache
def _code_fingerprint() -> str:
    """Hash of the models package source: any change to pricing or model code (a new
    char_fn, a table fix) gives new keys, so stale tables are never loaded."""
    h = hashlib.sha256()
    root = Path(models.__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _key(builder: Callable, model: Any, args: tuple, kwargs: dict) -> str:
    # Frozen dataclass reprs give every parameter as a round-tripping float repr.
    text = repr((FORMAT, builder.__module__, builder.__qualname__, model, args,
                 sorted(kwargs.items()), _code_fingerprint()))  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _load(path: Path, cls: type[T]) -> T | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if list(z.files) != list(cls._fields):
                return None
            return cls(*(np.array(z[f]) for f in cls._fields))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None


def _save(path: Path, table: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in table._asdict().items()})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _trim(folder: Path, keep: Path) -> None:
    stats = []
    for p in folder.glob("*.npz"):
        if p == keep:
            continue
        try:  # one stat per file; a file another process just removed is skipped
            st = p.stat()
        except OSError:
            continue
        stats.append((st.st_atime, st.st_size, p))
    try:
        total = keep.stat().st_size
    except OSError:
        return
    for _, size, p in sorted(stats, reverse=True):
        total += size
        if total > MAX_BYTES:
            p.unlink(missing_ok=True)


def cached_build(builder: Callable[..., T], model: Any, *args: Any, **kwargs: Any) -> T:
    """``builder(model, *args, **kwargs)``, loaded from the cache when built before.

    ``builder`` is one of TABLE_TYPES. Any failure to read or write the cache falls back
    to building (logged at debug level)."""
    folder = cache_dir()
    if folder is None or builder not in TABLE_TYPES:
        return builder(model, *args, **kwargs)
    path = folder / f"{builder.__name__}-{_key(builder, model, args, kwargs)}.npz"
    if path.exists():
        table = _load(path, TABLE_TYPES[builder])
        if table is not None:
            try:
                os.utime(path)  # least recently used = oldest access
            except OSError:
                pass
            log.debug("table cache hit %s", path.name)
            return table
    table = builder(model, *args, **kwargs)
    try:
        _save(path, table)
        _trim(folder, path)
    except OSError as e:
        log.debug("table cache not written (%s): %s", path, e)
    return table
