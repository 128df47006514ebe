"""Condensation schedules: one-shot, iterative, preserving and canonical.

    one-shot    merge the closest pair, evaluate, repeat, without retraining, until the task fails
    iterative   merge `pairs_per_step` pairs, retrain up to `retrain_iters` iterations (stopping
                at success), repeat down to `target_units`; stop if the task cannot be recovered
    preserving  as iterative, with the alignment term of condense.preserve in the retraining
    canonical   cluster the units by their normalised responses into K types, merge each cluster
                into its most typical unit, retrain; for every K of `clusters`

"The task is kept" (success) is Cue-Set-Go's timing success or, with `max_mse_increase` and always
for a task of trials from a file, validation mse <= (1 + max_mse_increase) x the original's
(`Context.criterion`, analysis.task_metrics.MseCriterion); retraining then stops at that success.
Each step yields a record (size, merges, retraining, task metrics, solution-type metrics and
similarity to the original) and the network itself, through `on_step`; a schedule can continue
from any recorded step, and draws every random number from `fold_in(key, step)`, so a resumed
condensation ends as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax
import numpy as np
import scipy.cluster.hierarchy as hierarchy
from scipy.spatial.distance import squareform

from rnncondense.analysis.behavior import BehaviorMetrics, evaluate
from rnncondense.analysis.array_activity import array_similarity
from rnncondense.analysis.similarity import DSA_N_DELAYS, DSA_RANK, dsa, similarity
from rnncondense.analysis.task_metrics import MseCriterion, evaluate_array_task, judged
from rnncondense.analysis.summary import solution_metrics
from rnncondense.condense.config import CondenseConfig
from rnncondense.condense.merge import compact, merge_units
from rnncondense.condense.pairing import greedy_pairs, unit_distances
from rnncondense.condense.preserve import alignment_reference, preserving_objective, procrustes_to_reference
from rnncondense.config import RunConfig
from rnncondense.metrics import DEFAULT_MAX_MSE_INCREASE, DYNAMICS_METRICS, SUCCESS_REL_ERROR
from rnncondense.rnn import Params, simulate
from rnncondense.tasks import make_task
from rnncondense.tasks.cue_set_go import CueSetGo
from rnncondense.train.loop import initial_state, run_loop
from rnncondense.train.trainers import Objective, make_trainer

SOLUTION_KEYS = ("pcs_90", "participation_ratio", "scaling_index", "ramp_fraction", "spectral_radius", *DYNAMICS_METRICS)
# fixed points of every measured step: 3 contexts, 16 starts, shared programs (analysis.dynamics: about
# 0.3 s a step once the padded size's programs are compiled)
STEP_FIXED_POINTS = "records"
TASK_KEYS = ("mse", "timing_mae_ms", "timing_rel_error", "miss_rate", "success")


@dataclass
class State:
    """Where a condensation stands: the network (full size with `alive`, or compact), and the
    original index of each of its units."""

    step: int
    params: Params
    alive: np.ndarray  # (N_params,) bool
    unit_ids: np.ndarray  # (N_params,) original unit index

    @property
    def n_units(self) -> int:
        return int(self.alive.sum())

    def compact(self) -> tuple[Params, np.ndarray]:
        return compact(self.params, self.alive), self.unit_ids[self.alive]


OnStep = Callable[[State, dict], None]


@dataclass
class Context:
    """What every step needs: settings, the task, the original's reference measurements."""

    run: RunConfig
    settings: CondenseConfig
    task: CueSetGo
    key: jax.Array
    original: Params
    original_trajectories: Any  # for similarity
    evaluate: Callable[[Params], BehaviorMetrics]
    criterion: MseCriterion | None = None  # None: Cue-Set-Go's own success
    original_rates: np.ndarray | None = None  # (condition, time, unit) condition-averaged, for DSA

    @classmethod
    def create(cls, run: RunConfig, settings: CondenseConfig, original: Params) -> Context:
        """The context, with the original network's trajectories to measure similarity against, and
        the criterion of "the task is kept": Cue-Set-Go's success, or validation mse within
        `max_mse_increase` of the original's (always so for trials from a file, which have no
        success of their own)."""
        task = make_task(run.task)
        k_eval = jax.random.fold_in(jax.random.PRNGKey(settings.seed), 2**31 - 1)
        common = dict(alpha=run.alpha, sigma_rec=run.model.sigma_rec, key=k_eval, repeats=run.train.val_noise_repeats,
                      dynamics=run.dynamics)
        if run.task.name == "arrays":
            measured = lambda p: evaluate_array_task(p, task, check_finite=False, **common)  # noqa: E731
        else:
            batch = task.validation_batch()
            measured = lambda p: evaluate(p, task, batch=batch, **common)  # noqa: E731
        criterion = None
        if settings.max_mse_increase is not None or run.task.name == "arrays":
            increase = DEFAULT_MAX_MSE_INCREASE if settings.max_mse_increase is None else settings.max_mse_increase
            criterion = MseCriterion(increase, float(measured(original).mse))
        evaluator = lambda p: judged(measured(p), criterion)  # noqa: E731
        reference = solution_metrics(original, run, k=settings.k)
        return cls(run, settings, task, jax.random.PRNGKey(settings.seed), original, reference.trajectories, evaluator,
                   criterion, reference.activity["rate"].values)

    def describe_criterion(self) -> str:
        """In words, what "the task is kept" meant."""
        if self.criterion is None:
            return f"Cue-Set-Go's success (timing_rel_error <= {SUCCESS_REL_ERROR:g}, no misses)"
        return self.criterion.describe()

    def step_key(self, step: int) -> jax.Array:
        return jax.random.fold_in(self.key, step)


# ------------------------------------------------------------------------------ measurements


def response_inputs(context: Context) -> jax.Array:
    """Inputs (B, T, I) of the noise-free trials whose responses pair units: one trial per
    interval of Cue-Set-Go, or the validation trials of a file of trials."""
    if context.run.task.name == "arrays":
        return context.task.validation_batch().inputs
    return context.task.condition_batch().inputs


def recorded_responses(params: Params, context: Context) -> np.ndarray:
    """(samples, N) noise-free rates of one trial per interval (Cue-Set-Go; the validation trials
    of a file of trials), over the whole trial."""
    rates = simulate(params, response_inputs(context), alpha=context.run.alpha, dynamics=context.run.dynamics).rates
    return np.asarray(rates).reshape(-1, params.W_rec.shape[0])


def recorded_rates(params: Params, context: Context, key: jax.Array) -> np.ndarray:
    """(samples, N) rates of noisy trials, at the steps the loss counts: the data merges are fitted on."""
    batch = context.task.sample(key, context.settings.record_trials)
    k_noise = jax.random.fold_in(key, 1)
    rates = simulate(params, batch.inputs, k_noise, alpha=context.run.alpha, sigma_rec=context.run.model.sigma_rec,
                     dynamics=context.run.dynamics).rates
    return np.asarray(rates)[np.asarray(batch.mask) > 0]


def measure(state: State, context: Context, *, solution: bool = True) -> dict:
    """Task metrics of the network, and (with `solution`) its solution type and similarity to the original."""
    behavior = context.evaluate(state.params)
    record: dict[str, Any] = {
        "step": state.step,
        "n_units": state.n_units,
        **{key: getattr(behavior, key) for key in TASK_KEYS},
        "produced_ms": behavior.produced_ms,
    }
    if hasattr(behavior, "output_correlation"):  # trials from a file: timing is not applicable
        record.update({key: None for key in ("timing_mae_ms", "timing_rel_error", "miss_rate")},
                      output_correlation=behavior.output_correlation)
    return {**record, **measure_solution(state, context)} if solution else record


def measure_solution(state: State, context: Context) -> dict:
    """Solution-type metrics of the network and its similarity to the original."""
    alive = None if state.alive.all() else state.alive
    metrics = solution_metrics(state.params, context.run, k=min(context.settings.k, state.n_units), alive=alive,
                               fixed_points=STEP_FIXED_POINTS)
    record = {key: metrics.numbers[key] for key in SOLUTION_KEYS}
    record["fixed_points"] = metrics.numbers["fixed_points"]  # per context
    k = min(context.settings.k, state.n_units, context.original_trajectories.sizes["unit"])
    compare = array_similarity if context.run.task.name == "arrays" else similarity
    sim = compare(context.original_trajectories, metrics.trajectories, k=k)
    record.update(similarity_procrustes=sim.procrustes, similarity_cca=sim.cca, dsa_distance=None)
    if context.original_rates is not None:  # the headline (analysis.similarity.HEADLINE)
        try:
            record["dsa_distance"] = dsa(context.original_rates, metrics.activity["rate"].values,
                                         n_delays=DSA_N_DELAYS, rank=DSA_RANK).distance
        except ValueError:  # a network too small for the operator's rank
            pass
    return record


def retrain(
    params: Params, context: Context, key: jax.Array, objective: Objective | None = None, damping: float | None = None
) -> tuple[Params, dict]:
    """Up to `retrain_iters` iterations of the run's trainer, stopping where the run's training
    stopped (success within `train.stop_rel_error`), or, with `retrain_until = "budget"`, exactly
    `retrain_iters` iterations (the seed study's fixed budget); the best network validated.

    `damping` starts Hessian-free's lambda where the previous retraining left it, rather than at
    its initial value: after a merge the network is close to a trained one.
    """
    trainer = make_trainer(context.run, context.task, objective)
    state = initial_state(params, trainer)
    if damping is not None and hasattr(state.opt_state, "damping"):
        state.opt_state = state.opt_state._replace(damping=jax.numpy.asarray(damping, state.opt_state.damping.dtype))
    state = run_loop(
        state,
        trainer,
        train_key=key,
        evaluate=context.evaluate,
        max_iters=context.settings.retrain_iters,
        eval_every=context.run.train.eval_every,
        stop_on_success=context.settings.retrain_until == "success",
        # judged by mse, success alone stops retraining (the timing error need not be small)
        stop_rel_error=context.run.train.stop_rel_error if context.criterion is None else math.inf,
    )
    recovered = bool(state.best_metrics and state.best_metrics["success"])
    info = {"retrain_iterations": state.iteration, "retrain_success": recovered}
    if hasattr(state.opt_state, "damping"):
        info["damping"] = float(state.opt_state.damping)
    return state.best_params, info


# ------------------------------------------------------------------------------ schedules


def start(params: Params) -> State:
    n = params.W_rec.shape[0]
    return State(step=0, params=params, alive=np.ones(n, bool), unit_ids=np.arange(n))


def one_shot(state: State, context: Context, on_step: OnStep) -> str:
    """Merge one pair at a time without retraining until the task fails (or `max_merges`);
    returns why it stopped."""
    settings = context.settings
    max_merges = settings.max_merges or state.alive.size
    while True:
        if state.step >= max_merges:
            return f"stopped after max_merges = {max_merges} merges"
        if state.n_units <= 2:
            return "stopped with 2 units left"
        started = time.perf_counter()
        key = context.step_key(state.step + 1)
        responses = recorded_responses(state.params, context)
        distance = unit_distances(responses, similarity=settings.similarity, k=min(settings.k, state.n_units))
        (pair,) = greedy_pairs(distance, 1, variance=responses.var(axis=0), alive=state.alive)
        params, alive = merge_units(
            state.params, recorded_rates(state.params, context, key), [(pair.removed, pair.kept)],
            operator=settings.operator, alive=state.alive, ridge=settings.ridge,
        )
        state = State(state.step + 1, params, alive, state.unit_ids)
        record = measure(state, context, solution=False)
        failed = not record["success"]
        if failed or state.step % settings.metrics_every == 0:
            record.update(measure_solution(state, context))
        record["merged"] = [[int(state.unit_ids[pair.removed]), int(state.unit_ids[pair.kept])]]
        record["elapsed_s"] = time.perf_counter() - started
        on_step(state, record)
        if failed:
            return f"the task failed after {state.step} merges ({state.n_units} units)"


def iterative(
    state: State,
    context: Context,
    on_step: OnStep,
    *,
    target_units: int,
    preserving: bool = False,
    damping: float | None = None,
) -> str:
    """Merge pairs, retrain, repeat down to `target_units`; returns why it stopped.

    `damping`: Hessian-free's lambda at the end of the previous step's retraining, if any.
    """
    settings = context.settings
    objective = reference = None
    if preserving:
        reference = alignment_reference(context.original, context.task, alpha=context.run.alpha, k=settings.k,
                                        dynamics=context.run.dynamics)
        objective = preserving_objective(
            context.task, reference, alpha=context.run.alpha, sigma_rec=context.run.model.sigma_rec,
            weight=settings.preserve_weight, dynamics=context.run.dynamics,
        )
    while state.n_units > target_units:
        started = time.perf_counter()
        key = context.step_key(state.step + 1)
        params, unit_ids = state.compact()
        responses = recorded_responses(params, context)
        distance = unit_distances(responses, similarity=settings.similarity, k=min(settings.k, len(unit_ids)))
        n_pairs = min(settings.pairs_per_step, len(unit_ids) - target_units)
        pairs = greedy_pairs(distance, n_pairs, variance=responses.var(axis=0))
        merged, alive = merge_units(
            params, recorded_rates(params, context, key), [(p.removed, p.kept) for p in pairs],
            operator=settings.operator, ridge=settings.ridge,
        )
        params, ids = compact(merged, alive), unit_ids[alive]
        params, retraining = retrain(params, context, jax.random.fold_in(key, 2), objective, damping)
        damping = retraining.get("damping")
        state = State(state.step + 1, params, np.ones(len(ids), bool), ids)
        record = measure(state, context)
        if preserving:
            record["alignment"] = procrustes_to_reference(params, reference, alpha=context.run.alpha,
                                                          dynamics=context.run.dynamics)
        record.update(retraining)
        record["merged"] = [[int(unit_ids[p.removed]), int(unit_ids[p.kept])] for p in pairs]
        record["elapsed_s"] = time.perf_counter() - started
        on_step(state, record)
        jax.clear_caches()  # programs compiled for this size are not needed again
        if not retraining["retrain_success"]:
            return (
                f"the task could not be recovered at {state.n_units} units within "
                f"{settings.retrain_iters} retraining iterations"
            )
    return f"reached {state.n_units} units"


def _unit_normalized(responses: np.ndarray) -> np.ndarray:
    """Responses (samples, N) centred and scaled to unit norm per unit (silent units stay 0), so
    that z.T @ z is the correlation matrix."""
    z = responses - responses.mean(axis=0)
    norm = np.linalg.norm(z, axis=0)
    return z / np.where(norm > 0, norm, 1.0)


def cluster_units(responses: np.ndarray, n_clusters: int) -> np.ndarray:
    """Cluster labels (N,) from average-linkage clustering on correlation distance of the
    z-scored responses (samples, N); silent units join the cluster they are closest to."""
    z = _unit_normalized(responses)
    distance = np.clip(1.0 - z.T @ z, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = hierarchy.linkage(squareform(distance, checks=False), method="average")
    return hierarchy.fcluster(tree, t=n_clusters, criterion="maxclust") - 1


def canonical(original: Params, context: Context, on_step: OnStep, *, start_step: int = 0) -> str:
    """For each K of `clusters`: merge each response type into its most typical unit, retrain."""
    settings = context.settings
    responses = recorded_responses(original, context)
    z = _unit_normalized(responses)
    smallest = None
    for index, n_clusters in enumerate(settings.clusters):
        step = index + 1
        if step <= start_step:
            continue
        started = time.perf_counter()
        key = context.step_key(step)
        labels = cluster_units(responses, n_clusters)
        pairs = []
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            typical = members[np.argmax((z[:, members].T @ z[:, members]).sum(axis=0))]
            pairs += [(int(m), int(typical)) for m in members if m != typical]
        merged, alive = merge_units(
            original, recorded_rates(original, context, key), pairs, operator=settings.operator, ridge=settings.ridge
        )
        params, retraining = retrain(compact(merged, alive), context, jax.random.fold_in(key, 2))
        ids = np.flatnonzero(alive)
        state = State(step, params, np.ones(len(ids), bool), ids)
        record = {**measure(state, context), **retraining, "clusters": int(len(ids))}
        record["elapsed_s"] = time.perf_counter() - started
        on_step(state, record)
        jax.clear_caches()  # programs compiled for this size are not needed again
        if record["success"]:
            smallest = len(ids)
    return "no K kept success" if smallest is None else f"smallest K that keeps success: {smallest}"

