"""Ensembles: member k ends as the same network trained alone by `train_run` (parameters, history,
metrics), for Adam and Hessian-free; an interrupted ensemble resumes exactly; bad member sets."""

import json

import numpy as np
import pytest

from rnncondense import layout, storage
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError
from rnncondense.runs.ensemble import check_members, train_ensemble
from rnncondense.runs.train import train_run

BASE = {
    "task": {"intervals_ms": [500.0, 800.0], "tail_ms": 100.0, "val_trials_per_interval": 3},
    "model": {"n_units": 8},
    "train": {"max_iters": 10, "eval_every": 5, "checkpoint_every": 5, "stop_on_success": False,
              "adam": {"batch_size": 8}, "hf": {"gradient_batch_size": 8, "curvature_batch_size": 4, "cg_max_iters": 10}},
}


def _config(trainer, seed, model=None, adam=None, hf=None, **train):
    data = json.loads(json.dumps(BASE))
    data["model"].update(model or {})
    data["train"].update(trainer=trainer, seed=seed, **train)
    data["train"]["adam"].update(adam or {})
    data["train"]["hf"].update(hf or {})
    return config_from_dict(data)


def _history(run_dir):
    tensors, _ = storage.load_tensors(run_dir / layout.CHECKPOINT_FILE, kind="checkpoint")
    return {k: v for k, v in tensors.items() if k.startswith("history/") and k != "history/elapsed_s"}, tensors


def _assert_same_run(ensemble_dir, single_dir, rtol=2e-5, atol=1e-6):
    """Same files, same final and best parameters, optimiser state, history and metrics."""
    assert sorted(p.name for p in ensemble_dir.iterdir()) == sorted(p.name for p in single_dir.iterdir())
    (_, t_e), (_, t_s) = _history(ensemble_dir), _history(single_dir)
    assert sorted(t_e) == sorted(t_s)
    for name in t_s:
        if name != "history/elapsed_s":
            np.testing.assert_allclose(t_e[name], t_s[name], rtol=rtol, atol=atol, err_msg=name)
    p_e, _ = storage.load_params(ensemble_dir / layout.PARAMS_FILE)
    p_s, _ = storage.load_params(single_dir / layout.PARAMS_FILE)
    for a, b in zip(p_e, p_s):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
    m_e = json.loads((ensemble_dir / layout.METRICS_FILE).read_text())
    m_s = json.loads((single_dir / layout.METRICS_FILE).read_text())
    for name in ("mse", "timing_mae_ms", "miss_rate", "success"):
        expected = m_s["validation"][name]  # None where no trial crossed the threshold
        assert m_e["validation"][name] == (expected if expected is None else pytest.approx(expected, rel=1e-4)), name
    for name in ("iterations", "stopped", "best_iteration", "success_iteration", "trainer", "n_units"):
        assert m_e["training"][name] == m_s["training"][name], name


class _Interrupt(Exception):
    pass


def test_adam_members_end_as_networks_trained_alone_and_resume_exactly(tmp_path):
    """Three members differing in seed, gain, noise, learning rate and clip; then the same
    ensemble stopped by an exception at iteration 7 and resumed from its checkpoints at 5."""
    configs = [
        _config("adam", 0),
        _config("adam", 1, model={"g": 1.5, "sigma_rec": 0.0}, adam={"learning_rate": 3e-3}),
        _config("adam", 2, model={"sigma_rec": 0.1, "x0_std": 0.2}, adam={"clip_norm": 0.1}),
    ]
    dirs = [tmp_path / f"ens{k}" for k in range(3)]
    results = train_ensemble(configs, dirs)
    for k, config in enumerate(configs):
        alone = train_run(config, tmp_path / f"alone{k}")
        _assert_same_run(dirs[k], tmp_path / f"alone{k}")
        assert results[k].metrics.mse == pytest.approx(alone.metrics.mse, rel=1e-4)

    def stop_at_7(k, progress):
        if progress.iteration == 7:
            raise _Interrupt

    again = [tmp_path / f"again{k}" for k in range(3)]
    with pytest.raises(_Interrupt):
        train_ensemble(configs, again, on_progress=stop_at_7)
    assert not (again[0] / layout.PARAMS_FILE).exists()
    train_ensemble(configs, again, resume=True)
    for k in range(3):
        _assert_same_run(again[k], dirs[k], rtol=0, atol=0)

    # A finished member is frozen while the others go on: member 0 is taken to 14 iterations by a
    # single run, then the ensemble is resumed to 14: member 0 must stay as it is, and member 1
    # must end as its single run resumed to 14.
    longer = [c.model_copy(update={"train": c.train.model_copy(update={"max_iters": 14})}) for c in configs]
    train_run(longer[0], again[0], resume=True)
    before, _ = storage.load_tensors(again[0] / layout.CHECKPOINT_FILE, kind="checkpoint")
    train_ensemble(longer, again, resume=True)
    after, _ = storage.load_tensors(again[0] / layout.CHECKPOINT_FILE, kind="checkpoint")
    assert sorted(after) == sorted(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    train_run(longer[1], tmp_path / "alone1", resume=True)
    _assert_same_run(again[1], tmp_path / "alone1")
    assert len(_history(again[2])[0]["history/loss"]) == 14


def test_hf_members_end_as_networks_trained_alone(tmp_path):
    """Hessian-free: its own damping per member (one starts at 2), CG, backtracking and line search.

    Float32 agreement needs members whose discrete choices (the CG iterate kept by backtracking,
    the line search's step) are not near ties, which rounding of the order of one ulp can flip:
    a member started at lambda = 0.1 with g = 1.3 drifts by 1e-3 in its validation mse after 4
    iterations even between a single run and an ensemble of one, and with seed 3 instead of 1 the
    second member below took another path on an AVX-512 CPU, as did a single run started at
    lambda = 2 x (1 - 1e-6). Both members here keep lambda >= 0.4, and single runs started at
    lambda x (1 +- 1e-7 ... 1e-5) stayed within 1e-5 of theirs."""
    configs = [_config("hf", 0, max_iters=4, eval_every=2, checkpoint_every=2),
               _config("hf", 1, max_iters=4, eval_every=2, checkpoint_every=2, model={"g": 1.3}, hf={"initial_damping": 2.0})]
    dirs = [tmp_path / f"ens{k}" for k in range(2)]
    train_ensemble(configs, dirs)
    for k, config in enumerate(configs):
        train_run(config, tmp_path / f"alone{k}")
        _assert_same_run(dirs[k], tmp_path / f"alone{k}", rtol=1e-4, atol=1e-5)
    lam = [_history(d)[0]["history/lambda"] for d in dirs]
    assert lam[0][0] == pytest.approx(1.0) and lam[1][0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "other, message",
    [
        ({"model": {"n_units": 9}}, "ensemble member 1: model.n_units = 9 differs from member 0's (8); members may differ only in"),
        ({"model": {"tau_ms": 50.0}}, "ensemble member 1: model.tau_ms = 50.0 differs from member 0's (100.0)"),
        ({"hf": {"cg_max_iters": 5}}, "ensemble member 1: train.hf.cg_max_iters = 5 differs from member 0's (10)"),
    ],
)
def test_members_may_differ_only_in_shape_preserving_fields(other, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_members([_config("hf", 0), _config("hf", 1, **other)])
