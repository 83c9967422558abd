"""Printing results: JSON (``--json``, the results' ``to_dict()``) and the human-readable text of each command."""
from __future__ import annotations

import math
import sys

from ..serialize import dumps_json


def plain(obj):
    """Numbers as Python floats/ints for text output (never ``np.float64(...)``)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return obj.item()
    return obj


def print_json(obj) -> None:
    """``obj`` as ``json.dump(finite(obj), indent=2, allow_nan=False)`` prints it, numpy arrays as their lists
    (formatted in bulk: :func:`numerics.serialize.dumps_json`)."""
    sys.stdout.write(dumps_json(obj) + "\n")


def with_error(value: float, error: float) -> str:
    """``value ± error`` with the error to two significant digits and the value to the same decimal place (no
    digit printed beyond what the error leaves)."""
    if not (math.isfinite(value) and math.isfinite(error) and error > 0):
        return f"{value:.4g}"
    places = max(0, 1 - math.floor(math.log10(error)))
    return f"{value:.{places}f} ± {error:.{places}f}"


def outcome_text(outcome: dict) -> str:
    name = outcome["name"]
    if name == "chaotic":
        return (f"chaotic (largest Lyapunov exponent {with_error(outcome['lyapunov'], outcome['lyapunov_error'])}"
                f" over the last {outcome['window']} steps; no period up to {outcome['max_period']})")
    if name == "undetermined":
        return f"undetermined: {outcome['reason']}"
    shown = ("period", "step")
    detail = {k: v for k, v in plain(outcome).items() if k in shown}
    text = f"{name} {detail if detail else ''}".rstrip()
    if name == "diverged" and outcome.get("roundoff_sensitive"):
        text += " (after a chaotic transient: the step is not reproducible in float64)"
    return text


def roundoff_text(outcome: dict) -> str | None:
    """What a run that passed through a chaotic transient says about its round-off dependence (``None`` if it did
    not pass through one)."""
    if "roundoff" not in outcome:
        return None
    info = outcome["roundoff"]
    first, last = info["window"]
    what = "depends on round-off" if outcome["roundoff_sensitive"] else "does not depend on round-off"
    text = (f"{what}: a chaotic transient grew perturbations by 1e{info['log10_amplification']:.0f} over steps "
            f"{first}-{last} (finite-time Lyapunov exponent {info['finite_time_lyapunov']:.3g})")
    if not info.get("precision_runs"):
        return text + f"; {info.get('note', 'not rerun')}"
    runs = info["precision_runs"]
    digits = " and ".join(str(run["digits"]) for run in runs)
    if "final_spread" in info:
        ends = ", ".join(f"{run['final']['sharpness']:.4g}" for run in runs if "final" in run)
        text += (f"; at {digits} digits the final sharpness is {ends} "
                 f"(spread {info['final_spread']['sharpness']:.2g} with float64)")
    if "step_range" in info:
        low, high = info["step_range"]
        text += f"; at {digits} digits it diverges at steps {low}-{high} (float64 included)"
    return text


def _digits(value: float, spread) -> str:
    """A final value to 10 significant digits, or only to the digit its round-off spread leaves."""
    if spread is None or not spread > 0 or not math.isfinite(value) or value == 0:
        return f"{value:.10g}"
    digits = math.floor(math.log10(abs(value))) - math.floor(math.log10(spread)) + 1
    return f"{value:.{min(10, max(1, digits))}g}"


def models(entries: list) -> None:
    for e in entries:
        params = ", ".join(p["name"] + ("" if p["default"] is None else f"={p['default']:g}") for p in e["parameters"])
        print(f"{e['name']:<10} {e['description']}")
        print(f"{'':<10} parameters: {params}; state: {', '.join(s['name'] for s in e['state'])}; "
              f"parameterizations: {', '.join(e['parameterizations'])}")


def derivation(derived, results) -> None:
    print(f"# {derived.name} ({derived.parameterization})")
    for result in results:
        print(f"\n## {result.name}: {result.title}")
        for equation in result.equations:
            print(f"  {equation}")
        if result.notes:
            print(f"  ({result.notes})")


def trajectory(result) -> None:
    outcome = result.outcome
    spread = (outcome.roundoff or {}).get("final_spread", {}) if outcome.roundoff_sensitive else {}
    final = ", ".join(f"{k} = {_digits(v, spread.get(k))}" for k, v in result.final.items())
    print(f"outcome: {outcome_text(outcome.to_dict())}")
    print(f"final: {final}   ({result.threshold_name} = {result.threshold:.10g})")
    roundoff = roundoff_text(outcome.to_dict())
    if roundoff:
        print(f"  {roundoff}")
    for regime in result.regimes:
        print(f"  steps {regime.start:>8}-{regime.end:<8} {regime.name}")


def stochastic_trajectory(result) -> None:
    """``sharpness run --optimizer sgd``: the outcome judged in distribution and the final state."""
    final = ", ".join(f"{k} = {v:.10g}" for k, v in result.final.items())
    print(f"mini-batch SGD, batches of {result.batch_size} of {result.examples} examples, seed {result.seed}")
    print(f"outcome: {result.outcome}")
    print(f"final: {final}   ({result.threshold_name} = {result.threshold:.10g}, GD's)")


def crosscheck(payload: dict) -> None:
    names = list(payload["initial"])
    width = f"width {payload['width']}, seed {payload['seed']}, " if payload["width"] is not None else ""
    start = ", ".join(f"{n}0 = {v:.6g}" for n, v in payload["initial"].items())
    print(f"{payload['model']} ({payload['parameterization']}), {width}{payload['steps']} steps from {start}: "
          f"{payload['outcome']['name']}")
    for label, errors in (("numpy", payload), ("torch", payload.get("torch"))):
        if errors:
            parts = "   ".join(f"max |error {n}| = {errors[f'max_abs_error_{n}']:.2e}" for n in names)
            print(f"  {label:<6} {parts}   max rel error sharpness = {errors['max_rel_error_sharpness']:.2e}")
    if payload["error_growth_rate"] is not None:
        print(f"  error grows at {payload['error_growth_rate']:.4f} per step over steps "
              f"{payload['growth_window'][0]}-{payload['growth_window'][1]}; largest Lyapunov exponent "
              f"{payload['lyapunov']:.4f}")


def width_scan(result) -> None:
    """``sharpness width-scan``: one line per width of a :class:`numerics.cross_check.WidthScan`."""
    rows = result.rows
    names = list(rows[0].initial)
    kernel = names[-1]
    header = " ".join(f"{n + '0':>10}" for n in names)
    errors = " ".join(f"{'max err ' + n:>12}" for n in names)
    print(f"{'width':>6} {header} {'final ' + kernel:>10} {'outcome':<12} {errors}  regimes")
    for row in rows:
        regimes = ", ".join(f"{r.name} {r.start}-{r.end}" for r in row.regimes[:3])
        final = "-" if row.outcome.name == "diverged" else f"{row.final[kernel]:.5f}"
        starts = " ".join(f"{row.initial[n]:>10.4f}" for n in names)
        errs = " ".join(f"{row.errors[f'max_abs_error_{n}']:>12.1e}" for n in names)
        print(f"{row.width:>6} {starts} {final:>10} {row.outcome.name:<12} {errs}  {regimes}")


# How the text output names each measured quantity (numerics.nn.training.MEASURED) and its column.
QUANTITY_LABELS = {"sharpness": ("sharpness (full batch)", "S_end/thr"),
                   "batch_sharpness": ("batch sharpness", "BS_end/thr"),
                   "preconditioned_sharpness": ("preconditioned sharpness", "PS_end/thr")}


def nn_table(runs: list, table: list) -> None:
    """``sharpness nn``: what was trained on what (:class:`numerics.nn.Training`), then one row per eta (network
    against the UV model); under mini-batches or Adam, each measured quantity against its threshold."""
    first = runs[0]
    optimizer = first.optimizer
    if first.beta is not None:
        optimizer += f" (beta = {first.beta:g})"
    if first.optimizer == "adam":
        optimizer += f" (beta1 = {first.beta1:g}, beta2 = {first.beta2:g}, eps = {first.eps:g})"
    batches = ("full-batch " if first.batch_size is None or first.batch_size == first.samples else
               f"mini-batch (batches of {first.batch_size}, seed {first.seed}) ")
    measured = {"batch_sharpness": f", batch sharpness over {first.batch_sharpness and first.batch_sharpness['batches']} "
                                   f"batches",
                "preconditioned_sharpness": ", preconditioned sharpness"}.get(first.regimes_of, "")
    initialization = ("" if first.parameterization == "pytorch" and first.init_scale == 1 else
                      f", {first.parameterization}" + ("" if first.init_scale == 1 else f" x{first.init_scale:g}"))
    print(f"{first.model or first.arch}{initialization} on {first.data or first.dataset} ({first.samples} of {first.samples_total} "
          f"examples, {first.parameters} parameters, {first.dtype}), {first.steps} steps of {batches}{optimizer}; "
          f"top-{first.top_k} Hessian eigenvalues{measured} every {first.measure_every} steps")
    if first.samples_note:
        print(f"  ({first.samples_note})")
    column = QUANTITY_LABELS[first.regimes_of][1]
    width = max(9, len(column))
    print(f"{'eta':>7} {'eta*lam0':>8} {column:>{width}} {'period':>6} {'HVPs':>5} {'time':>6}  {'network':<60} "
          f"UV model (same eta*lam0)")
    for row, run in zip(table, runs):
        last = row["threshold_ratios"].get(row["regimes_of"], {}).get("final")
        final = "-" if last is None or row["outcome"] == "diverged" else f"{last / row['threshold']:.3f}"
        net = ", ".join(row["regimes"]) or row["outcome"]
        if row["outcome"] == "diverged":
            net = (net + ", " if row["regimes"] else "") + "diverged"
        if len(net) > 60:
            net = "..., " + net[-55:].split(", ", 1)[-1]
        uv = (", ".join(row["uv_regimes"] or []) + ("" if row["uv_outcome"] != "diverged" else " (diverged)")) or "-"
        period = {"periodic": str(row["period"]), "aperiodic": "none"}.get(row["period_status"], "-")
        lam0 = "-" if row["eta_lam0"] is None else f"{row['eta_lam0']:.3f}"
        hvps = "-" if row["hvps_mean"] is None else f"{row['hvps_mean']:.1f}"
        seconds = f"{run.elapsed:.0f}s"
        print(f"{row['eta']:>7g} {lam0:>8} {final:>{width}} {period:>6} {hvps:>5} {seconds:>6}  {net:<60} {uv}")
    threshold = threshold_name(first.optimizer)
    if first.regimes_of == "sharpness":
        print(f"{column}: final sharpness over the threshold "
              f"({'2/eta' if optimizer == 'gd' else 'of ' + optimizer}); period of the sharpness over the EoS window "
              "(none: aperiodic; -: undetermined); HVPs: mean Hessian-vector products per measurement")
    else:
        label = QUANTITY_LABELS[first.regimes_of][0]
        print(f"{column}: final {label} over the threshold ({threshold}), on which the regimes are labelled; period "
              f"of the {label} over the EoS window (none: aperiodic; -: undetermined); HVPs: mean Hessian-vector "
              f"products per measurement of the top eigenvalues")
    if first.regimes_of == "sharpness" and first.batch_size is None:
        return
    print(f"each quantity against its threshold {threshold}: the last value, and the median and peak of value / "
          f"threshold over the second half of the run (steps >= {first.steps / 2:g})")
    for run in runs:
        for quantity, ratios in run.threshold_ratios.items():
            value = "-" if ratios["final"] is None else f"{ratios['final']:.6g}"
            if quantity == "batch_sharpness" and run.batch_sharpness["std"] and run.batch_sharpness["std"][-1]:
                value += f" +- {run.batch_sharpness['std'][-1]:.3g}"
            median = "-" if ratios["median"] is None else f"{ratios['median']:.3f}"
            peak = "-" if ratios["peak"] is None else f"{ratios['peak']:.3f}"
            print(f"{run.eta:>7g}  {QUANTITY_LABELS[quantity][0]:<26} {value:<22} threshold "
                  f"{ratios['threshold']:<10.6g} median {median:>6}  peak {peak:>6}")
        if run.optimizer == "adam" and run.sharpness["value"]:
            print(f"{run.eta:>7g}  {QUANTITY_LABELS['sharpness'][0]:<26} {run.sharpness['value'][-1]:<22.6g} "
                  f"(no threshold under adam: its step is preconditioned)")
    if first.batch_size is not None:
        print(f"batch sharpness: mean +- standard deviation over the {first.batch_sharpness['batches']} batches of "
              f"each measurement")


def threshold_name(optimizer: str) -> str:
    """The optimizer's threshold as its derived formula (:func:`analysis.optimizers.threshold_expression`)."""
    from analysis.optimizers import threshold_expression, threshold_name as name

    return name(threshold_expression(optimizer))
