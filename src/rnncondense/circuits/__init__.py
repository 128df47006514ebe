"""Classic circuit models the field builds its intuition on, as a registry with one entry point.

    lif          leaky integrate-and-fire neurons (Tesileanu, Olveczky & Balasubramanian 2017)
    linear2      two linear rate units and their eigenmodes
    respiratory  the respiratory CPG of Rubin, Shevtsova, Ermentrout, Smith & Rybak 2009
    ring         a threshold-linear ring attractor (Ben-Yishai, Bar-Or & Sompolinsky 1995; Zhang 1996)

`run_circuit(name, overrides, out_dir)` validates the parameters (strings from a command line),
runs the model, writes its figures, animations and `summary.json` into `out_dir` and returns the
summary. The parameters of each circuit are the fields of its config class; their descriptions are
the help text (`describe_parameters`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from rnncondense.circuits._config import CircuitConfig, config_from_overrides, describe_parameters
from rnncondense.circuits.lif import LIFConfig
from rnncondense.circuits.linear2 import Linear2Config
from rnncondense.circuits.respiratory import RespiratoryConfig
from rnncondense.circuits.ring import RingConfig
from rnncondense.circuits.runners import Progress, run_lif, run_linear2, run_respiratory, run_ring
from rnncondense.dirlock import holding
from rnncondense.errors import ConfigError, RunDirError
from rnncondense.storage import write_json

__all__ = [
    "CIRCUITS",
    "CircuitSpec",
    "CircuitConfig",
    "LIFConfig",
    "Linear2Config",
    "RespiratoryConfig",
    "RingConfig",
    "Progress",
    "run_circuit",
    "make_config",
    "describe_parameters",
]

SUMMARY_FILE = "summary.json"


class CircuitSpec(NamedTuple):
    """A registry entry: what the circuit is, where it comes from, how to configure and run it."""

    name: str
    title: str
    reference: str
    config: type[CircuitConfig]
    run: Callable[..., dict[str, Any]]  # run(config, out_dir, *, progress) -> summary


CIRCUITS: dict[str, CircuitSpec] = {
    spec.name: spec
    for spec in (
        CircuitSpec(
            "lif",
            "leaky integrate-and-fire neurons with AMPA, NMDA and subtractive inhibition",
            "Tesileanu, Olveczky & Balasubramanian 2017, eLife 6:e20944",
            LIFConfig,
            run_lif,
        ),
        CircuitSpec(
            "linear2",
            "two linear rate units, tau dv/dt = -v + M v + h, and their eigenmodes",
            "Dayan & Abbott 2001, Theoretical Neuroscience, ch. 7.4",
            Linear2Config,
            run_linear2,
        ),
        CircuitSpec(
            "respiratory",
            "four-population respiratory central pattern generator (pre-I, early-I, post-I, aug-E)",
            "Rubin, Shevtsova, Ermentrout, Smith & Rybak 2009, J Neurophysiol 101:2146; ModelDB 125529",
            RespiratoryConfig,
            run_respiratory,
        ),
        CircuitSpec(
            "ring",
            "threshold-linear ring attractor with a stationary and a rotating input",
            "Ben-Yishai, Bar-Or & Sompolinsky 1995, PNAS 92:3844; Zhang 1996, J Neurosci 16:2112",
            RingConfig,
            run_ring,
        ),
    )
}


def _spec(name: str) -> CircuitSpec:
    if not isinstance(name, str) or name not in CIRCUITS:
        raise ConfigError(f"unknown circuit {name!r}; choose one of {', '.join(CIRCUITS)}")
    return CIRCUITS[name]


def make_config(name: str, overrides: Mapping[str, Any] | None = None) -> CircuitConfig:
    """The validated config of circuit `name` with `overrides` (strings or values) applied."""
    spec = _spec(name)
    return config_from_overrides(spec.config, overrides, circuit=name)


@holding("out_dir")  # one writer per directory (dirlock)
def run_circuit(
    name: str,
    overrides: Mapping[str, Any] | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Validate, run circuit `name`, write its files and `summary.json` into `out_dir`.

    Args:
        name: a key of CIRCUITS.
        overrides: parameter name -> value, e.g. {"D1": "0"}; strings are converted by the type of
            the config field (numbers, true/false, lists such as "[[0, .8], [.8, 0]]").
        out_dir: created if missing; existing files of the same names are replaced atomically.
        progress: called as progress(stage, done, total) while the circuit runs.

    Returns:
        The summary (also written to `out_dir/summary.json`): measured numbers, the resolved
        config, the files written and a one-line `text`.

    Raises:
        ConfigError: unknown circuit or parameter, or a value that is not allowed.
        RunDirError: `out_dir` exists and is not a directory.
    """
    spec = _spec(name)
    config = config_from_overrides(spec.config, overrides, circuit=name)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}' exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    measured = spec.run(config, out, progress=progress)
    summary = {
        "circuit": name,
        "title": spec.title,
        "reference": spec.reference,
        "config": config.model_dump(mode="json"),
        **measured,
        "seconds": time.perf_counter() - start,
    }
    summary["files"] = [*measured.get("files", []), SUMMARY_FILE]
    write_json(out / SUMMARY_FILE, summary)
    return summary
