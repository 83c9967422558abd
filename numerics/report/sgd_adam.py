r"""The report's section on the optimizers networks are trained with: mini-batch SGD and Adam, each measured
quantity against its own derived threshold, beside the toy model's derived thresholds.

Thresholds (derived in :mod:`analysis.optimizers` and :mod:`analysis.stochastic`, never retyped here):

* mini-batch SGD's mean map is GD's, threshold :math:`2/\eta`, on the full-batch sharpness and on the *batch
  sharpness* :math:`E_B[g_B^\top H_B g_B/|g_B|^2]` (Andreyev & Beneventano 2024); at a minimum, SGD is stable in
  mean square only below the step :math:`\eta^\ast` where the second-moment map's spectral radius reaches 1 (Wu,
  Ma & E 2018), stricter than GD's;
* Adam with its preconditioner frozen is a momentum method on :math:`P^{-1/2} H P^{-1/2}`: threshold
  :math:`(2 + 2\beta_1)/((1 - \beta_1)\eta)` on the *preconditioned sharpness* :math:`\lambda_{\max}(P^{-1} H)`
  (Cohen et al. 2022).

The toy model is ``two-input`` (two examples): ``fixed-points --optimizer sgd`` at its minimum for batches of 1 and
of 2 (the full batch), and ``run --optimizer adam``; the MLP part trains the digits MLP of :mod:`numerics.nn` under
SGD at two batch sizes and under Adam (without PyTorch not computed: the section says so and the figure keeps
the toy panel only, :func:`~numerics.report.record.without_torch`). :func:`section_sgd_adam` is the
section's ``compute`` (:data:`numerics.report.sections.SECTIONS`), :func:`sgd_adam_figure` draws :data:`FIGURE`,
:func:`tex_sgd_adam` writes the LaTeX.
"""
from __future__ import annotations

import numpy as np

from ..nn import Training
from ..requests import FixedPointsRequest, Problem, RunRequest
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from .network import network_run
from .record import record, without_torch

FIGURE = "sgd_adam_sharpness"
# two-input at s = 1/2, eta = 0.4: its minima form a curve, reported at the point where GD's multiplier is -1
# (eta = 2/h); there one example per batch is already unstable in mean square (threshold 0.3959 < 0.4), the full
# batch of two is GD (threshold 0.4).
TOY_SGD_VALUES = {"eta": "0.4", "s": "1/2"}
TOY_BATCH_SIZES = (1, 2)
# two-input under Adam (PyTorch's defaults) at eta = 1: its preconditioned sharpness reaches 38/eta after a catapult
# and hovers there (median 0.98 of it over steps 500-1000, measured); 1,000 steps take about 3 s.
TOY_ADAM_VALUES = {"eta": "1"}
TOY_ADAM_STEPS = 1000
# The digits MLP: SGD at eta = 0.2 with batches of 32 and 128, Adam at eta = 0.003 (threshold 38/eta = 12,667),
# whose preconditioned sharpness reaches its threshold within ~100 steps on 256 examples.
MLP_SGD_ETA = 0.2
MLP_BATCH_SIZES = (32, 128)
MLP_ADAM_ETA = 0.003
COLOURS = {"sgd_32": "tab:blue", "sgd_128": "tab:orange", "adam": "tab:green"}


def toy_records() -> dict:
    """``{"sgd": {B: record}, "adam": record}``: two-input's mean-square thresholds at its minimum for each batch size
    of :data:`TOY_BATCH_SIZES`, and its run under Adam."""
    sgd = {str(size): record(FixedPointsRequest(Problem("two-input", values=TOY_SGD_VALUES, optimizer="sgd",
                                                        batch_size=size)))
           for size in TOY_BATCH_SIZES}
    adam = record(RunRequest(Problem("two-input", values=TOY_ADAM_VALUES, optimizer="adam"), steps=TOY_ADAM_STEPS))
    return {"sgd": sgd, "adam": adam}


def mlp_requests(steps, samples) -> dict:
    """``{name: NetworkRequest}``: the MLP under SGD at each batch size of :data:`MLP_BATCH_SIZES` (measured every
    10 steps) and under Adam (every 5)."""
    requests = {f"sgd_{size}": network_run(int(steps), int(samples), MLP_SGD_ETA, "sgd", batch_size=size,
                                           measure_every=10) for size in MLP_BATCH_SIZES}
    requests["adam"] = network_run(int(steps), int(samples), MLP_ADAM_ETA, "adam")
    return requests


def mlp_records(steps, samples) -> dict:
    """``{name: record}`` of :func:`mlp_requests`, or the note of :func:`~numerics.report.record.without_torch`."""
    missing = without_torch("the MLP was not trained under SGD or Adam")
    if missing:
        return missing
    return {name: record(request) for name, request in mlp_requests(steps, samples).items()}


def section_sgd_adam(run) -> dict:
    """The report section: the toy model's records and the MLP's (``run.settings``: ``nn_steps``, ``nn_samples``),
    and the figure :data:`FIGURE`."""
    section = {"toy": toy_records(), "mlp": mlp_records(run.settings.nn_steps, run.settings.nn_samples)}
    run.figure(FIGURE, lambda path: sgd_adam_figure(section, path))
    return section


def mean_square(fixed_points: dict) -> dict | None:
    """The ``mean_square_threshold`` entry of the first fixed point where SGD has one (a minimum of every
    example), from ``fixed-points --optimizer sgd --json``."""
    for point in fixed_points["fixed_points"]:
        entry = point.get("mean_square_threshold")
        if entry and entry.get("eta") is not None:
            return entry
    return None


def toy_adam_ratios(result: dict) -> dict:
    """``{"median", "peak"}`` of the preconditioned sharpness over its threshold in the second half of a
    ``run --optimizer adam`` (the trajectory's ``sharpness`` is the preconditioned one; none at step 0)."""
    trajectory = result["trajectory"]
    steps = np.asarray(trajectory["step"], dtype=float)
    values = np.array([np.nan if v is None else v for v in trajectory["sharpness"]], dtype=float)
    late = values[(steps >= float(result["steps"]) / 2) & np.isfinite(values)] / result["threshold"]
    return {"median": float(np.median(late)) if len(late) else None,
            "peak": float(np.max(late)) if len(late) else None}


def _label(name: str) -> str:
    return "Adam" if name == "adam" else f"SGD, B = {name.split('_')[1]}"


def _has_mlp(section: dict) -> bool:
    return section["mlp"].get("note") is None


def sgd_adam_figure(section: dict, path: str) -> None:
    """Left: two-input under Adam, its preconditioned sharpness over the threshold. Right, where the MLP was
    trained: each measured quantity over its own threshold (batch sharpness solid and full-batch sharpness dashed
    under SGD, the preconditioned sharpness under Adam). 1 is the threshold in both."""
    from .. import plots

    plt = plots.plt
    mlp = section["mlp"]
    figure, axes = plt.subplots(1, 2 if _has_mlp(section) else 1, figsize=(12, 4) if _has_mlp(section) else (6, 4),
                                squeeze=False)
    left = axes[0][0]
    toy = section["toy"]["adam"]["result"]
    values = np.array([np.nan if v is None else v for v in toy["trajectory"]["sharpness"]], dtype=float)
    left.plot(toy["trajectory"]["step"], values / toy["threshold"], lw=0.8, color=COLOURS["adam"])
    left.set_title(f"two-input under Adam, eta = {toy['parameters']['eta']:g}: preconditioned sharpness", fontsize=9)
    left.set_ylabel("value / threshold")
    if _has_mlp(section):
        right = axes[0][1]
        for name, entry in mlp.items():
            run = Training.from_dict(entry["result"])
            steps, values = run.series(run.regimes_of)
            right.plot(steps, values / run.threshold, lw=1, color=COLOURS.get(name), label=f"{_label(name)}: "
                       f"{run.regimes_of.replace('_', ' ')}")
            if run.regimes_of == "batch_sharpness":
                steps, values = run.series("sharpness")
                right.plot(steps, values / run.threshold, lw=0.8, ls="--", color=COLOURS.get(name),
                           label=f"{_label(name)}: full-batch sharpness")
        right.set_title("MLP on digits: each quantity over its own threshold", fontsize=9)
        right.legend(fontsize=7)
    for axis in axes[0]:
        axis.axhline(1, color="tab:red", ls="--", lw=1)
        axis.set_xlabel("step")
    figure.tight_layout()
    plots._save(figure, plots.check_path(path))


def _ratio_cells(ratios: dict) -> list:
    return [rf"${tex_number(ratios['median'], 3)}$", rf"${tex_number(ratios['peak'], 3)}$"]


def tex_sgd_adam(section: dict, results: dict) -> list:
    toy = section["toy"]
    rows = []
    for size, entry in toy["sgd"].items():
        threshold = mean_square(entry["result"])
        if threshold is None:  # no minimum of every example among the fixed points: nothing to show
            continue
        rows.append([rf"SGD, $B = {size}$ of ${threshold['examples']}$", r"mean-square step $\eta^\ast$",
                     rf"${tex_number(threshold['eta'], 6)}$",
                     rf"GD's $2/h = {tex_number(threshold['gd_eta'], 6)}$"])
    adam = toy["adam"]["result"]
    ratios = toy_adam_ratios(adam)
    rows.append([rf"Adam, $\eta = {tex_number(adam['parameters']['eta'])}$", "preconditioned sharpness",
                 rf"${tex_number(adam['threshold'], 5)}$",
                 rf"median ${tex_number(ratios['median'], 3)}$, peak ${tex_number(ratios['peak'], 3)}$ of it"])
    lines = [r"\section{Mini-batch SGD and Adam}",
             r"Networks are trained with mini-batches and with Adam, and each has its own edge of stability. "
             r"Mini-batch SGD's mean step is GD's, so its threshold on the sharpness is $2/\eta$; at a minimum it "
             r"is stable in mean square only while the second-moment map $X \mapsto E_B[(I - \eta H_B) X "
             r"(I - \eta H_B)]$ has spectral radius below one~\cite{wu2018}, a step $\eta^\ast$ below GD's, and what "
             r"sits at $2/\eta$ during training is the \emph{batch sharpness} $E_B[g_B^{\top} H_B g_B / |g_B|^{2}]$, "
             r"the curvature of the batch loss along its own gradient~\cite{andreyev2024}. Adam with its "
             r"preconditioner $P = \operatorname{diag}(\sqrt{\hat v} + \epsilon)$ frozen is a momentum method on "
             r"$P^{-1/2} H P^{-1/2}$, stable while the \emph{preconditioned sharpness} $\lambda_{\max}(P^{-1} H)$ "
             r"stays below $(2 + 2\beta_1)/((1 - \beta_1)\eta)$, $38/\eta$ at $\beta_1 = 0.9$~\cite{cohen2022}. "
             r"Each threshold is derived from the optimizer's map; the toy model \texttt{two-input} (two examples) "
             r"gives them exactly" + (r", beside the digits MLP measured against them." if _has_mlp(section) else
                                      ". " + tex_text(section["mlp"]["note"])),
             *tex_table("llrl", ["optimizer", "quantity", "threshold", "against"], rows,
                        r"The toy model \texttt{two-input}: SGD's mean-square threshold at its minimum ($s = 1/2$) "
                        r"against GD's, and Adam's preconditioned sharpness against its threshold (median and peak "
                        r"of the ratio over the second half of the run).", "sgd-adam-toy"),
             tex_command(toy["sgd"][str(TOY_BATCH_SIZES[0])], r"the first row"),
             tex_command(toy["adam"], r"the Adam row")]
    if not _has_mlp(section):
        return lines + tex_figure(FIGURE, r"\texttt{two-input} under Adam: its preconditioned sharpness over its "
                                          r"threshold.", "0.6")
    rows, first = [], None
    for name, entry in section["mlp"].items():
        run = Training.from_dict(entry["result"])
        first = first or run
        for quantity, ratios in run.threshold_ratios.items():
            rows.append([tex_text(_label(name)), tex_text(quantity.replace("_", " ")),
                         rf"${tex_number(ratios['threshold'], 5)}$", *_ratio_cells(ratios)])
    lines += [rf"The MLP of width ${first.width}$ on ${first.samples}$ digits for ${first.steps}$ steps: SGD "
              rf"at $\eta = {tex_number(MLP_SGD_ETA)}$ with batches drawn epoch by epoch, the batch sharpness "
              rf"estimated over ${first.batch_sharpness['batches']}$ batches at each measurement; Adam at "
              rf"$\eta = {tex_number(MLP_ADAM_ETA)}$ with PyTorch's defaults, the preconditioned sharpness by "
              r"Lanczos on $P^{-1/2} H P^{-1/2}$ products~\cite{lanczos1950}.",
              *tex_table("llrrr", ["run", "quantity", "threshold", "median / thr.", "peak / thr."], rows,
                         r"The digits MLP: each measured quantity against its own threshold, median and peak "
                         r"of the ratio over the second half of the run.", "sgd-adam-mlp"),
              tex_command(section["mlp"]["adam"], r"the Adam rows")]
    return lines + tex_figure(FIGURE, r"Each quantity over its own threshold: \texttt{two-input} under Adam (left) "
                                      r"and the digits MLP under SGD and Adam (right).", "0.95")
