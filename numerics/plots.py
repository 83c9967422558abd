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
