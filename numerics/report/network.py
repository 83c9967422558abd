"""The report's real-network section: the digits MLP's sharpness under full-batch GD (:mod:`numerics.nn`; a note
without PyTorch)."""
from __future__ import annotations

from ..axis import Axis
from ..nn import Training
from ..requests import NetworkRequest
from .fragments import tex_command, tex_figure, tex_number, tex_text
from .record import record, without_torch


def network_run(steps: int, samples: int, eta: float = 0.15, optimizer: str = "gd",
                beta: str = "0", batch_size: int | None = None, measure_every: int = 5) -> NetworkRequest:
    """The request of a real-network run of the report (its JSON is the command line's up to ``elapsed``, the
    wall time): the MLP on the first ``samples`` digits at ``eta`` (full batch, or mini-batches of ``batch_size``),
    sharpness every ``measure_every`` steps with at most 30 Hessian-vector products per measurement; ``beta`` is
    the momentum of heavy-ball and Nesterov (Adam runs at PyTorch's defaults)."""
    momentum = beta if optimizer in ("heavy-ball", "nesterov") else None
    return NetworkRequest(Axis("eta", [eta]), arch="mlp", optimizer=optimizer, beta=momentum, steps=int(steps),
                          samples=int(samples), measure_every=int(measure_every), max_hvps=30, batch_size=batch_size)


def section_nn(run) -> dict:
    missing = without_torch("no real-network run was made")
    if missing:
        run.discard("nn_sharpness")
        return missing
    section = record(network_run(int(run.settings.nn_steps), int(run.settings.nn_samples)))
    run.figure("nn_sharpness", lambda p: Training.from_dict(section["result"]).plot(p))
    return section


def tex_nn(section: dict, results: dict) -> list:
    lines = [r"\section{A real network}"]
    result = section.get("result")
    if result is None:
        return lines + [tex_text(section["note"])]
    result = Training.from_dict(result)
    lines.append(rf"An MLP of width ${result.width}$ on ${result.samples}$ digits, full-batch GD with "
                 rf"$\eta = {tex_number(result.eta)}$ for ${result.steps}$ steps: initial sharpness "
                 rf"${tex_number(result.initial_sharpness)}$ (top Hessian eigenvalue by "
                 r"a thick-restart block Lanczos iteration~\cite{lanczos1950}), "
                 rf"final ${tex_number(result.final['sharpness'])}$, "
                 rf"against $2/\eta = {tex_number(result.threshold)}$.")
    lines.append(tex_command(section))
    return lines + tex_figure("nn_sharpness", r"MLP on digits, full-batch GD: the sharpness times $\eta/2$.", "0.6")
