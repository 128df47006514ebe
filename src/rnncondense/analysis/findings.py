"""The study's findings: its own records in, one typed finding per question out (pure, no files).

Each finding answers one of the seed study's observations (DESIGN.md, "The seed's findings") with
the project's numbers, their spread, and whether the observation is reproduced, by a rule stated
here and in the sentence:

    one_shot_seed    one-shot merging, PCA pairs, the seed operator: merges kept before the task
                     fails. Original: "broke the task after about a dozen merges" (200 units);
                     reproduced when the failing merge is within a factor of 2 of 12 (6-24).
    best_operator    the one-shot run that kept the task longest, and its ratio to the seed
                     operator with the same pairing.
    iterative[_budget]  merge, retrain, repeat down to half size or below: task kept at every step,
                     and the drift from the first to the last step of ramp fraction, participation
                     ratio, scaling index and similarity to the original. Original: the task was kept
                     but the network "ended as simple ramps"; reproduced when the task was kept at every
                     step down to half size and the ramp fraction rose by at least RAMP_DRIFT while the
                     scaling index fell. One finding per retraining rule (until success, fixed budget).
    preserving       the smallest preserving network against plain iterative at the same size.
    canonical        the smallest number of response types whose network still does the task.
    sweep            per solution metric: Spearman's rank correlation with size and its p-value
                     (scipy.stats.spearmanr, over the networks that succeeded), the median and
                     interquartile range per size, where the median ramp fraction crosses 0.5; the
                     networks that failed or diverged are counted and left out of the trend.

A finding the records cannot support (a stage not run or not finished, the base network failing,
too few sizes or seeds) says so in its sentence, has `supported = False` and no numbers.
Records are rows as the study's CSV files hold them (strings) or as Python values; both are read.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
from scipy import stats

from rnncondense.metrics import SOLUTION_METRICS, metric

ORIGINAL_ONE_SHOT_FAILURE = 12  # merges (200 units, PCA pairs, seed operator)
ONE_SHOT_TOLERANCE = 2.0  # a factor either way counts as "about a dozen"
RAMP_DRIFT = 0.1  # rise in ramp fraction taken as "drifted into ramps"
# similarity to the original: the headline (DSA, `analysis.similarity.HEADLINE`) and Procrustes
DRIFT_METRICS = ("ramp_fraction", "participation_ratio", "scaling_index", "dsa_distance", "similarity_procrustes")
MIN_TREND_SIZES = 3  # sizes with a successful network, for a rank correlation with size
MIN_TREND_NETWORKS = 5
RAMP_CROSSING = 0.5


class Finding(NamedTuple):
    """One finding: its sentence, the numbers it states, whether it reproduces the original."""

    key: str  # a stable name: one_shot_seed, best_operator, iterative, iterative_budget, preserving, canonical, sweep
    title: str
    text: str  # one sentence (or two), numbers formatted by the metric registry
    supported: bool  # False: the records cannot support the finding and `text` says why
    values: dict[str, Any]  # the numbers `text` states, by name
    reproduces: bool | None  # None: no original observation to hold it against, or not supported
    source: str | None = None  # the stage it comes from ("one-shot/pca_seed", "iterative", "sweep")
    table: tuple[dict[str, Any], ...] = ()  # sweep: median and quartiles per size


class OneShotRun(NamedTuple):
    name: str  # "<similarity>_<operator>"
    similarity: str
    operator: str
    records: Sequence[dict]  # step, n_units, success per step (step 0: the original)
    finished: bool  # result.json written


class Condensation(NamedTuple):
    name: str  # the study's name for it: iterative, iterative-budget, preserving, canonical
    method: str
    operator: str
    similarity: str
    retrain_until: str  # "success" or "budget"
    records: Sequence[dict]
    finished: bool
    reason: str = ""


# ------------------------------------------------------------------------------ reading values


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "1.0", "0.0"):
        return value.strip().lower() in ("true", "1", "1.0")
    number = _float(value)
    return None if number is None else number == 1.0


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(round(number))


def _sorted(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: _int(r.get("step")) or 0)


def _fmt(name: str, value: float | None) -> str:
    return "–" if value is None else metric(name).formatted(value) if name in _REGISTERED else f"{value:.3g}"


_REGISTERED = set(SOLUTION_METRICS) | set(DRIFT_METRICS)


def _unsupported(key: str, title: str, why: str, source: str | None = None) -> Finding:
    return Finding(key, title, f"Not measured: {why}.", False, {}, None, source)


# ------------------------------------------------------------------------------ one-shot


class Failure(NamedTuple):
    merges_kept: int  # merges after which the task was still done
    failed_at: int | None  # the merge that broke it; None: it never broke (censored)
    n_units: int  # units of the original


def one_shot_failure(records: Sequence[dict]) -> Failure | None:
    """Merges kept before the first step whose network fails the task; None when the original
    itself fails or there are no records."""
    rows = _sorted(records)
    if not rows or not _bool(rows[0].get("success")):
        return None
    n_units = _int(rows[0].get("n_units")) or 0
    for row in rows[1:]:
        if not _bool(row.get("success")):
            step = _int(row.get("step")) or 0
            return Failure(step - 1, step, n_units)
    return Failure(_int(rows[-1].get("step")) or 0, None, n_units)


def _merges_text(failure: Failure) -> str:
    if failure.failed_at is None:
        return f"still did the task after {failure.merges_kept} merges (the run stopped there, so at least {failure.merges_kept})"
    return f"kept the task through {failure.merges_kept} merges and failed at merge {failure.failed_at}"


def one_shot_seed_finding(runs: Sequence[OneShotRun]) -> Finding:
    key, title = "one_shot_seed", "One-shot merging, PCA pairs, seed operator"
    run = next((r for r in runs if r.similarity == "pca" and r.operator == "seed"), None)
    if run is None:
        return _unsupported(key, title, "the study ran no one-shot condensation with PCA pairs and the seed operator")
    if not run.finished:
        return _unsupported(key, title, "the one-shot condensation with PCA pairs and the seed operator did not finish", run.name)
    failure = one_shot_failure(run.records)
    if failure is None:
        return _unsupported(key, title, "the base network does not do the task, so no merge can be said to break it", run.name)
    low, high = ORIGINAL_ONE_SHOT_FAILURE / ONE_SHOT_TOLERANCE, ORIGINAL_ONE_SHOT_FAILURE * ONE_SHOT_TOLERANCE
    if failure.failed_at is None:
        reproduces = False if failure.merges_kept > high else None
    else:
        reproduces = low <= failure.failed_at <= high
    verdict = {True: "reproduces", False: "does not reproduce", None: "cannot yet test"}[reproduces]
    text = (
        f"Merging the most PCA-similar pair with the seed operator, one pair at a time without retraining, "
        f"the {failure.n_units}-unit network {_merges_text(failure)} (one base network, so no spread across seeds); "
        f"this {verdict} the original's failure after about a dozen merges of 200 units "
        f"(taken as failing at merge {low:g}-{high:g})."
    )
    return Finding(key, title, text, True, {"merges_kept": failure.merges_kept, "failed_at": failure.failed_at,
                                            "n_units": failure.n_units}, reproduces, run.name)


def best_operator_finding(runs: Sequence[OneShotRun]) -> Finding:
    key, title = "best_operator", "The best one-shot merge"
    measured = [(run, one_shot_failure(run.records)) for run in runs if run.finished]
    measured = [(run, failure) for run, failure in measured if failure is not None]
    if not measured:
        return _unsupported(key, title, "no one-shot condensation finished on a base network that does the task")
    best, best_failure = max(measured, key=lambda item: (item[1].merges_kept, item[1].failed_at is None))
    seed = next(((r, f) for r, f in measured if r.operator == "seed" and r.similarity == best.similarity), None)
    values: dict[str, Any] = {"merges_kept": best_failure.merges_kept, "failed_at": best_failure.failed_at,
                              "similarity": best.similarity, "operator": best.operator, "ratio": None}
    text = (f"Of {len(measured)} one-shot condensations, {best.similarity} pairs with the {best.operator} operator "
            f"{_merges_text(best_failure)}")
    if seed is None:
        text += f"; the seed operator with {best.similarity} pairs was not run, so there is no ratio to it."
    elif seed[1].merges_kept == 0:
        text += "; the seed operator kept the task through no merge, so the ratio is not defined."
    else:
        ratio = best_failure.merges_kept / seed[1].merges_kept
        values["ratio"] = ratio
        bound = "at least " if best_failure.failed_at is None and seed[1].failed_at is not None else ""
        bound = "" if seed[1].failed_at is None and best_failure.failed_at is None else bound
        caveat = " (both runs stopped before failing, so the ratio is of lower bounds)" if (
            seed[1].failed_at is None and best_failure.failed_at is None) else ""
        text += (f", {bound}{ratio:.3g} times the {seed[1].merges_kept} merges of the seed operator with "
                 f"{best.similarity} pairs{caveat} (one base network, no spread across seeds).")
    return Finding(key, title, text, True, values, None, best.name)


# ------------------------------------------------------------------------------ iterative and preserving


def _direction(name: str, start: float, end: float) -> str:
    change = end - start
    if abs(change) < 1e-3 * max(1.0, abs(start)):
        return "unchanged"
    words = {
        "ramp_fraction": ("more units became ramps", "fewer units were ramps"),
        "participation_ratio": ("higher-dimensional", "lower-dimensional"),
        "scaling_index": ("more temporal scaling", "less temporal scaling"),
        "similarity_procrustes": ("closer to the original", "further from the original"),
        "dsa_distance": ("dynamics further from the original's", "dynamics closer to the original's"),
    }[name]
    return words[0] if change > 0 else words[1]


def iterative_finding(run: Condensation | None, *, key: str = "iterative") -> Finding:
    """Iterative condensation: task kept at every step, drift of the solution type, and whether it
    reproduces the original's drift into simple ramps (see the module docstring for the rule)."""
    rule = "until success" if run is None or run.retrain_until == "success" else "for a fixed budget"
    title = f"Iterative merging, retraining {rule}"
    if run is None:
        return _unsupported(key, title, f"the study ran no iterative condensation retraining {rule}")
    if not run.finished:
        return _unsupported(key, title, "the iterative condensation did not finish", run.name)
    rows = _sorted(run.records)
    if len(rows) < 2 or not _bool(rows[0].get("success")):
        return _unsupported(key, title, "the base network does not do the task" if rows else "it has no steps", run.name)
    start, end = rows[0], rows[-1]
    n_start, n_end = _int(start.get("n_units")) or 0, _int(end.get("n_units")) or 0
    lost = [r for r in rows[1:] if not _bool(r.get("success"))]
    setting = f"{run.similarity} pairs, {run.operator} operator, retraining {rule}"
    if lost:
        first = lost[0]
        return Finding(key, title, (
            f"Iterative merging ({setting}) lost the task at {_int(first.get('n_units'))} units "
            f"(step {_int(first.get('step'))}) of {n_start}, so the drift down to half size is not measured."),
            False, {"kept_every_step": False, "lost_at_units": _int(first.get("n_units"))}, False, run.name)
    if n_end > n_start / 2:
        return _unsupported(key, title, f"the iterative condensation stopped at {n_end} of {n_start} units, above half size", run.name)
    values: dict[str, Any] = {"kept_every_step": True, "n_start": n_start, "n_end": n_end, "steps": len(rows) - 1}
    parts = []
    for name in DRIFT_METRICS:
        a, b = _float(start.get(name)), _float(end.get(name))
        values[f"{name}_start"], values[f"{name}_end"] = a, b
        if a is None or b is None:
            parts.append(f"{metric(name).label} not recorded")
        else:
            parts.append(f"{metric(name).label} {_fmt(name, a)} → {_fmt(name, b)} ({_direction(name, a, b)})")
    ramp_a, ramp_b = values["ramp_fraction_start"], values["ramp_fraction_end"]
    scale_a, scale_b = values["scaling_index_start"], values["scaling_index_end"]
    if None in (ramp_a, ramp_b, scale_a, scale_b):
        reproduces = None
    else:
        reproduces = (ramp_b - ramp_a >= RAMP_DRIFT) and (scale_b < scale_a)
    verdict = {True: "reproduces", False: "does not reproduce", None: "cannot test"}[reproduces]
    text = (
        f"Iterative merging ({setting}) kept the task at every one of {len(rows) - 1} steps from {n_start} to "
        f"{n_end} units; from start to end: {'; '.join(parts)} (one run, no spread across seeds). This {verdict} "
        f"the original's drift into simple ramps (taken as ramp fraction up by at least {RAMP_DRIFT:g} and "
        f"scaling index down)."
    )
    return Finding(key, title, text, True, values, reproduces, run.name)


def _compared(budget: Finding, success: Finding) -> Finding:
    """The fixed-budget finding, with a sentence on which retraining rule reproduces the original."""
    if not (budget.supported and success.supported):
        return budget
    rises = {f.key: f.values["ramp_fraction_end"] - f.values["ramp_fraction_start"] for f in (budget, success)
             if f.values.get("ramp_fraction_end") is not None and f.values.get("ramp_fraction_start") is not None}
    if len(rises) < 2:
        return budget
    which = [name for f, name in ((success, "retraining until success"), (budget, "the fixed budget")) if f.reproduces]
    verdict = ("Neither retraining rule reproduces it" if not which else
               "Both retraining rules reproduce it" if len(which) == 2 else f"Only {which[0]} reproduces it")
    text = (f"{budget.text} {verdict}: the ramp fraction rose by {rises['iterative_budget']:+.3f} with the fixed "
            f"budget and by {rises['iterative']:+.3f} retraining until success.")
    return budget._replace(text=text, values={**budget.values, "ramp_rise_budget": rises["iterative_budget"],
                                             "ramp_rise_success": rises["iterative"]})


PRESERVE_METRICS = ("dsa_distance", "similarity_procrustes", "ramp_fraction", "scaling_index", "participation_ratio")


def _successful_steps(records: Sequence[dict]) -> dict[int | None, dict]:
    """The condensation steps after the original that did the task, by size."""
    return {_int(r.get("n_units")): r for r in _sorted(records)[1:] if _bool(r.get("success"))}


def preserving_finding(preserving: Condensation | None, plain: Condensation | None) -> Finding:
    key, title = "preserving", "Preserving the solution type"
    if preserving is None:
        return _unsupported(key, title, "the study ran no preserving condensation")
    if not preserving.finished:
        return _unsupported(key, title, "the preserving condensation did not finish", preserving.name)
    rows = _sorted(preserving.records)
    end = rows[-1] if len(rows) > 1 else None
    if end is None or not _bool(end.get("success")):
        return _unsupported(key, title, "the preserving condensation lost the task", preserving.name)
    # compared at the smallest size both reached with the task done: the preserving end itself where
    # plain iterative went as far (the full preset condenses plainly to 100 units, preserving to 20)
    reached = _int(end.get("n_units"))
    ours = _successful_steps(rows)
    theirs = _successful_steps(plain.records) if plain is not None and plain.finished else {}
    common = sorted(set(ours) & set(theirs))
    if not common:
        return _unsupported(key, title, "plain iterative condensation has no successful network of a size the preserving "
                            "one reached, to compare with", preserving.name)
    n_units = common[0]
    end, other = ours[n_units], theirs[n_units]
    values: dict[str, Any] = {"n_units": n_units, "reached": reached}
    parts = []
    for name in PRESERVE_METRICS:
        a, b = _float(end.get(name)), _float(other.get(name))
        values[f"{name}_preserving"], values[f"{name}_plain"] = a, b
        parts.append(f"{metric(name).label} {_fmt(name, a)} against {_fmt(name, b)}")
    # closer by the headline, DSA (a distance: smaller is closer), where both steps recorded it; else Procrustes
    dsa_p, dsa_i = values["dsa_distance_preserving"], values["dsa_distance_plain"]
    sim_p, sim_i = values["similarity_procrustes_preserving"], values["similarity_procrustes_plain"]
    if dsa_p is not None and dsa_i is not None:
        closer, by = dsa_p < dsa_i, "its dynamics (DSA)"
    else:
        closer, by = (None if sim_p is None or sim_i is None else sim_p > sim_i), "its geometry (Procrustes)"
    where = (f"At {n_units} units" if n_units == reached else
             f"At {n_units} units, the smallest size at which both did the task (preserving did it down to {reached})")
    text = (f"{where}, preserving retraining against plain iterative ({plain.name}): {'; '.join(parts)} "
            f"(one run each); the preserving network is {'closer to' if closer else 'no closer to'} the original by {by}.")
    values["closer"] = closer
    return Finding(key, title, text, True, values, None, preserving.name)


def canonical_finding(run: Condensation | None) -> Finding:
    key, title = "canonical", "Canonical responses"
    if run is None:
        return _unsupported(key, title, "the study ran no canonical condensation")
    if not run.finished:
        return _unsupported(key, title, "the canonical condensation did not finish", run.name)
    rows = _sorted(run.records)[1:]
    tried = sorted({_int(r.get("n_units")) for r in rows if _int(r.get("n_units")) is not None})
    working = [_int(r.get("n_units")) for r in rows if _bool(r.get("success"))]
    if not working:
        return Finding(key, title, f"No number of response types tried ({', '.join(map(str, tried))}) did the task after "
                       "retraining.", True, {"smallest": None, "tried": tried}, None, run.name)
    smallest = min(working)
    return Finding(key, title, (
        f"The smallest number of response types whose network still did the task was {smallest} "
        f"(tried: {', '.join(map(str, tried))}; one base network)."), True, {"smallest": smallest, "tried": tried},
        None, run.name)


# ------------------------------------------------------------------------------ size sweep


class SizeStats(NamedTuple):
    size: int
    networks: int  # succeeded, with a value
    median: float | None
    q25: float | None
    q75: float | None


def per_size(sizes: np.ndarray, values: np.ndarray) -> list[SizeStats]:
    """Median and quartiles (numpy's linear interpolation) of `values` per distinct size."""
    out = []
    for size in np.unique(sizes):
        v = values[sizes == size]
        if v.size:
            q25, median, q75 = np.percentile(v, [25, 50, 75])
            out.append(SizeStats(int(size), int(v.size), float(median), float(q25), float(q75)))
        else:
            out.append(SizeStats(int(size), 0, None, None, None))
    return out


def crossing(by_size: Sequence[SizeStats], level: float) -> tuple[int, int] | None:
    """The first pair of adjacent sizes between which the median crosses `level` (None: never)."""
    known = [s for s in by_size if s.median is not None]
    for a, b in zip(known, known[1:]):
        if (a.median - level) * (b.median - level) < 0 or (a.median < level <= b.median) or (b.median < level <= a.median):
            return a.size, b.size
    return None


def sweep_finding(rows: Sequence[dict], *, metrics: Sequence[str] = SOLUTION_METRICS) -> Finding:
    key, title = "sweep", "Solution type against size"
    if not rows:
        return _unsupported(key, title, "the study ran no size sweep", "sweep")
    all_sizes = sorted({_int(r.get("size")) for r in rows if _int(r.get("size")) is not None})
    ok = [r for r in rows if str(r.get("status")) == "done" and _bool(r.get("success"))]
    failed = [r for r in rows if not (str(r.get("status")) == "done" and _bool(r.get("success")))]
    failed_by_size = {s: sum(1 for r in failed if _int(r.get("size")) == s) for s in all_sizes}
    ok_sizes = sorted({_int(r["size"]) for r in ok})
    seeds = max((sum(1 for r in rows if _int(r.get("size")) == s) for s in all_sizes), default=0)
    values: dict[str, Any] = {"networks": len(rows), "failed": len(failed), "sizes": all_sizes,
                              "failed_by_size": failed_by_size}
    failed_text = (f"{len(failed)} of {len(rows)} networks did not do the task "
                   f"({', '.join(f'{n} at {s} units' for s, n in failed_by_size.items() if n)}) and are left out"
                   if failed else f"all {len(rows)} networks did the task")
    if len(ok_sizes) < MIN_TREND_SIZES or len(ok) < MIN_TREND_NETWORKS:
        return Finding(key, title, (
            f"Not measured: a trend with size needs successful networks at {MIN_TREND_SIZES} sizes or more and "
            f"{MIN_TREND_NETWORKS} networks in all; the sweep has {len(ok)} at {len(ok_sizes)} sizes "
            f"({failed_text})."), False, values, None, "sweep")
    table: list[dict[str, Any]] = []
    parts = []
    for name in metrics:
        pairs = [(float(_int(r["size"])), _float(r.get(name))) for r in ok]
        pairs = [(s, v) for s, v in pairs if v is not None]
        if len(pairs) < MIN_TREND_NETWORKS:
            parts.append(f"{metric(name).label}: too few values")
            continue
        sizes, vals = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        if np.ptp(vals) == 0:
            rho, p = math.nan, math.nan
        else:
            result = stats.spearmanr(sizes, vals)
            rho, p = float(result.statistic), float(result.pvalue)
        values[f"{name}_rho"], values[f"{name}_p"] = (None if math.isnan(rho) else rho), (None if math.isnan(p) else p)
        per = per_size(sizes, vals)
        for s in per:
            table.append({"metric": name, "size": s.size, "networks": s.networks, "median": s.median,
                          "q25": s.q25, "q75": s.q75, "failed": failed_by_size.get(s.size, 0)})
        trend = ("constant over the networks" if math.isnan(rho) else
                 f"Spearman ρ = {rho:+.2f} with size (p = {p:.2g}, n = {len(pairs)})")
        median_range = f"median {_fmt(name, per[0].median)} at {per[0].size} to {_fmt(name, per[-1].median)} at {per[-1].size} units"
        parts.append(f"{metric(name).label}: {trend}, {median_range}")
    ramp = [t for t in table if t["metric"] == "ramp_fraction"]
    if ramp:
        where = crossing([SizeStats(t["size"], t["networks"], t["median"], t["q25"], t["q75"]) for t in ramp], RAMP_CROSSING)
        values["ramp_crossing"] = where
        parts.append(f"the median ramp fraction crosses {RAMP_CROSSING:g} between {where[0]} and {where[1]} units"
                     if where else f"the median ramp fraction does not cross {RAMP_CROSSING:g}")
    spread = ("median and interquartile range per size in the table below" if seeds >= 3 else
              f"with {seeds} seed(s) per size the spread per size is not measured")
    text = (f"Over {len(ok)} networks that did the task at {len(ok_sizes)} sizes ({spread}; {failed_text}): "
            + "; ".join(parts) + ".")
    return Finding(key, title, text, True, values, None, "sweep", tuple(table))


# ------------------------------------------------------------------------------ all of them


def study_findings(
    one_shot: Sequence[OneShotRun],
    condensations: Sequence[Condensation],
    sweep_rows: Sequence[dict],
) -> list[Finding]:
    """The six findings (iterative once per retraining rule that ran), in the report's order."""
    by_name = {c.name: c for c in condensations}
    iterative = [c for c in condensations if c.method == "iterative"]
    until_success = next((c for c in iterative if c.retrain_until == "success"), None)
    budget = next((c for c in iterative if c.retrain_until == "budget"), None)
    found = [one_shot_seed_finding(one_shot), best_operator_finding(one_shot), iterative_finding(until_success)]
    if budget is not None:
        found.append(_compared(iterative_finding(budget, key="iterative_budget"), found[-1]))
    preserving = next((c for c in condensations if c.method == "preserving"), None)
    found.append(preserving_finding(preserving, until_success or budget))
    found.append(canonical_finding(by_name.get("canonical") or next(
        (c for c in condensations if c.method == "canonical"), None)))
    found.append(sweep_finding(sweep_rows))
    return found
