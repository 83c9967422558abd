"""Figures (matplotlib, Agg backend): trajectories with regimes, orbit diagrams. PNG, PDF or SVG by suffix."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.errors import UserInputError  # noqa: E402

SUFFIXES = (".png", ".pdf", ".svg")
REGIME_COLOURS = {"early sharpness reduction": "tab:blue", "intermediate saturation": "tab:gray",
                  "progressive sharpening": "tab:green", "edge of stability": "tab:orange",
                  "catapult": "tab:red", "divergence": "black"}


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
    try:
        figure.savefig(path, dpi=150, bbox_inches="tight")
    except OSError as error:
        raise UserInputError(f"cannot write {path}: {error.strerror}") from None
    finally:
        plt.close(figure)


def trajectory_figure(result: dict, path: str) -> None:
    """Sharpness against step with the threshold 2/eta and the regimes shaded; loss on a log scale below."""
    target = check_path(path)
    trajectory = result["trajectory"]
    steps = np.asarray(trajectory["step"])
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(steps, trajectory["sharpness"], color="black", lw=1, label="sharpness")
    top.axhline(result["threshold"], color="tab:red", ls="--", lw=1, label=r"$2/\eta$")
    for regime in result["regimes"]:
        top.axvspan(regime["start"], max(regime["end"], regime["start"] + 1), alpha=0.15,
                    color=REGIME_COLOURS[regime["name"]], lw=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=REGIME_COLOURS[name], alpha=0.3)
               for name in dict.fromkeys(r["name"] for r in result["regimes"])]
    top.legend(handles=top.get_legend_handles_labels()[0] + handles,
               labels=top.get_legend_handles_labels()[1] + list(dict.fromkeys(r["name"] for r in result["regimes"])),
               fontsize=7, loc="best")
    top.set_ylabel("sharpness")
    loss = np.asarray(trajectory["loss"], dtype=float)
    bottom.semilogy(steps, np.where(loss > 0, loss, np.nan), color="tab:purple", lw=1)
    bottom.set_ylabel("loss")
    bottom.set_xlabel("step")
    params = ", ".join(f"{k}={v:g}" for k, v in result["parameters"].items())
    top.set_title(f"{result['model']} ({result['parameterization']}): {params} — outcome {result['outcome']['name']}",
                  fontsize=9)
    _save(figure, target)


def orbit_figure(diagram: dict, vary: str, state_name: str, path: str, title: str, flips=None) -> None:
    """Orbit diagram: the kept states against the varied parameter; flips marked as vertical lines."""
    target = check_path(path)
    values, orbits = diagram["values"], diagram["orbits"]
    figure, axis = plt.subplots(figsize=(8, 5))
    xs = np.repeat(values, orbits.shape[1])
    ys = orbits[:, :, 0].ravel()
    keep = np.isfinite(ys)
    axis.plot(xs[keep], ys[keep], ",", color="black", alpha=0.5, rasterized=True)
    for flip in flips or []:
        axis.axvline(flip, color="tab:red", lw=0.6, alpha=0.7)
    axis.set_xlabel(vary)
    axis.set_ylabel(state_name)
    axis.set_title(title, fontsize=9)
    _save(figure, target)


def basin_figure(basin: dict, path: str, title: str) -> None:
    """Left: outcome class of every initial state; right: final sharpness relative to 2/eta (converged lanes)."""
    from matplotlib.colors import ListedColormap

    from .dynamics import BASIN_CLASSES

    target = check_path(path)
    (grid_x, grid_y), (name_x, name_y) = basin["grids"], basin["axes"]
    extent = (grid_x[0], grid_x[-1], grid_y[0], grid_y[-1])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    colours = ListedColormap(["tab:green", "tab:orange", "tab:purple", "lightgray"])
    left.imshow(basin["classes"], origin="lower", extent=extent, aspect="auto", cmap=colours,
                vmin=-0.5, vmax=len(BASIN_CLASSES) - 0.5, interpolation="nearest")
    left.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours(i)) for i in range(len(BASIN_CLASSES))],
                labels=list(BASIN_CLASSES), fontsize=7, loc="upper right")
    left.set_xlabel(name_x)
    left.set_ylabel(name_y)
    left.set_title("outcome", fontsize=9)
    converged = np.where(basin["classes"] == BASIN_CLASSES.index("converged"), basin["final_sharpness"], np.nan)
    image = right.imshow(converged / basin["threshold"], origin="lower", extent=extent, aspect="auto",
                         cmap="viridis", interpolation="nearest")
    figure.colorbar(image, ax=right, label=r"final sharpness $\times\,\eta/2$")
    right.set_xlabel(name_x)
    right.set_title("final sharpness of converged runs", fontsize=9)
    figure.suptitle(title, fontsize=10)
    _save(figure, target)


def width_scan_figure(scan: dict, path: str) -> None:
    """Final NTK and the error of the derived map against parameter-space GD, against the width."""
    target = check_path(path)
    rows = scan["rows"]
    widths = [r["width"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.semilogx(widths, [r["initial"]["lam"] for r in rows], "o-", label=r"$\lambda_0$")
    left.semilogx(widths, [r["final_lam"] for r in rows], "s-", label=r"final $\lambda$")
    left.set_xlabel("width n")
    left.legend()
    errors = [max(r["max_abs_error_f"], r["max_abs_error_lam"]) for r in rows]
    right.loglog(widths, np.maximum(errors, 1e-17), "o-")
    right.set_xlabel("width n")
    right.set_ylabel("max |function-space map - parameter-space GD|")
    figure.suptitle(f"uv ({scan['parameterization']}), {scan['steps']} steps, seed {scan['seed']}", fontsize=10)
    _save(figure, target)


def nn_figure(runs: list, path: str) -> None:
    """Sharpness (times eta/2, so that 1 is the threshold) and loss of real-network runs against the step."""
    target = check_path(path)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for run in runs:
        steps = np.asarray(run["sharpness"]["step"])
        top.plot(steps, np.asarray(run["sharpness"]["value"]) * run["eta"] / 2, lw=1,
                 label=f"eta={run['eta']:g} (eta lam0={run['eta_lam0']:.2f})")
        bottom.semilogy(np.arange(len(run["loss"])), run["loss"], lw=1)
    top.axhline(1, color="tab:red", ls="--", lw=1)
    top.set_ylabel(r"sharpness $\times\,\eta/2$")
    top.legend(fontsize=7)
    bottom.set_ylabel("loss")
    bottom.set_xlabel("step")
    first = runs[0]
    top.set_title(f"{first['arch']} on {first['dataset']} ({first['samples']} examples), full-batch GD", fontsize=9)
    _save(figure, target)


def sweep_figure(dataset, path: str, title: str) -> None:
    """A 1-D sweep as a curve, a 2-D sweep as an image (categorical for outcome and regime)."""
    import json as _json

    from .dynamics import BASIN_CLASSES
    from .sweep import REGIME_ORDER

    target = check_path(path)
    spec = _json.loads(dataset.attrs["sweep"])
    measure = spec["measure"]
    variable = dataset[measure.replace("-", "_")]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    names = list(variable.dims)
    if len(names) == 1:
        axis.plot(variable[names[0]], variable.values, lw=1)
        axis.axhline(0, color="gray", lw=0.5)
        axis.set_xlabel(names[0])
        axis.set_ylabel(measure)
    else:
        labels = {"outcome": BASIN_CLASSES, "regime": REGIME_ORDER}.get(measure)
        x_values, y_values = variable[names[0]].values, variable[names[1]].values
        image = variable.values.T
        if labels:
            from matplotlib.colors import ListedColormap

            colours = ListedColormap([REGIME_COLOURS.get(l, c) for l, c in
                                      zip(labels, ["tab:green", "tab:orange", "tab:purple", "lightgray", "k", "k"])])
            axis.pcolormesh(x_values, y_values, image, cmap=colours, vmin=-0.5, vmax=len(labels) - 0.5,
                            shading="nearest")
            axis.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours(i)) for i in range(len(labels))],
                        labels=list(labels), fontsize=7, loc="upper left")
        else:
            mesh = axis.pcolormesh(x_values, y_values, image, shading="nearest")
            figure.colorbar(mesh, ax=axis, label=measure)
        if y_values.min() > 0 and y_values.max() / y_values.min() > 50:
            axis.set_yscale("log")
        axis.set_xlabel(names[0])
        axis.set_ylabel(names[1])
    axis.set_title(title, fontsize=9)
    _save(figure, target)


def flow_figure(fixed_points: list, eta: float, y: float, path: str) -> None:
    """The UV (muP, x = 1) GD displacement field in the (f, lam) plane with the fixed points and the
    realizable region lam >= 2|f|, from the compiled derived map."""
    from .compile import compile_model

    target = check_path(path)
    compiled = compile_model("uv", "mup")
    f = np.linspace(-3.5, 6, 28)
    lam = np.linspace(0.05, 11, 28)
    mesh_f, mesh_lam = np.meshgrid(f, lam)
    with np.errstate(all="ignore"):
        new_f, new_lam = compiled.step_numpy(mesh_f, mesh_lam, eta, 4, y, 1.0)
    du, dv = np.asarray(new_f) - mesh_f, np.asarray(new_lam) - mesh_lam
    norm = np.hypot(du, dv) + 1e-12
    figure, axis = plt.subplots(figsize=(7, 5))
    axis.quiver(mesh_f, mesh_lam, du / norm, dv / norm, np.log10(norm), cmap="viridis", scale=40, width=0.003)
    axis.fill_between(f, 0, 2 * np.abs(f), color="lightgray", alpha=0.6, label=r"unrealizable: $\lambda < 2|f|$")
    axis.axhline(2 / eta, color="tab:red", ls="--", lw=1, label=r"$\lambda = 2/\eta$")
    axis.axvline(y, color="tab:blue", lw=1, label="line of minima f = y")
    for point in fixed_points:
        c = point["coordinates"]
        axis.plot(c["f"], c["lam"], "o", color="black")
        axis.annotate(point["label"], (c["f"], c["lam"]), textcoords="offset points", xytext=(5, 5))
    axis.set_xlim(f[0], f[-1])
    axis.set_ylim(0, lam[-1])
    axis.set_xlabel("f")
    axis.set_ylabel(r"$\lambda$")
    axis.legend(fontsize=7, loc="upper left")
    axis.set_title(f"uv (muP), eta = {eta:g}, y = {y:g}: GD direction (colour: log10 step)", fontsize=9)
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
    np.atleast_1d(axes)[-1].set_xlabel("step")
    _save(figure, target)


def delta_figure(cascade: dict, path: str) -> None:
    """|delta_j - delta| of the raw ratios and of their Aitken acceleration against j (log scale)."""
    import mpmath

    from .cascade import FEIGENBAUM_DELTA

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
    """Final sharpness against 2/eta, for runs keyed by eta."""
    target = check_path(path)
    thresholds = np.array([r["threshold"] for r in runs.values()])
    finals = np.array([r["final"]["sharpness"] if r["final"]["sharpness"] is not None else np.nan
                       for r in runs.values()])
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(thresholds, finals, "o-", label="final sharpness")
    axis.plot(thresholds, thresholds, "k--", lw=1, label=r"$2/\eta$")
    axis.set_xlabel(r"$2/\eta$")
    axis.set_ylabel("final sharpness")
    axis.legend()
    axis.set_title("xy-quartic from (4, 0.3): GD ends just below 2/eta", fontsize=9)
    _save(figure, target)


def note_figure(text: str, path: str) -> None:
    target = check_path(path)
    figure, axis = plt.subplots(figsize=(6, 2))
    axis.axis("off")
    axis.text(0.5, 0.5, text, ha="center", va="center")
    _save(figure, target)
