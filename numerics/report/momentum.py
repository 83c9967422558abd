r"""The report's momentum section: sharpness under GD, heavy-ball and Nesterov at one step size, each
against its own threshold.

Thresholds are derived (:mod:`analysis.optimizers`): on a quadratic of curvature :math:`a` (in the metric of the
learning rates) a multiplier of the optimizer's one-step map reaches :math:`-1` at

.. math:: a^\ast_{\text{gd}} = \frac{2}{\eta}, \qquad a^\ast_{\text{heavy-ball}} = \frac{2 + 2\beta}{\eta}, \qquad
          a^\ast_{\text{nesterov}} = \frac{2 + 2\beta}{\eta (1 + 2\beta)},

and each run's regimes are labelled against its own threshold (:attr:`numerics.IteratedMap.threshold`).

The UV model runs the derived momentum maps (state :math:`(f, \lambda, f_v, f_{vv}, \lambda_v, \lambda_{vv})`,
exact at every width); the MLP part trains the digits MLP of :mod:`numerics.nn` with ``torch.optim.SGD`` (skipped,
with a note, without PyTorch). :func:`section_momentum` is the section's ``compute``
(:data:`numerics.report.sections.SECTIONS`): it takes the report's ``Run`` and returns its records, each with the
``sharpness ... --json`` command that reproduces it;
:func:`momentum_figure` draws the figure ``momentum_sharpness``, :func:`tex_momentum` the LaTeX.
"""
from __future__ import annotations

import numpy as np

from analysis.optimizers import OPTIMIZERS

from ..nn import Training
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from .network import network_run
from ..requests import Problem, RunRequest
from .record import record, without_torch


OPTIMIZER_ORDER = OPTIMIZERS  # the order of the figure and the tables
COLOURS = {"gd": "tab:blue", "heavy-ball": "tab:orange", "nesterov": "tab:green"}
FIGURE = "momentum_sharpness"
# UV model, muP, width 4: at eta = 0.9 each optimizer meets its own threshold (measured, 200 and 400 steps): GD overshoots
# 2/eta once and converges at 0.90 of it, heavy-ball catapults (maximum 1.09 of its threshold) and converges,
# Nesterov ends on a period-4 edge-of-stability orbit around its threshold (median 1.10 of it).
UV_VALUES = {"eta": "0.9", "n": "4", "y": "1"}
UV_INIT = {"f": "0.01", "lam": "0.3"}
BETA = "0.5"
UV_STEPS = 200
MLP_ETA = "0.15"


def uv_momentum_runs(steps: int = UV_STEPS, values=None, init=None, beta: str = BETA) -> dict:
    """``{optimizer: record}`` of UV (muP) runs under each optimizer at the same parameters, from one start."""
    values, init = dict(values or UV_VALUES), dict(init or UV_INIT)
    runs = {}
    for optimizer in OPTIMIZER_ORDER:
        momentum = {} if optimizer == "gd" else {"beta": beta}
        problem = Problem("uv", values={**values, **momentum}, init=init, parameterization="mup", optimizer=optimizer)
        runs[optimizer] = record(RunRequest(problem, steps=steps))
    return runs


def mlp_momentum_runs(steps, samples, eta: str = MLP_ETA, beta: str = BETA) -> dict:
    """``{optimizer: record}`` of the digits MLP (:func:`numerics.nn.train`) under each optimizer, or a note
    without PyTorch."""
    missing = without_torch("no MLP runs were made")
    if missing:
        return missing

    runs = {}
    for optimizer in OPTIMIZER_ORDER:
        runs[optimizer] = record(network_run(int(steps), int(samples), float(eta), optimizer, beta))
    return runs


def section_momentum(run) -> dict:
    """The report section: UV runs (and MLP runs, with PyTorch) under GD, heavy-ball and Nesterov at the same
    eta, and the figure :data:`FIGURE`. ``run`` is :class:`numerics.report.runner.Run` (its ``settings`` give the MLP's
    ``nn_steps`` and ``nn_samples``, its ``figure`` writes the figure)."""
    section = {"uv": uv_momentum_runs()}
    section["mlp"] = mlp_momentum_runs(run.settings.nn_steps, run.settings.nn_samples)
    run.figure(FIGURE, lambda path: momentum_figure(section, path))
    return section


def _uv_series(result: dict):
    trajectory = result["trajectory"]
    return trajectory["step"], trajectory["sharpness"]


def _mlp_series(result: dict):
    run = Training.from_dict(result)
    return run.sharpness["step"], run.sharpness["value"]


def momentum_figure(section: dict, path: str) -> None:
    """Sharpness against the step under each optimizer, with each optimizer's threshold dashed in its colour:
    the UV model (left) and, when present, the MLP (right). ``section`` is what :func:`momentum_section`
    returns (records with ``"result"``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("UV model (muP, n = 4)", section["uv"], _uv_series)]
    mlp = section.get("mlp") or {}
    if "note" not in mlp and mlp:
        panels.append(("MLP on digits", mlp, _mlp_series))
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for axis, (title, runs, series) in zip(axes[0], panels):
        top = 0.0
        for optimizer in OPTIMIZER_ORDER:
            result = runs[optimizer]["result"]
            steps, values = series(result)
            values = [float("nan") if v is None else v for v in values]
            # GD drawn last (on top), Nesterov's edge-of-stability oscillation translucent beneath
            axis.plot(steps, values, color=COLOURS[optimizer], lw=1.2 if optimizer == "gd" else 0.8,
                      alpha=0.55 if optimizer == "nesterov" else 1.0, label=optimizer,
                      zorder={"gd": 3, "heavy-ball": 2, "nesterov": 1}[optimizer])
            threshold = result["threshold"]
            axis.axhline(threshold, color=COLOURS[optimizer], ls="--", lw=1,
                         label=f"{optimizer} threshold {threshold:.3g}")
            top = max(top, threshold)
        first = next(iter(runs.values()))["result"]
        parameters = first.get("parameters")
        eta = parameters["eta"] if isinstance(parameters, dict) else first.get("eta", MLP_ETA)
        axis.set_ylim(0, 1.6 * top)
        axis.set_xlabel("step")
        axis.set_ylabel("sharpness")
        axis.set_title(f"{title}, eta = {float(eta):g}, beta = {BETA}")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def tex_momentum(section: dict, results: dict) -> list:
    mlp_runs = {name: entry for name, entry in section["mlp"].items() if name in OPTIMIZER_ORDER}
    rows = []
    for optimizer in OPTIMIZER_ORDER:
        uv = section["uv"][optimizer]["result"]
        cells = [tex_text(optimizer), rf"${tex_number(uv['threshold'], 5)}$",
                 rf"${tex_number(uv['final']['sharpness'], 5)}$", tex_text(uv["outcome"]["name"])]
        if mlp_runs:
            run = Training.from_dict(mlp_runs[optimizer]["result"])
            sharpness = run.sharpness["value"]
            values = [v for v in sharpness[len(sharpness) // 2:] if v is not None]
            cells.append(rf"${tex_number(float(np.median(values)) / run.threshold, 3)}$" if values else "--")
        rows.append(cells)
    header = ["optimizer", "threshold (UV)", "final sharpness (UV)", "outcome (UV)"]
    caption = r"Sharpness against each optimizer's own threshold"
    if mlp_runs:
        header.append("MLP: median sharpness / threshold")
        caption += r" (the MLP's median over the second half)"
    return [r"\section{Momentum}",
            r"Heavy-ball and Nesterov momentum (PyTorch's convention, $v' = \beta v + g$; heavy-ball "
            r"$\theta' = \theta - \eta v'$, Nesterov $\theta' = \theta - \eta (g + \beta v')$) are derived for every "
            r"model from the same description; the linear stability threshold on the sharpness, derived from the "
            r"optimizer's map on a quadratic, is $2/\eta$, $(2 + 2\beta)/\eta$ and $(2 + 2\beta)/(\eta (1 + 2\beta))$ "
            r"\cite{cohen2021}. The UV model (muP, $n = 4$, $\eta = 0.9$, $\beta = 0.5$)"
            + (r" and the digits MLP run" if mlp_runs else r" runs") + r" under each optimizer; each run's sharpness is "
            r"read against its own threshold." + ("" if mlp_runs else " " + tex_text(section["mlp"]["note"])),
            *tex_table("lrrlr" if mlp_runs else "lrrl", header, rows, caption + ".", "momentum"),
            tex_command(section["uv"]["heavy-ball"], r"the heavy-ball row"),
            *tex_figure("momentum_sharpness", r"Sharpness under GD, heavy-ball and Nesterov at the same $\eta$, each "
                        r"with its own threshold (dashed)" + (r": the UV model (left) and the MLP (right)."
                                                              if mlp_runs else r", on the UV model."))]
