r"""Figures of real-network runs (the sharpness orbit diagram of an eta sweep); matplotlib is imported on first use."""
from __future__ import annotations

import numpy as np


def orbit_figure(runs: list, path: str, keep: int = 128) -> None:
    """``runs``: the :class:`~numerics.nn.Training` of an eta sweep. Left: the sharpness orbit diagram against eta
    (the last ``keep`` measurements of each run's EoS window of the quantity its regimes are of, ``regimes_of``: the
    sharpness, the batch sharpness or Adam's preconditioned sharpness, divided by the optimizer's threshold, so
    that 1 is ``2/eta`` for GD; ``div`` marks a diverged run, the number under each column the period, ``-`` none). Right: the Welch spectra of the EoS windows, log10 of the
    power normalised per eta, one row per eta."""
    from .. import plots

    target = plots.check_path(path)
    plt = plots.plt
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = []
    for run in runs:
        if run.outcome.name == "diverged":
            left.annotate("div", (run.eta, 1.0), fontsize=7, ha="center", color="tab:red")
            continue
        steps, values = run.series(run.regimes_of)
        values = values / run.threshold
        window = run.eos_window
        values = values[(steps >= window["start"]) & (steps <= window["end"])] if window else values[len(values) // 2:]
        tail = values[-keep:]
        left.plot(np.full(len(tail), run.eta), tail, ".", ms=2, color="tab:orange" if window else "tab:gray")
        label = "-" if run.period is None else str(run.period)
        left.annotate(label, (run.eta, 0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                      textcoords="offset points", fontsize=7, ha="center")
        if run.power_spectrum:
            rows.append((run.eta, run.power_spectrum))
    left.axhline(1, color="tab:red", ls="--", lw=1)
    etas_all = [run.eta for run in runs]
    margin = 0.05 * (max(etas_all) - min(etas_all) or 1)
    left.set_xlim(min(etas_all) - margin, max(etas_all) + margin)
    left.set_xlabel(r"$\eta$")
    left.set_ylabel(f"{runs[0].regimes_of.replace('_', ' ')} / threshold (last {keep} steps of the EoS window)")
    left.set_title("orbit diagram of the sharpness (bottom: period, '-' none)", fontsize=9)
    if rows:
        etas = np.array([eta for eta, _ in rows])
        frequency = np.asarray(rows[0][1]["frequency"])
        image = []
        for _, spectrum in rows:
            power = np.interp(frequency, spectrum["frequency"], spectrum["power"])
            image.append(np.log10(np.maximum(power / max(power.max(), 1e-300), 1e-12)))
        mesh = right.pcolormesh(frequency, etas, np.array(image), shading="nearest", cmap="viridis", vmin=-5, vmax=0)
        figure.colorbar(mesh, ax=right, label="log10 power / max (per eta)")
        right.set_xlabel("frequency (cycles per step)")
        right.set_ylabel(r"$\eta$")
        right.set_title("Welch spectra of the sharpness over the EoS window", fontsize=9)
    else:
        right.text(0.5, 0.5, "no edge-of-stability window", ha="center", transform=right.transAxes)
    first = runs[0]
    figure.suptitle(f"{first.model or first.arch} on {first.data or first.dataset} "
                    f"({first.samples} examples), {first.optimizer}, {first.steps} steps", fontsize=9)
    plots._save(figure, target)


def phase_figure(diagram, path: str, steps: int, points: int = 200) -> None:
    r"""The early-training phase diagram (:class:`~numerics.nn.phase.PhaseDiagram`): one row per parameterization
    of the grid; left, the network's early regime at each run's :math:`(\eta\lambda_0, n)` (width on a log axis);
    right, the UV model's early regime on the same axes, computed over ``steps`` steps at ``points`` log-spaced values
    of :math:`\eta\lambda_0` per width (from half the smallest to 1.2 times the largest of the runs'), with the runs
    drawn over it (a ring where the two disagree). Colours are the regime colours of every phase diagram
    (:data:`numerics.plots.REGIME_COLOURS`)."""
    from .. import plots
    from ..classify import REGIME_ORDER
    from .comparison import uv_early_regime

    target = plots.check_path(path)
    plt = plots.plt
    cells = [cell for cell in diagram.cells if cell.eta_lam0 and cell.eta_lam0 > 0]
    groups = {}
    for cell in cells:
        groups.setdefault(cell.parameterization, []).append(cell)
    if not groups:
        groups = {"-": []}
    figure, axes = plt.subplots(len(groups), 2, figsize=(11, 3.6 * len(groups)), squeeze=False, sharex=True)
    values = [cell.eta_lam0 for cell in cells] or [1.0]
    grid = np.geomspace(0.5 * min(values), 1.2 * max(values), points)
    colour = lambda name: plots.REGIME_COLOURS.get(name, "black")  # noqa: E731
    for row, (name, group) in zip(axes, groups.items()):
        widths = sorted({cell.width for cell in group}) or [1]
        for cell in group:
            row[0].scatter(cell.eta_lam0, cell.width, color=colour(cell.early_regime), s=40, zorder=3)
        uv_name = group[0].uv_parameterization if group else "sp"
        for width in widths:
            labels = [uv_early_regime(float(c), int(width), int(steps), uv_name) for c in grid]
            row[1].scatter(grid, np.full(points, width), c=[colour(label) for label in labels], s=6, marker="s",
                           zorder=1)
        for cell in group:
            edge = "tab:purple" if cell.agrees is False else "none"
            row[1].scatter(cell.eta_lam0, cell.width, color=colour(cell.early_regime), s=40, edgecolors=edge,
                           linewidths=1.5, zorder=3)
        summary = _agreement(group)
        row[0].set_title(f"network ({name}): early regime", fontsize=9)
        row[1].set_title(f"UV model ({uv_name}) at the same eta*lam0 and width, {steps} steps; runs over it "
                         f"(ring: disagree) - agreement {summary}", fontsize=8)
        for ax in row:
            ax.set_xscale("log")
            ax.set_yscale("log", base=2)
            ax.set_xlabel(r"$\eta\lambda_0$")
            ax.set_ylabel("width n")
            ax.axvline(2, color="gray", lw=0.8, ls="--")
            ax.axvline(4, color="gray", lw=0.8, ls=":")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour(name), label=name) for name in REGIME_ORDER]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    plots._save(figure, target)


def _agreement(group) -> str:
    """``agreeing/compared`` of a group of phase cells, ``-`` where none is compared."""
    compared = [cell for cell in group if cell.agrees is not None]
    if not compared:
        return "-"
    agreeing = sum(cell.agrees for cell in compared)
    return f"{agreeing}/{len(compared)}"
