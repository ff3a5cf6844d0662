"""Where the Hydra configs live and how to compose them outside the command line.

``conf/`` and ``experiments/`` sit at the top of the repository (``conf/experiment`` is a
link to ``experiments``) and ship inside the wheel as the package data ``simulator._conf``
(a setuptools package-dir mapping, see pyproject.toml). An installed package reads them
from there, a source checkout from its top-level folders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from simulator.config.errors import SpecError

__all__ = ["CONF_DIR", "EXPERIMENTS_DIR", "check_override_syntax", "compose", "resolve"]


def _conf_dir() -> Path:
    """The checkout's top-level ``conf`` when running from a source tree (it wins over an
    editable install's mapping), else the installed package data ``simulator._conf``."""
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "conf"
    if (checkout / "config.yaml").is_file():
        return checkout
    return here.parents[1] / "_conf"  # simulator/_conf in the installed wheel


CONF_DIR = _conf_dir()
"""The Hydra config directory (``config.yaml`` and the groups)."""
EXPERIMENTS_DIR = CONF_DIR / "experiment"
"""The named studies (experiments/*.yaml)."""


def resolve(cfg: DictConfig | Mapping[str, Any]) -> tuple[dict, str]:
    """Plain resolved config and its YAML text; interpolation errors become SpecErrors."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        raise SpecError(str(key), None, f"cannot be resolved ({exc.msg})") from None
    return container, OmegaConf.to_yaml(OmegaConf.create(container))


RENAMED = (
    (r"hedge\.layers\.(\w+)\.min_dte", r"hedge.layers.\1.min_days"),
    (r"hedge\.grid\.(\w+)_min_dte", r"hedge.grid.\1_min_days"),
)
"""Keys renamed in 0.5 (pattern, new name): a hedge layer's expiry distance counts trading
days, so it is ``min_days``; ``*_dte`` keys count calendar days (``strategy.min_dte``)."""


def check_override_syntax(overrides: Iterable[str]) -> None:
    """Parse each ``key=value`` override with Hydra's own grammar, so that a syntax error
    (``sim.paths=[1``) is a SpecError naming its key (Hydra's message names only the
    input). Arguments without ``=`` (flags, group names) are left to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for arg in overrides:
        if "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        for old, new in RENAMED:
            if re.fullmatch(old, key.lstrip("+~")):
                raise SpecError(key, value, f"renamed: use {re.sub(old, new, key.lstrip('+~'))}")
        try:
            parser.parse_override(arg)
        except HydraException as exc:  # OverrideParseException, or the grammar's own
            key, value = arg.split("=", 1)
            msg = (str(exc).splitlines() or ["syntax error"])[0]
            raise SpecError(key.lstrip("+~"), value, f"bad override syntax ({msg})") from None


def compose(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved default config with Hydra ``overrides`` (``["sim.paths=2000"]``)."""
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of strings, not one string")
    check_override_syntax(overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    return resolve(cfg)[0]
