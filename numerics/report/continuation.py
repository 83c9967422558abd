"""The report's section on the UV model's flip curves in the (eta, y) plane by continuation
(:mod:`numerics.branches`)."""
from __future__ import annotations

import sympy as sp

from analysis import load_model
from analysis.latex import to_latex

from ..axis import Axis
from ..requests import ContinuationRequest, Problem
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from .record import record


REPORT_VALUES = {"x": "1", "n": "4"}
REPORT_PLANE = ("eta=0.6:1.4", "y=0.7:2")
REPORT_Y = "1.8"
# A point of the period-2 orbit on the EoS manifold u = v at eta = 0.6, x = 1, y = 1.8 (k = eta x y = 1.08):
# z1 + z2 = sqrt(1 + 3/k), z1 z2 = 1/k (tests/numerics/test_branches.py), z1 = 1.10795, f = y z1^2, lam = 2 x f (muP).
REPORT_INIT = {"f": "2.2096", "lam": "4.4192"}


def section_continuation(run) -> dict:
    """Report item: the UV model's (muP) flip curves of periods 1 to 16 in the (eta, y) plane, their criticality,
    and alpha from the superstable orbits along the continued cascade; ``run`` is the report's
    :class:`~numerics.report.runner.Run`."""
    from .. import plots

    problem = Problem("uv", values={**REPORT_VALUES, "y": REPORT_Y}, init=REPORT_INIT, parameterization="mup")
    plane = tuple(Axis.parse(text) for text in REPORT_PLANE)
    cascade_run = record(ContinuationRequest(problem, plane[:1], period=2, doublings=3))
    curves = {period: record(ContinuationRequest(problem, plane, period=period, start_period=2, curve="PD",
                                                 max_points=200))
              for period in (2, 4, 8, 16)}
    flip = [e for e in load_model("uv", "mup").eos_map.equations if e.label == "eos-flip-u=v-0"]
    closed = {"period": 1, "expression": str(flip[0].rhs) if flip else "1/(x*y)",
              "source": "sharpness derive uv -p mup --only eos_map (eos-flip-u=v-0): the transverse flip of the "
                        "line of minima IV on the EoS manifold u = v"}
    criticality = [{"period": s["period"], "eta": s["parameters"]["eta"], "b": s["normal_form"]["coefficient"],
                    "criticality": s["normal_form"]["criticality"]}
                   for s in cascade_run["result"]["special_points"] if s["type"] == "PD"]
    run.figure("uv_flip_curves", lambda p: plots.flip_curves_figure(
        {p_: c["result"] for p_, c in curves.items()}, closed, criticality, p,
        "uv (muP), x = 1: flip curves of the EoS cascade in the (eta, y) plane"))
    return {"cascade": cascade_run, "curves": {str(k): v for k, v in curves.items()}, "period_1": closed,
            "criticality": criticality}


def closed_form(entry: dict) -> str:
    return to_latex(sp.sympify(entry["expression"]))


def tex_continuation(section: dict, results: dict) -> list:
    rows = [[f"${c['period']}$", rf"${tex_number(c['eta'], 10)}$", rf"${tex_number(c['b'], 5)}$",
             tex_text(c["criticality"])] for c in section["criticality"]]
    curve_rows = []
    for period, record_ in sorted(section["curves"].items(), key=lambda item: int(item[0])):
        for curve in record_["result"].get("curves", []):
            points = curve["points"]
            etas = [p["parameters"]["eta"] for p in points]
            curve_rows.append([f"${curve['period']}$", f"${len(points)}$",
                               rf"$[{tex_number(min(etas), 4)}, {tex_number(max(etas), 4)}]$"])
    return [r"\section{Stability curves by continuation}",
            r"Pseudo-arclength continuation of the period-$J$ orbits of the UV map (muP, $x = 1$, $n = 4$) from the "
            r"period-2 orbit on the EoS manifold $u = v$, with the flip (PD) points located by the test function "
            r"$\det(DF^{J} + I)$ and branch switching at each flip; at every flip the normal-form coefficient "
            r"$b = \langle p, C(q,q,q) + 3B(q, (I - A)^{-1} B(q,q)) \rangle / 6$ (MatContM's convention; "
            r"$b > 0$: supercritical, the period-$2J$ orbit born at the flip is stable)~\cite{kuznetsov2019}. "
            rf"The period-1 flip curve is known in closed form: $\eta = {closed_form(section['period_1'])}$ "
            r"(the transverse flip of the line of minima on $u = v$).",
            *tex_table("rrrl", ["period $J$", r"flip $\eta$ ($y = 1.8$)", "$b$", "criticality"], rows,
                       r"Flips along the continued cascade and their normal-form coefficients.", "flips_continuation"),
            *tex_table("rrl", ["period", "points", r"$\eta$ range"], curve_rows,
                       r"Flip curves in the $(\eta, y)$ plane by two-parameter continuation.", "flip_curves"),
            tex_command(section["cascade"], r"Table~\ref{tab:flips_continuation}"),
            *tex_figure("uv_flip_curves", r"Flip curves of the UV model's EoS cascade in the $(\eta, y)$ plane, "
                        r"labelled with the criticality of each flip.")]
