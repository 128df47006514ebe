"""Reference networks built and run by PyTorch itself, for `benchmarks/import_baseline.py`.

Runs inside a throwaway environment with torch (CPU) and safetensors; it is not a dependency of
the project. Usage:
    python torch_reference.py OUT_DIR
writes, for each case, CASE.safetensors (the module's state dict, by safetensors.torch.save_file,
as a user exports it) and CASE.data.safetensors (inputs (B, T, I) and the module's outputs
(B, T, O)), and prints JSON naming the cases and their settings.

Cases: `nn.RNN` (one layer, tanh and relu) with a `Linear` readout, and the CTRNN of NeuroGym's
examples (rnn.input2h, rnn.h2h, readout fc; h_t = (1 - a) h_{t-1} + a relu(input2h(u_t) +
h2h(h_{t-1})), h_{-1} = 0, tau = 100 ms), written here from that description.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

N_UNITS, N_IN, N_OUT, BATCH, STEPS = 64, 3, 2, 16, 120


class TorchRNN(nn.Module):
    def __init__(self, nonlinearity: str):
        super().__init__()
        self.rnn = nn.RNN(N_IN, N_UNITS, nonlinearity=nonlinearity, batch_first=True)
        self.fc = nn.Linear(N_UNITS, N_OUT)

    def forward(self, inputs):
        hidden, _ = self.rnn(inputs)
        return self.fc(hidden)


class CTRNN(nn.Module):
    """NeuroGym's example continuous-time RNN: inputs (T, B, I) -> rates (T, B, N)."""

    def __init__(self, dt: float, tau: float = 100.0):
        super().__init__()
        self.alpha = dt / tau
        self.input2h = nn.Linear(N_IN, N_UNITS)
        self.h2h = nn.Linear(N_UNITS, N_UNITS)

    def forward(self, inputs):
        hidden = torch.zeros(inputs.shape[1], N_UNITS)
        rates = []
        for u in inputs:
            new = torch.relu(self.input2h(u) + self.h2h(hidden))
            hidden = hidden * (1 - self.alpha) + new * self.alpha
            rates.append(hidden)
        return torch.stack(rates)


class RNNNet(nn.Module):
    def __init__(self, dt: float):
        super().__init__()
        self.rnn = CTRNN(dt)
        self.fc = nn.Linear(N_UNITS, N_OUT)

    def forward(self, inputs):  # batch first outside, time first inside as in the example
        return self.fc(self.rnn(inputs.transpose(0, 1))).transpose(0, 1)


def _scale_recurrence(weight: torch.Tensor, gain: float) -> None:
    """Recurrent weights ~ N(0, gain^2 / N): PyTorch's default init is nearly silent."""
    with torch.no_grad():
        weight.copy_(gain * torch.randn_like(weight) / N_UNITS**0.5)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cases = {}
    for nonlinearity, gain in (("tanh", 1.3), ("relu", 0.9)):
        model = TorchRNN(nonlinearity)
        _scale_recurrence(model.rnn.weight_hh_l0, gain)
        cases[f"torch-rnn-{nonlinearity}"] = (model, {"format": "torch-rnn", "transfer": nonlinearity})
    ctrnn = RNNNet(dt=20.0)
    _scale_recurrence(ctrnn.rnn.h2h.weight, 1.1)
    cases["neurogym-ctrnn"] = (ctrnn, {"format": "neurogym-ctrnn", "dt_ms": 20.0, "tau_ms": 100.0})
    inputs = torch.randn(BATCH, STEPS, N_IN)
    for name, (model, settings) in cases.items():
        with torch.no_grad():
            outputs = model(inputs)
        save_file(model.state_dict(), str(out / f"{name}.safetensors"))
        save_file({"inputs": inputs.contiguous(), "outputs": outputs.contiguous()}, str(out / f"{name}.data.safetensors"))
    print(json.dumps({"torch": torch.__version__, "cases": {name: s for name, (_, s) in cases.items()}}))


if __name__ == "__main__":
    main()
