r"""The report's section "The phase diagram of a real network": the digits MLP over step sizes, widths and the
parameterizations ntk (the UV model's SP) and mup (its muP), each run's early regime beside the UV model's at the
same :math:`(\eta\lambda_0, n)` (:mod:`numerics.nn.phase`). Without PyTorch the section is left out, and nothing
in the report claims it."""
from __future__ import annotations

from ..axis import Axis, Categories
from ..requests import NetworkRequest
from .fragments import tex_command, tex_figure, tex_number
from .record import record, without_torch

FIGURE = "nn_phase_diagram"


def phase_request(quick: bool, scheduler=None) -> NetworkRequest:
    """The grid of the section: quick, 3 step sizes x widths 8, 32 x (ntk, mup), 60 steps on 32 digits; else 6 step
    sizes x widths 16, 64, 256, 150 steps on 64 digits (``scripts/kalra2023_nn_phase_diagram.py``)."""
    etas = Axis.parse("eta=0.05:1:3:log" if quick else "eta=0.03:1.5:6:log", counted=True)
    widths = Axis("width", [8, 32] if quick else [16, 64, 256])
    return NetworkRequest(etas, samples=32 if quick else 64, steps=60 if quick else 150, measure_every=3,
                          vary=(widths, Categories("parameterization", ("ntk", "mup"))), scheduler=scheduler)


def section_nn_phase(run) -> dict:
    missing = without_torch("no real-network phase diagram was computed")
    if missing:
        run.discard(FIGURE)
        return missing
    section = record(phase_request(run.quick, run.scheduler), client=run.client)
    run.figure(FIGURE, lambda path: diagram_of(section["result"]).plot(path, section["result"]["runs"][0]["steps"]))
    return section


def diagram_of(result: dict):
    """The :class:`~numerics.nn.PhaseDiagram` of a grid's JSON (its table's phase columns)."""
    from dataclasses import fields

    from ..nn.phase import PhaseCell, PhaseDiagram

    names = [f.name for f in fields(PhaseCell)]
    return PhaseDiagram(tuple(PhaseCell(**{name: row[name] for name in names}) for row in result["table"]))


def tex_nn_phase(section: dict, results: dict) -> list:
    result = section.get("result")
    if result is None:  # without PyTorch: no section
        return []
    summary = result["phase_diagram"]
    rows = result["table"]
    widths = sorted({row["width"] for row in rows})
    parts = ", ".join(f"{name}: ${s['agreeing']}/{s['compared']}$"
                      for name, s in summary["by_parameterization"].items())
    lines = [r"\section{The phase diagram of a real network}",
             rf"The MLP on ${rows and result['runs'][0]['samples']}$ digits at widths "
             rf"{', '.join(f'${w}$' for w in widths)}, full-batch GD for ${result['runs'][0]['steps']}$ steps, "
             r"in the parameterizations ntk (whose counterpart is the UV model's SP) and muP (Yang and Hu's "
             r"abc-parameterizations in their one-learning-rate form): each run's early regime (its characteristic "
             r"regime, as the cells of the UV phase diagram) at its $(\eta\lambda_0, n)$, beside the UV model's at "
             r"the same point over the same number of steps, from zero output. "
             rf"They agree in ${summary['agreeing']}$ of ${summary['compared']}$ runs "
             rf"(${tex_number(summary['agreement_rate'], 3)}$; "
             rf"{parts}).", tex_command(section, "the grid")]
    return lines + tex_figure(FIGURE, r"The digits MLP's early regime over $(\eta\lambda_0, n)$ (left) beside the "
                                      r"UV model's on the same axes (right, with the runs over it; a ring where "
                                      r"they disagree), one row per parameterization.", "0.95")
