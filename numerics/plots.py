"""Figures (matplotlib, Agg backend): trajectories with regimes, orbit diagrams. PNG, PDF or SVG by suffix."""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.atomic import replacing  # noqa: E402
from analysis.errors import OutputError, UserInputError  # noqa: E402

SUFFIXES = (".png", ".pdf", ".svg")
REGIME_COLOURS = {"early sharpness reduction": "tab:blue", "intermediate saturation": "tab:gray",
                  "progressive sharpening": "tab:green", "edge of stability": "tab:orange",
                  "catapult": "tab:red", "divergence": "black"}


def axis_name(name: str) -> str:
    """A parameter or state name as matplotlib math text (``lam`` -> ``$\\lambda$``, ``w1`` -> ``$w_{1}$``);
    a multi-letter name with no declared form (``momentum``) and other text unchanged."""
    from analysis.latex import name_latex

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(name)):
        return str(name)
    tex = name_latex(name)
    return str(name) if tex == name and len(name) > 1 else f"${tex}$"  # a word such as momentum stays a word


def check_path(path: str) -> Path:
    """A writable figure path with a known suffix, else a :class:`UserInputError`."""
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise UserInputError(f"unknown figure format {target.suffix or '(none)'!r} in {path}; "
                             f"expected one of: {', '.join(SUFFIXES)}")
    if not target.parent.exists():
        raise UserInputError(f"cannot write {path}: directory {target.parent} does not exist")
    return target


def _save(figure, path: Path):
    """Save ``figure`` to ``path`` atomically (a staged file of the same suffix, renamed): a full disk leaves the
    old file or none, never half a figure, and is one :class:`OutputError` (matplotlib's PDF writer reports it as a
    ``zlib.error`` when the disk fills inside a compressed stream)."""
    try:
        with replacing(path, suffix=path.suffix, private=False) as staged:
            figure.savefig(staged, dpi=150, bbox_inches="tight")
    except (OSError, zlib.error) as error:
        raise OutputError(f"cannot write {path}: {getattr(error, 'strerror', None) or error}") from None
    finally:
        plt.close(figure)


def draw_trajectory(axis, result: dict, threshold_name: str = "2/eta"):
    """Sharpness against step with the threshold (labelled ``threshold_name``, :attr:`Trajectory.threshold_name`)
    and the regimes shaded, on ``axis``."""
    trajectory = result["trajectory"]
    axis.plot(trajectory["step"], trajectory["sharpness"], color="black", lw=1, label="sharpness")
    axis.axhline(result["threshold"], color="tab:red", ls="--", lw=1, label=threshold_name)
    for regime in result["regimes"]:
        axis.axvspan(regime["start"], max(regime["end"], regime["start"] + 1), alpha=0.15,
                     color=REGIME_COLOURS[regime["name"]], lw=0)
    names = list(dict.fromkeys(r["name"] for r in result["regimes"]))
    handles, labels = axis.get_legend_handles_labels()
    axis.legend(handles=handles + [plt.Rectangle((0, 0), 1, 1, color=REGIME_COLOURS[n], alpha=0.3) for n in names],
                labels=labels + names, fontsize=7, loc="best")
    axis.set_ylabel("sharpness")
    return axis


def trajectory_figure(result: dict, path: str, threshold_name: str = "2/eta") -> None:
    """Sharpness with regimes (:func:`draw_trajectory`); loss on a log scale below."""
    target = check_path(path)
    trajectory = result["trajectory"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    draw_trajectory(top, result, threshold_name)
    loss = np.asarray(trajectory["loss"], dtype=float)
    bottom.semilogy(trajectory["step"], np.where(loss > 0, loss, np.nan), color="tab:purple", lw=1)
    bottom.set_ylabel("loss")
    bottom.set_xlabel("step")
    params = ", ".join(f"{k}={v:g}" for k, v in result["parameters"].items())
    top.set_title(f"{result['model']} ({result['parameterization']}): {params} — outcome {result['outcome']['name']}",
                  fontsize=9)
    _save(figure, target)


def draw_orbits(axis, diagram, flips=()):
    """Orbit diagram on ``axis``: the kept first state coordinate against the varied parameter."""
    xs = np.repeat(diagram.values, diagram.orbits.shape[1])
    ys = diagram.orbits[:, :, 0].ravel()
    keep = np.isfinite(ys)
    axis.plot(xs[keep], ys[keep], ",", color="black", alpha=0.5, rasterized=True)
    for flip in flips or []:
        axis.axvline(flip, color="tab:red", lw=0.6, alpha=0.7)
    axis.set_xlabel(axis_name(diagram.vary))
    axis.set_ylabel(axis_name(diagram.state[0]))
    return axis


def orbit_figure(diagram, path: str, title: str, flips=None) -> None:
    """An :class:`~numerics.iterated_map.OrbitDiagram` with flips marked as vertical lines."""
    target = check_path(path)
    figure, axis = plt.subplots(figsize=(8, 5))
    draw_orbits(axis, diagram, flips)
    axis.set_title(title, fontsize=9)
    _save(figure, target)


OUTCOME_COLOURS = ("tab:green", "tab:orange", "tab:purple", "tab:olive", "lightgray")


def draw_basin(axis, basin):
    """Outcome class of every initial state of a :class:`~numerics.iterated_map.Basin`, on ``axis``."""
    from matplotlib.colors import ListedColormap

    from .classify import OUTCOMES

    (grid_x, grid_y), (name_x, name_y) = basin.grids, basin.axes
    colours = ListedColormap(OUTCOME_COLOURS)
    axis.imshow(basin.classes, origin="lower", extent=(grid_x[0], grid_x[-1], grid_y[0], grid_y[-1]),
                aspect="auto", cmap=colours, vmin=-0.5, vmax=len(OUTCOMES) - 0.5, interpolation="nearest")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours(i)) for i in range(len(OUTCOMES))]
    labels = list(OUTCOMES)
    if basin.unrealizable:  # hatched: states no network has (the map's outcome there is not a network's)
        mesh_x, mesh_y = np.meshgrid(grid_x, grid_y)
        axis.contourf(mesh_x, mesh_y, (basin.realizable == False).astype(float), levels=[0.5, 1.5],  # noqa: E712
                      colors="none", hatches=["////"])
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch="////"))
        labels.append("not realizable")
    axis.legend(handles=handles, labels=labels, fontsize=7, loc="upper right")
    axis.set_xlabel(axis_name(name_x))
    axis.set_ylabel(axis_name(name_y))
    axis.set_title("outcome", fontsize=9)
    return axis


def basin_figure(basin, path: str, title: str) -> None:
    """Left: outcome of every initial state; right: final sharpness relative to 2/eta (converged lanes)."""
    from .classify import OUTCOMES

    target = check_path(path)
    (grid_x, grid_y), (name_x, _) = basin.grids, basin.axes
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    draw_basin(left, basin)
    converged = np.where(basin.classes == OUTCOMES.index("converged"), basin.final_sharpness, np.nan)
    image = right.imshow(converged / basin.threshold, origin="lower", extent=(grid_x[0], grid_x[-1], grid_y[0],
                         grid_y[-1]), aspect="auto", cmap="viridis", interpolation="nearest")
    figure.colorbar(image, ax=right, label=r"final sharpness $\times\,\eta/2$")
    right.set_xlabel(axis_name(name_x))
    right.set_title("final sharpness of converged runs", fontsize=9)
    figure.suptitle(title, fontsize=10)
    _save(figure, target)


def width_scan_figure(scan: dict, path: str) -> None:
    """Final NTK and the error of the derived map against parameter-space GD, against the width."""
    target = check_path(path)
    rows = scan["rows"]
    widths = [r["width"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    kernel = list(rows[0]["initial"])[-1]  # the last state variable: the NTK of a Gram model
    left.semilogx(widths, [r["initial"][kernel] for r in rows], "o-", label=f"initial {kernel}")
    left.semilogx(widths, [r[f"final_{kernel}"] for r in rows], "s-", label=f"final {kernel}")
    left.set_xlabel("width n")
    left.set_ylabel(f"NTK {axis_name(kernel)}")
    left.legend()
    errors = [max(r[f"max_abs_error_{name}"] for name in r["initial"]) for r in rows]
    right.loglog(widths, np.maximum(errors, 1e-17), "o-")
    right.set_xlabel("width n")
    right.set_ylabel("max |map - GD| over the run")
    figure.suptitle(f"{scan['model']} ({scan['parameterization']}), {scan['steps']} steps, seed {scan['seed']}",
                    fontsize=10)
    _save(figure, target)


def nn_figure(runs: list, path: str) -> None:
    """Real-network runs (:class:`numerics.nn.Training`) against the step: top, each measured quantity over its
    threshold, so that 1 is the threshold (the sharpness over 2/eta for GD: sharpness times eta/2; with
    mini-batches the batch sharpness solid and the full-batch sharpness dashed; under Adam the preconditioned
    sharpness); bottom, the loss."""
    target = check_path(path)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for run in runs:
        eta_lam0 = float("nan") if run.eta_lam0 is None else run.eta_lam0
        steps, values = run.series(run.regimes_of)
        line, = top.plot(steps, values / run.threshold, lw=1, label=f"eta={run.eta:g} (eta lam0={eta_lam0:.2f})")
        if run.regimes_of == "batch_sharpness":
            steps, values = run.series("sharpness")
            top.plot(steps, values / run.threshold, lw=0.8, ls="--", color=line.get_color())
        bottom.semilogy(np.arange(len(run.loss)), run.loss, lw=1)
    top.axhline(1, color="tab:red", ls="--", lw=1)
    first = runs[0]
    top.set_ylabel({"sharpness": "sharpness / threshold",
                    "batch_sharpness": "batch sharpness (solid), sharpness (dashed) / threshold",
                    "preconditioned_sharpness": "preconditioned sharpness / threshold"}[first.regimes_of],
                   fontsize=8 if first.regimes_of == "batch_sharpness" else None)
    top.legend(fontsize=7)
    bottom.set_ylabel("loss")
    bottom.set_xlabel("step")
    how = ("full-batch" if first.batch_size is None or first.batch_size == first.samples
           else f"batches of {first.batch_size},")
    top.set_title(f"{first.model or first.arch} on {first.data or first.dataset} ({first.samples} examples), "
                  f"{how} {first.optimizer}", fontsize=9)
    _save(figure, target)


def sweep_figure(dataset, path: str, title: str) -> None:
    """A 1-D sweep as a curve, a 2-D sweep as an image (categorical for outcome and regime)."""
    import json as _json

    from .classify import OUTCOMES
    from .classify import REGIME_ORDER

    target = check_path(path)
    spec = _json.loads(dataset.attrs["sweep"])
    measure = spec["measure"]
    variable = dataset[measure.replace("-", "_")]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    names = list(variable.dims)
    if len(names) == 1:
        axis.plot(variable[names[0]], variable.values, lw=1)
        axis.axhline(0, color="gray", lw=0.5)
        axis.set_xlabel(axis_name(names[0]))
        axis.set_ylabel(measure)
    else:
        labels = {"outcome": OUTCOMES, "regime": REGIME_ORDER}.get(measure)
        x_values, y_values = variable[names[0]].values, variable[names[1]].values
        image = variable.values.T
        if labels:
            from matplotlib.colors import ListedColormap

            colours = ListedColormap([REGIME_COLOURS.get(l, c) for l, c in
                                      zip(labels, OUTCOME_COLOURS + ("k",))])
            axis.pcolormesh(x_values, y_values, image, cmap=colours, vmin=-0.5, vmax=len(labels) - 0.5,
                            shading="nearest")
            axis.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours(i)) for i in range(len(labels))],
                        labels=list(labels), fontsize=7, loc="upper left")
        else:
            mesh = axis.pcolormesh(x_values, y_values, image, shading="nearest")
            figure.colorbar(mesh, ax=axis, label=measure)
        if y_values.min() > 0 and y_values.max() / y_values.min() > 50:
            axis.set_yscale("log")
        axis.set_xlabel(axis_name(names[0]))
        axis.set_ylabel(axis_name(names[1]))
    axis.set_title(title, fontsize=9)
    _save(figure, target)


def flow_figure(bound, fixed_points, path: str, box=None) -> None:
    """The GD displacement field of a 2-D map (an :class:`~numerics.IteratedMap`) with its fixed points and,
    for a Gram model, the states no parameters realize shaded; all from the compiled derived map."""
    from analysis.evaluate import realizable_states

    target = check_path(path)
    names = bound.compiled.state_names
    if len(names) != 2:
        raise UserInputError(f"a flow figure needs a 2-D state; {bound.model.name!r} has {len(names)}")
    points = [p.coordinates for p in fixed_points if all(np.isfinite(p.coordinates[n]) for n in names)]
    if box is None:
        lows = [min([p[n] for p in points] + [0.0]) for n in names]
        highs = [max([p[n] for p in points] + [1.0]) for n in names]
        box = [(lo - 0.15 * (hi - lo), hi + 0.15 * (hi - lo)) for lo, hi in zip(lows, highs)]
    first, second = (np.linspace(lo, hi, 28) for lo, hi in box)
    mesh_a, mesh_b = np.meshgrid(first, second)
    with np.errstate(all="ignore"):
        new_a, new_b = bound.compiled.step_numpy(mesh_a, mesh_b, *bound._params)
    du, dv = np.asarray(new_a) - mesh_a, np.asarray(new_b) - mesh_b
    norm = np.hypot(du, dv) + 1e-12
    figure, axis = plt.subplots(figsize=(7, 5))
    axis.quiver(mesh_a, mesh_b, du / norm, dv / norm, np.log10(norm), cmap="viridis", scale=40, width=0.003)
    if bound.model.kind == "gram":
        symbols = bound.compiled.state_symbols
        fine_a, fine_b = np.meshgrid(np.linspace(*box[0], 60), np.linspace(*box[1], 60))
        decided = realizable_states(bound.model.derivation, {symbols[0]: fine_a.ravel(), symbols[1]: fine_b.ravel()},
                                    bound.values)
        shaded = (decided == False).reshape(fine_a.shape)  # noqa: E712 - object array of True/False/None
        axis.contourf(fine_a, fine_b, shaded.astype(float), levels=[0.5, 1.5], colors=["lightgray"], alpha=0.6)
        axis.plot([], [], "s", color="lightgray", label="not realizable by any parameters")
    for point in fixed_points:
        c = point.coordinates
        axis.plot(c[names[0]], c[names[1]], "o", color="black")
        axis.annotate(point.label, (c[names[0]], c[names[1]]), textcoords="offset points", xytext=(5, 5))
    axis.set_xlim(*box[0])
    axis.set_ylim(*box[1])
    axis.set_xlabel(axis_name(names[0]))
    axis.set_ylabel(axis_name(names[1]))
    axis.legend(fontsize=7, loc="upper left")
    values = ", ".join(f"{k} = {v:g}" for k, v in bound.parameters.items())
    axis.set_title(f"{bound.model.name} ({bound.model.parameterization}), {values}: GD direction "
                   "(colour: log10 step)", fontsize=9)
    _save(figure, target)


def trajectories_figure(results: dict, path: str) -> None:
    """Several runs, one panel each: sharpness with the regimes shaded, and 2/eta."""
    target = check_path(path)
    figure, axes = plt.subplots(len(results), 1, figsize=(8, 2.6 * len(results)), sharex=True)
    for axis, (label, result) in zip(np.atleast_1d(axes), results.items()):
        trajectory = result["trajectory"]
        axis.plot(trajectory["step"], trajectory["sharpness"], color="black", lw=1)
        axis.axhline(result["threshold"], color="tab:red", ls="--", lw=1)
        for regime in result["regimes"]:
            axis.axvspan(regime["start"], max(regime["end"], regime["start"] + 1), alpha=0.2,
                         color=REGIME_COLOURS[regime["name"]], lw=0)
        names = list(dict.fromkeys(r["name"] for r in result["regimes"]))
        axis.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=REGIME_COLOURS[n], alpha=0.4) for n in names],
                    labels=names, fontsize=7, loc="upper right")
        params = ", ".join(f"{k}={v:g}" for k, v in result["parameters"].items())
        axis.set_title(f"{label}: {result['parameterization']}, {params}, lam0 = {result['initial']['lam']:g}",
                       fontsize=8)
        axis.set_ylabel("sharpness")
    # The regimes change in the first ~20 steps and the rest is stationary: linear up to 25 steps, logarithmic after
    bottom = np.atleast_1d(axes)[-1]
    bottom.set_xscale("symlog", linthresh=25, linscale=2)
    last = max(r["trajectory"]["step"][-1] for r in results.values())
    ticks = [t for t in (0, 5, 10, 15, 20, 25, 50, 100, 200, 500, 1000, 2000, 5000) if t <= last]
    bottom.set_xticks(ticks, [str(t) for t in ticks])
    bottom.set_xlabel("step (linear to 25, logarithmic after)")
    _save(figure, target)


def delta_figure(cascade: dict, path: str) -> None:
    """|delta_j - delta| of the raw ratios and of their Aitken acceleration against j (log scale)."""
    import mpmath

    from .feigenbaum import FEIGENBAUM_DELTA

    target = check_path(path)
    raw = [abs(mpmath.mpf(d) - FEIGENBAUM_DELTA) for d in cascade["delta_digits"]]
    aitken = [abs(mpmath.mpf(d) - FEIGENBAUM_DELTA) for d in cascade["delta_aitken"]]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.semilogy(range(1, len(raw) + 1), [float(e) for e in raw], "o-", label="ratio estimates")
    if aitken:
        axis.semilogy(range(3, len(aitken) + 3), [float(e) for e in aitken], "s-", label="Aitken")
    axis.set_xlabel("j")
    axis.set_ylabel(r"$|\delta_j - \delta|$")
    axis.legend()
    axis.set_title("Feigenbaum's delta from the flips of uv-eos", fontsize=9)
    _save(figure, target)


def gap_figure(runs: dict, path: str) -> None:
    """The gap 2/eta - S between the threshold and the final sharpness, against eta, for runs keyed by eta (on a
    log scale where every gap is positive: the quantity is a few hundredths of a threshold of 15-30)."""
    target = check_path(path)
    etas = np.array([float(eta) for eta in runs])
    gaps = np.array([np.nan if r.get("gap") is None else r["gap"] for r in runs.values()])
    figure, axis = plt.subplots(figsize=(6, 3.6))
    axis.plot(etas, gaps, "o-", label=r"gap $2/\eta - S$ at the last step")
    axis.axhline(0, color="black", lw=0.8)
    if np.all(gaps[np.isfinite(gaps)] > 0):
        axis.set_yscale("log")
    axis.set_xlabel(r"$\eta$")
    axis.set_ylabel(r"$2/\eta - S$")
    axis.legend(fontsize=8)
    axis.set_title("xy-quartic from (4, 0.3): GD ends just below 2/eta", fontsize=9)
    _save(figure, target)


def _draw_sweep_background(axis, dataset, x_name, y_name):
    """A 2-D sweep (``sharpness sweep``) as the background image of a parameter plane (categorical for outcome
    and regime), oriented to the axes ``(x_name, y_name)``."""
    import json as _json

    from .classify import OUTCOMES
    from .classify import REGIME_ORDER

    measure = _json.loads(dataset.attrs["sweep"])["measure"]
    variable = dataset[measure.replace("-", "_")]
    names = list(variable.dims)
    if len(names) != 2 or set(names) != {x_name, y_name}:
        raise UserInputError(f"--over: the sweep varies {', '.join(names)}, the curves {x_name} and {y_name}")
    variable = variable.transpose(y_name, x_name)
    labels = {"outcome": OUTCOMES, "regime": REGIME_ORDER}.get(measure)
    xs, ys = variable[x_name].values, variable[y_name].values
    if labels:
        from matplotlib.colors import ListedColormap

        colours = ListedColormap([REGIME_COLOURS.get(l, c) for l, c in zip(labels, OUTCOME_COLOURS + ("k",))])
        axis.pcolormesh(xs, ys, variable.values, cmap=colours, vmin=-0.5, vmax=len(labels) - 0.5,
                        shading="nearest", alpha=0.45)
        return ([plt.Rectangle((0, 0), 1, 1, color=colours(i), alpha=0.45) for i in range(len(labels))],
                [f"{measure}: {label}" for label in labels])
    axis.pcolormesh(xs, ys, variable.values, shading="nearest", alpha=0.45)
    return [], []


def draw_continuation(axis, payload: dict, over=None):
    """Branches (first state variable against the parameter; solid where the orbit attracts, dashed where not)
    or, with ``curves``, the bifurcation curves in the parameter plane, with labelled special points."""
    vary = payload["vary"]
    markers = {"PD": "o", "LP": "s", "NS": "D", "BP": "^"}
    if payload.get("curves"):
        x_name, y_name = vary[0], vary[1]
        background = _draw_sweep_background(axis, over, x_name, y_name) if over is not None else ([], [])
        for curve in payload["curves"]:
            xs = [p["parameters"][x_name] for p in curve["points"]]
            ys = [p["parameters"][y_name] for p in curve["points"]]
            axis.plot(xs, ys, lw=1.5, label=f"{curve['type']} (period {curve['period']})")
        for s in payload["special_points"]:
            if "curve" in s:
                axis.plot(s["parameters"][x_name], s["parameters"][y_name], "k*", ms=9)
                axis.annotate(s["type"], (s["parameters"][x_name], s["parameters"][y_name]), fontsize=8,
                              xytext=(4, 4), textcoords="offset points")
        axis.set_xlabel(axis_name(x_name))
        axis.set_ylabel(axis_name(y_name))
        handles, labels = axis.get_legend_handles_labels()
        axis.legend(handles=handles + background[0], labels=labels + background[1], fontsize=6, loc="best")
        return axis
    name = vary[0]
    for branch in payload["branches"]:
        points = branch["points"]
        if not points:
            continue
        state = next(iter(points[0]["state"]))
        xs = np.array([p["parameters"].get(name, p["state"].get(name)) for p in points])
        ys = np.array([p["state"][state] for p in points])
        stable = np.array([max(abs(complex(m["re"], m["im"]) if isinstance(m, dict) else m)
                               for m in p["multipliers"]) < 1 for p in points])
        joined = lambda mask: mask | np.concatenate([[False], mask[:-1]])  # noqa: E731 - no gap at a change
        colour = axis.plot(xs, np.where(joined(stable), ys, np.nan), lw=1.2,
                           label=f"period {branch['period']}")[0].get_color()
        axis.plot(xs, np.where(joined(~stable), ys, np.nan), lw=0.8, ls="--", color=colour)
        axis.set_ylabel(axis_name(state))
    for s in payload["special_points"]:
        x = s["parameters"].get(name, s["state"].get(name))
        y = next(iter(s["state"].values()))
        axis.plot(x, y, markers.get(s["type"], "*"), color="k", ms=5)
        nf = s.get("normal_form")
        text = s["type"] + (f" b={nf['coefficient']:.3g}" if nf and s["type"] == "PD" else "")
        axis.annotate(text, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    axis.set_xlabel(axis_name(name))
    axis.legend(fontsize=7, loc="best")
    return axis


def continuation_figure(payload: dict, path: str, over=None) -> None:
    """:func:`draw_continuation` written to ``path`` (``sharpness continuation --plot``)."""
    target = check_path(path)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    draw_continuation(axis, payload, over)
    axis.set_title(f"{payload['model']}: continuation in {', '.join(payload['vary'])}", fontsize=9)
    _save(figure, target)


def flip_curves_figure(curves: dict, closed: dict, criticality: list, path: str, title: str) -> None:
    """Flip (PD) curves of several periods in a parameter plane (``{period: continuation payload}``), the
    period-1 curve from its closed form ``closed["expression"]`` (in eta, y with x = 1), each labelled with the
    criticality of its flip (``criticality``: ``{"period", "b", "criticality"}`` from the one-parameter run)."""
    import sympy as sp

    target = check_path(path)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    kinds = {c["period"]: c["criticality"] for c in criticality}
    names = None
    for period, payload in sorted(curves.items()):
        for curve in payload["curves"]:
            names = payload["vary"]
            xs = [p["parameters"][names[0]] for p in curve["points"]]
            ys = [p["parameters"][names[1]] for p in curve["points"]]
            axis.plot(xs, ys, lw=1.4, label=f"PD of period {period} ({kinds.get(period, '?')})")
        for s in payload["special_points"]:
            if s.get("curve"):
                axis.plot(s["parameters"][names[0]], s["parameters"][names[1]], "k*", ms=8)
                axis.annotate(s["type"], (s["parameters"][names[0]], s["parameters"][names[1]]), fontsize=7)
    if names and closed:
        expression = sp.sympify(closed["expression"]).subs({sp.Symbol("x"): 1})
        ys = np.linspace(*axis.get_ylim(), 200)
        function = sp.lambdify(sp.Symbol("y"), expression, "numpy")
        xs = np.broadcast_to(function(ys), ys.shape)
        inside = (xs >= axis.get_xlim()[0]) & (xs <= axis.get_xlim()[1])
        axis.plot(np.where(inside, xs, np.nan), ys, "k--", lw=1,
                  label=f"PD of period 1: eta = {closed['expression']} (closed form)")
    if names:
        axis.set_xlabel(axis_name(names[0]))
        axis.set_ylabel(axis_name(names[1]))
    axis.legend(fontsize=7, loc="upper right")
    axis.set_title(title, fontsize=9)
    _save(figure, target)


def central_flow_figure(result: dict, path=None):
    """The central flow against time (:meth:`numerics.CentralFlow.plot`): the state, the sharpness with 2/eta, and
    the loss with the predicted loss L + sigma2/eta; GD's iterates and two-step averages overlaid when compared.
    Written to ``path`` if given (then closed), else returned."""
    target = check_path(path) if path is not None else None
    flow = result["trajectory"]
    gd = (result.get("gd") or {}).get("trajectory")
    names = list(result["initial"])
    figure, axes = plt.subplots(len(names) + 2, 1, figsize=(8, 2.2 * (len(names) + 2)), sharex=True)

    def overlay(axis, key):
        if gd is None:
            return
        values = np.asarray(gd[key], dtype=float)
        steps = np.asarray(gd["step"], dtype=float)
        axis.plot(steps, values, color="tab:gray", lw=0.5, alpha=0.6, label="GD")
        if result["gd"]["every"] == 1 and values.size > 1:
            axis.plot(steps[:-1] + 0.5, (values[:-1] + values[1:]) / 2, color="tab:blue", lw=0.8,
                      label="GD, two-step average")

    for axis, name in zip(axes, names):
        overlay(axis, name)
        axis.plot(flow["time"], flow[name], color="black", lw=1.2, label="central flow")
        axis.set_ylabel(axis_name(name))
    overlay(axes[-2], "sharpness")
    axes[-2].plot(flow["time"], flow["sharpness"], color="black", lw=1.2, label="central flow")
    axes[-2].axhline(result["threshold"], color="tab:red", ls="--", lw=1, label="2/eta")
    axes[-2].set_ylabel("sharpness")
    overlay(axes[-1], "loss")
    loss = np.asarray(flow["loss"], dtype=float)
    predicted = np.asarray(flow["predicted_loss"], dtype=float)
    axes[-1].semilogy(flow["time"], np.where(loss > 0, loss, np.nan), color="black", lw=1.2, label="flow loss L")
    axes[-1].semilogy(flow["time"], np.where(predicted > 0, predicted, np.nan), color="tab:orange", lw=1.2,
                      ls="--", label="predicted loss L + sigma2/eta")
    axes[-1].set_ylabel("loss")
    axes[-1].set_xlabel("time (GD steps)")
    for axis in axes:
        axis.legend(fontsize=7, loc="best")
    params = ", ".join(f"{k}={v:g}" for k, v in result["parameters"].items())
    axes[0].set_title(f"{result['model']} ({result['parameterization']}): central flow, {params}", fontsize=9)
    if target is None:
        return figure
    _save(figure, target)
    return None


def network_flow_figure(flow: dict, training, path=None):
    """A network's central flow against time (:meth:`numerics.nn.NetworkCentralFlow.plot`): the sharpness with
    2/eta, and the loss with the predicted loss L + tr(Sigma)/eta; GD's (``training``, a ``Training.to_dict()``)
    iterates and two-step averages overlaid. Written to ``path`` if given (then closed), else returned."""
    target = check_path(path) if path is not None else None
    trajectory = flow["trajectory"]
    figure, axes = plt.subplots(2, 1, figsize=(8, 4.8), sharex=True)
    if training is not None:
        steps = np.asarray(training["sharpness"]["step"], dtype=float)
        values = np.asarray(training["sharpness"]["value"], dtype=float)
        axes[0].plot(steps, values, color="tab:gray", lw=0.5, alpha=0.6, label="GD")
        losses = np.asarray(training["loss"], dtype=float)
        axes[1].semilogy(np.arange(losses.size), np.where(losses > 0, losses, np.nan), color="tab:gray", lw=0.5,
                         alpha=0.6, label="GD")
        if losses.size > 1:
            averaged = (losses[:-1] + losses[1:]) / 2
            axes[1].semilogy(np.arange(losses.size - 1) + 0.5, averaged, color="tab:blue", lw=0.8,
                             label="GD, two-step average")
    axes[0].plot(trajectory["time"], trajectory["sharpness"], color="black", lw=1.2, label="central flow")
    axes[0].axhline(flow["threshold"], color="tab:red", ls="--", lw=1, label="2/eta")
    axes[0].set_ylabel("sharpness")
    loss = np.asarray(trajectory["loss"], dtype=float)
    predicted = np.asarray(trajectory["predicted_loss"], dtype=float)
    axes[1].semilogy(trajectory["time"], np.where(loss > 0, loss, np.nan), color="black", lw=1.2, label="flow loss L")
    axes[1].semilogy(trajectory["time"], np.where(predicted > 0, predicted, np.nan), color="tab:orange", lw=1.2,
                     ls="--", label="predicted loss L + tr(Sigma)/eta")
    axes[1].set_ylabel("loss")
    axes[1].set_xlabel("time (GD steps)")
    for axis in axes:
        axis.legend(fontsize=7, loc="best")
    axes[0].set_title(f"central flow of a network ({flow['parameters']} parameters), eta={flow['eta']:g}, "
                      f"k={flow['k']}, {flow['substeps']} substeps per step", fontsize=9)
    if target is None:
        return figure
    _save(figure, target)
    return None
