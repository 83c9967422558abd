"""The report's central-flow section: the flow against GD's two-step averages, with the predicted loss, for a
built-in model (``uv-eos``) and for the digits MLP (:mod:`numerics.nn`; said so, without a figure, when PyTorch is
absent: :func:`~numerics.report.record.without_torch`)."""
from __future__ import annotations

from ..axis import Axis
from ..requests import CentralFlowRequest, NetworkRequest, Problem
from .fragments import tex_command, tex_figure, tex_number, tex_text
from .record import record, without_torch

TOY_FIGURE, NETWORK_FIGURE = "central_flow_uv_eos", "central_flow_mlp"


def toy_request(time: float) -> CentralFlowRequest:
    """``uv-eos`` at k = 1.05 (one critical eigenvalue; its flow sits on S = 2/eta from t = 2.15) against GD."""
    return CentralFlowRequest(Problem("uv-eos", values={"k": "1.05"}), float(time), gd=True)


def network_request(steps: int, samples: int, width: int) -> NetworkRequest:
    """The MLP on the first ``samples`` digits at eta = 0.3 (its sharpness starts above 2/eta: projected), GD and the
    flow with k = 4, the sharpness measured every step (GD's two-step averages)."""
    return NetworkRequest(Axis("eta", [0.3]), arch="mlp", steps=int(steps), samples=int(samples), width=int(width),
                          measure_every=1, top_k=4, central_flow=True)


def section_central_flow(run) -> dict:
    from .. import plots

    settings = run.settings
    toy = record(toy_request(settings.flow_time))
    run.figure(TOY_FIGURE, lambda p: plots.central_flow_figure(toy["result"], p))
    missing = without_torch("the network's central flow was not computed")
    if missing:
        run.discard(NETWORK_FIGURE)
        return {"uv_eos": toy, "mlp": missing}
    network = record(network_request(settings.flow_steps, settings.flow_samples, settings.flow_width))
    run.figure(NETWORK_FIGURE, lambda p: plots.network_flow_figure(network["result"], network["result"]["gd"], p))
    return {"uv_eos": toy, "mlp": network}


def _errors(comparison: dict) -> str:
    return (rf"GD's two-step averaged loss is within ${tex_number(100 * comparison['median_rel_error_loss'], 2)}\,\%$ "
            rf"(median) of the predicted loss $L + \operatorname{{tr}}\Sigma/\eta$, and "
            rf"${tex_number(100 * comparison['median_rel_error_flow_loss'], 2)}\,\%$ of the flow's own $L$")


def tex_central_flow(section: dict, results: dict) -> list:
    toy = section["uv_eos"]["result"]
    comparison = toy["gd_comparison"]
    lines = [r"\section{Central flows}",
             r"The central flow of Cohen et al.~\cite{cohen2025} is GD's time-averaged dynamics at the edge of "
             r"stability: gradient flow below $2/\eta$, and on $S = 2/\eta$ the multiplier $\sigma^2$ (the variance "
             r"of the oscillation) that keeps it there; the predicted time-averaged loss is $L + \sigma^2/\eta$. "
             rf"On \texttt{{uv-eos}} ($k = 1.05$, $t \le {tex_number(toy['time'])}$ steps) the flow enters the EoS at "
             rf"$t = {tex_number(toy['events'][0]['time'], 6)}$; over the second half, GD's two-step averages follow "
             rf"it to ${tex_number(100 * comparison['median_rel_error_state'], 2)}\,\%$ (state) and "
             rf"${tex_number(100 * comparison['median_rel_error_sharpness'], 2)}\,\%$ (sharpness), while its averaged "
             rf"loss is ${tex_number(100 * comparison['median_rel_error_loss'], 3)}\,\%$ above the predicted loss: on "
             r"this one-parameter loss the two-cycle of GD has $a^2 = \tfrac98\sigma^2$ (measured at $k = 1.05$, "
             r"$1.01$, $1.001$: the ratio does not shrink with the amplitude), since its mean sits at "
             r"$S = 2/\eta - L^{(4)}a^2/6$, not at $2/\eta$.",
             tex_command(section["uv_eos"]),
             *tex_figure(TOY_FIGURE, r"\texttt{uv-eos}, $k = 1.05$: GD, its two-step averages and the central flow.",
                         "0.7")]
    network = section["mlp"]
    if network.get("result") is None:
        return lines + [tex_text(network["note"])]
    flow = network["result"]
    gd = flow["gd"]
    comparison = flow.get("gd_comparison", {})
    lines.append(rf"For the MLP of width ${gd['width']}$ on ${gd['samples']}$ digits (${flow['parameters']}$ "
                 rf"parameters) at $\eta = {tex_number(flow['eta'])}$, the flow is integrated with the "
                 rf"top-${flow['k']}$ critical subspace and $\Sigma$ from its semidefinite complementarity problem, "
                 rf"${flow['substeps']}$ Euler substeps per step, for ${tex_number(flow['time'])}$ steps in "
                 rf"${tex_number(flow['elapsed'], 2)}$\,s. Over the second half, "
                 + (_errors(comparison) if comparison.get("median_rel_error_loss") is not None else
                    "GD's loss could not be compared") + "."
                 + ("" if flow["complete"] else " " + tex_text("The flow is not complete: " + flow["reason"])))
    lines.append(tex_command(network))
    return lines + tex_figure(NETWORK_FIGURE, r"MLP on digits: GD, its two-step averaged loss, the central flow and "
                                              r"its predicted loss.", "0.7")
