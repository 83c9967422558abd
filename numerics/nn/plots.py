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
