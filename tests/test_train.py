"""Training loop: determinism, checkpoints, resume after an interruption, NaN handling."""

import jax
import numpy as np
import pytest

from rnncondense import layout, storage
from rnncondense.errors import FileFormatError, RunDirError, TrainingDiverged
from rnncondense.train.loop import initial_state, run_loop
from rnncondense.runs.train import load_checkpoint, make_trainer, save_checkpoint, train_run
from rnncondense.train.trainer import Trainer


def _final_params(run_dir):
    tensors, meta = storage.load_tensors(run_dir / layout.CHECKPOINT_FILE, kind="checkpoint")
    return {k: v for k, v in tensors.items() if k.startswith("params")}, meta


def _nan_equal(rows_a, rows_b):
    import math

    same = lambda x, y: x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))  # noqa: E731
    return len(rows_a) == len(rows_b) and all(
        a.keys() == b.keys() and all(same(a[k], b[k]) for k in a) for a, b in zip(rows_a, rows_b)
    )


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_same_seed_gives_identical_parameters_after_20_steps(tiny_config, tmp_path):
    train_run(tiny_config, tmp_path / "a")
    train_run(tiny_config, tmp_path / "b")
    (a, meta_a), (b, _) = _final_params(tmp_path / "a"), _final_params(tmp_path / "b")
    assert meta_a["iteration"] == 20
    _assert_same(a, b)
    other = tiny_config.model_copy(update={"train": tiny_config.train.model_copy(update={"seed": 1})})
    train_run(other, tmp_path / "c")
    c, _ = _final_params(tmp_path / "c")
    assert not np.array_equal(a["params.W_rec"], c["params.W_rec"])


def test_training_lowers_the_loss(tiny_config, tmp_path):
    n_iters = 60 if tiny_config.train.trainer == "adam" else 15
    config = tiny_config.model_copy(update={"train": tiny_config.train.model_copy(update={"max_iters": n_iters})})
    result = train_run(config, tmp_path / "run")
    rows = list(storage.read_rows(tmp_path / "run" / layout.HISTORY_FILE))
    losses = [float(r["loss"]) for r in rows]
    assert len(rows) == n_iters
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    assert (tmp_path / "run" / layout.PARAMS_FILE).exists() and (tmp_path / "run" / layout.METRICS_FILE).exists()
    metrics = storage.read_json(tmp_path / "run" / layout.METRICS_FILE)
    assert metrics["training"]["iterations"] == n_iters
    assert metrics["validation"]["mse"] == pytest.approx(result.metrics.mse)


def test_checkpoint_round_trip(tiny_config, tmp_path):
    from rnncondense.tasks import make_task

    task = make_task(tiny_config.task)
    trainer = make_trainer(tiny_config, task)
    from rnncondense.runs.train import RunKeys, init_network, make_evaluator

    keys = RunKeys.from_seed(0)
    state = initial_state(init_network(tiny_config, keys.init, task), trainer)
    state = run_loop(state, trainer, train_key=keys.train, evaluate=make_evaluator(tiny_config, task, keys.eval), max_iters=7, eval_every=5)
    save_checkpoint(tmp_path, state, tiny_config, trainer)
    template = initial_state(init_network(tiny_config, keys.init, task), trainer)
    loaded = load_checkpoint(tmp_path, tiny_config, trainer, template)
    assert loaded.iteration == 7 and loaded.best_iteration == state.best_iteration
    for a, b in zip(jax.tree_util.tree_leaves((state.params, state.opt_state, state.best_params)),
                    jax.tree_util.tree_leaves((loaded.params, loaded.opt_state, loaded.best_params))):
        np.testing.assert_array_equal(a, b)
    assert _nan_equal(loaded.history, state.history)
    assert loaded.best_metrics == storage._json_safe(state.best_metrics)
    # saved as safetensors with JSON metadata: the header is plain JSON, no pickle
    raw = (tmp_path / layout.CHECKPOINT_FILE).read_bytes()
    assert b'"format":"rnncondense"' in raw[:4096] and b"pickle" not in raw


def test_params_round_trip_and_checks(tmp_path):
    from rnncondense.rnn import init_params

    params = init_params(jax.random.PRNGKey(0), 12)._replace(W_out=jax.numpy.ones((1, 12)))
    storage.save_params(tmp_path / "p.safetensors", params, meta={"note": "x"})
    loaded, meta = storage.load_params(tmp_path / "p.safetensors")
    assert meta == {"note": "x"}
    for a, b in zip(params, loaded):
        np.testing.assert_array_equal(a, b)
    data = bytearray((tmp_path / "p.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="bad.safetensors: checksum mismatch"):
        storage.load_params(tmp_path / "bad.safetensors")
    (tmp_path / "short.safetensors").write_bytes(bytes(data[:40]))
    with pytest.raises(FileFormatError, match="short.safetensors"):
        storage.load_params(tmp_path / "short.safetensors")


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("how", ["ctrl-c", "crash"])
def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(tiny_config, tmp_path, how):
    train_run(tiny_config, tmp_path / "full")

    def stop_at_13(progress):
        if progress.iteration == 13:
            raise KeyboardInterrupt if how == "ctrl-c" else _Interrupt()

    with pytest.raises(KeyboardInterrupt if how == "ctrl-c" else _Interrupt):
        train_run(tiny_config, tmp_path / "cut", on_progress=stop_at_13)
    _, meta = _final_params(tmp_path / "cut")
    assert meta["iteration"] == (13 if how == "ctrl-c" else 10)  # Ctrl-C saves; a crash keeps the last periodic one
    train_run(tiny_config, tmp_path / "cut", resume=True)
    full, _ = _final_params(tmp_path / "full")
    resumed, meta = _final_params(tmp_path / "cut")
    assert meta["iteration"] == 20
    _assert_same(full, resumed)
    best_full, _ = storage.load_params(tmp_path / "full" / layout.PARAMS_FILE)
    best_resumed, _ = storage.load_params(tmp_path / "cut" / layout.PARAMS_FILE)
    for a, b in zip(best_full, best_resumed):
        np.testing.assert_array_equal(a, b)
    rows = list(storage.read_rows(tmp_path / "cut" / layout.HISTORY_FILE))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 21))


def test_new_run_never_overwrites(tiny_adam_config, tmp_path):
    tiny_config = tiny_adam_config
    train_run(tiny_config, tmp_path / "run")
    before = (tmp_path / "run" / layout.PARAMS_FILE).read_bytes()
    with pytest.raises(RunDirError, match="already holds a run"):
        train_run(tiny_config, tmp_path / "run")
    assert (tmp_path / "run" / layout.PARAMS_FILE).read_bytes() == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not empty"):
        train_run(tiny_config, other)
    assert (other / "notes.txt").read_text() == "mine"


def test_resume_refuses_a_different_config(tiny_adam_config, tmp_path):
    tiny_config = tiny_adam_config
    train_run(tiny_config, tmp_path / "run")
    changed = tiny_config.model_copy(update={"model": tiny_config.model.model_copy(update={"n_units": 17})})
    with pytest.raises(RunDirError, match=r"holds a run .* that differs in model.n_units \(16 there, 17 here\)"):
        train_run(changed, tmp_path / "run", resume=True)


def test_non_finite_steps_are_rejected_and_training_stops_after_ten():
    from rnncondense.rnn import init_params

    params = init_params(jax.random.PRNGKey(0), 4)
    calls = []

    def step(p, s, key):
        calls.append(1)
        bad = len(calls) > 3
        new = jax.tree.map(lambda x: x * np.nan if bad else x + 1.0, p)
        return new, s + 1, {"loss": np.nan if bad else 1.0}

    trainer = Trainer("toy", init=lambda p: np.zeros(()), step=step, columns=("loss",), on_reject=lambda s: s - 100)
    saved = []
    state = initial_state(params, trainer)
    evaluate = lambda p: pytest.fail("no validation expected")  # noqa: E731
    with pytest.raises(TrainingDiverged, match="10 steps in a row gave NaN or inf"):
        run_loop(state, trainer, train_key=jax.random.PRNGKey(0), evaluate=evaluate, max_iters=100,
                 eval_every=1000, save_checkpoint=saved.append)
    assert state.iteration == 13 and len(saved) == 1
    np.testing.assert_array_equal(state.params.W_rec, params.W_rec + 1.0 + 1.0 + 1.0)  # the last good parameters
    assert float(state.opt_state) == 3 - 1000  # on_reject was applied to every rejected step
