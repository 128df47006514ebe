"""Classic circuit models the field builds its intuition on, as a registry with one entry point.

    lif          leaky integrate-and-fire neurons (Tesileanu, Olveczky & Balasubramanian 2017)
    linear2      two linear rate units and their eigenmodes
    respiratory  the respiratory CPG of Rubin, Shevtsova, Ermentrout, Smith & Rybak 2009
    ring         a threshold-linear ring attractor (Ben-Yishai, Bar-Or & Sompolinsky 1995; Zhang 1996)

`rnncondense.runs.circuits.run_circuit(name, overrides, out_dir)` validates the parameters
(strings from a command line), runs the model, writes its figures, animations and `summary.json`
into `out_dir` and returns the summary. The parameters of each circuit are the fields of its config class; their descriptions are
the help text (`describe_parameters`).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from rnncondense.circuits._config import CircuitConfig, config_from_overrides, describe_parameters
from rnncondense.circuits.lif import LIFConfig
from rnncondense.circuits.linear2 import Linear2Config
from rnncondense.circuits.respiratory import RespiratoryConfig
from rnncondense.circuits.ring import RingConfig
from rnncondense.errors import ConfigError

__all__ = [
    "CIRCUITS",
    "CircuitSpec",
    "CircuitConfig",
    "LIFConfig",
    "Linear2Config",
    "RespiratoryConfig",
    "RingConfig",
    "make_config",
    "describe_parameters",
    "spec_of",
]



class CircuitSpec(NamedTuple):
    """A registry entry: what the circuit is, where it comes from, how to configure and run it."""

    name: str
    title: str
    reference: str
    config: type[CircuitConfig]


CIRCUITS: dict[str, CircuitSpec] = {
    spec.name: spec
    for spec in (
        CircuitSpec(
            "lif",
            "leaky integrate-and-fire neurons with AMPA, NMDA and subtractive inhibition",
            "Tesileanu, Olveczky & Balasubramanian 2017, eLife 6:e20944",
            LIFConfig,
        ),
        CircuitSpec(
            "linear2",
            "two linear rate units, tau dv/dt = -v + M v + h, and their eigenmodes",
            "Dayan & Abbott 2001, Theoretical Neuroscience, ch. 7.4",
            Linear2Config,
        ),
        CircuitSpec(
            "respiratory",
            "four-population respiratory central pattern generator (pre-I, early-I, post-I, aug-E)",
            "Rubin, Shevtsova, Ermentrout, Smith & Rybak 2009, J Neurophysiol 101:2146; ModelDB 125529",
            RespiratoryConfig,
        ),
        CircuitSpec(
            "ring",
            "threshold-linear ring attractor with a stationary and a rotating input",
            "Ben-Yishai, Bar-Or & Sompolinsky 1995, PNAS 92:3844; Zhang 1996, J Neurosci 16:2112",
            RingConfig,
        ),
    )
}


def spec_of(name: str) -> CircuitSpec:
    if not isinstance(name, str) or name not in CIRCUITS:
        raise ConfigError(f"unknown circuit {name!r}; choose one of {', '.join(CIRCUITS)}")
    return CIRCUITS[name]


def make_config(name: str, overrides: Mapping[str, Any] | None = None) -> CircuitConfig:
    """The validated config of circuit `name` with `overrides` (strings or values) applied."""
    spec = spec_of(name)
    return config_from_overrides(spec.config, overrides, circuit=name)
