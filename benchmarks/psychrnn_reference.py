"""Reference networks built and run by PsychRNN 1.0 (`Basic`, TensorFlow), for
`benchmarks/import_baseline.py`.

Runs inside a throwaway environment with tensorflow-cpu and psychrnn; it is not a dependency of the
project. Usage:
    python psychrnn_reference.py OUT_DIR
writes CASE.npz by PsychRNN's own `model.save` and CASE.data.safetensors (inputs and the outputs
of `model.test`), and prints JSON naming the cases and their settings. The networks have random
weights, biases and initial state, sparse connectivity masks and no recurrent noise; one case has
Dale's law on (dale_ratio 0.8).
"""

import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from psychrnn.backend.models.basic import Basic

N_UNITS, N_IN, N_OUT, BATCH, STEPS, DT, TAU = 50, 3, 2, 16, 120, 10.0, 100.0


def _params(name: str, rng: np.random.Generator, dale_ratio) -> dict:
    W_rec = rng.normal(0, 1.2 / np.sqrt(N_UNITS), (N_UNITS, N_UNITS))
    if dale_ratio is not None:  # inhibitory columns scaled as PsychRNN's balance_dale_ratio, lest relu run away
        W_rec[:, int(dale_ratio * N_UNITS):] *= dale_ratio / (1 - dale_ratio)
    return {
        "name": name, "N_in": N_IN, "N_rec": N_UNITS, "N_out": N_OUT, "N_steps": STEPS, "dt": DT, "tau": TAU,
        "N_batch": BATCH, "rec_noise": 0.0, "dale_ratio": dale_ratio,
        "W_rec": W_rec,
        "W_in": rng.normal(0, 1, (N_UNITS, N_IN)), "W_out": rng.normal(0, 0.5, (N_OUT, N_UNITS)),
        "b_rec": rng.normal(0, 0.1, N_UNITS), "b_out": rng.normal(0, 0.1, N_OUT),
        "init_state": rng.normal(0.1, 0.3, (1, N_UNITS)),
        "rec_connectivity": (rng.random((N_UNITS, N_UNITS)) < 0.6).astype(float),
        "input_connectivity": (rng.random((N_UNITS, N_IN)) < 0.8).astype(float),
        "output_connectivity": (rng.random((N_OUT, N_UNITS)) < 0.8).astype(float),
    }


def main() -> None:
    import tensorflow as tf

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    inputs = rng.normal(0, 1, (BATCH, STEPS, N_IN)).astype(np.float32)
    cases = {}
    for name, dale_ratio in (("psychrnn-relu", None), ("psychrnn-dale", 0.8)):
        model = Basic(_params(name.replace("-", "_"), rng, dale_ratio))
        outputs, _ = model.test(inputs)
        model.save(str(out / f"{name}.npz"))
        model.destruct()
        save_file({"inputs": inputs, "outputs": np.asarray(outputs, np.float32)}, str(out / f"{name}.data.safetensors"))
        cases[name] = {"format": "psychrnn", "dt_ms": DT, "tau_ms": TAU, "transfer": "relu"}
    print(json.dumps({"tensorflow": tf.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
