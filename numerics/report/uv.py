"""The report's sections on the UV model itself: its fixed points and flow, three trajectories and their regimes,
the phase diagram over the initial kernel and the width."""
from __future__ import annotations

import numpy as np

from analysis import load_model
from analysis.latex import text_escape

from .. import sweeps
from ..iterated_map import IteratedMap
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from ..requests import FixedPointsRequest, Problem, RunRequest
from .record import record


FLOW_VALUES = {"eta": "0.5", "y": "1", "n": "4"}
FLOW_LABEL = r"($\mu$P, $\eta = 0.5$, $y = 1$, $n = 4$)"


def section_fixed_points(run) -> dict:
    from .. import plots

    uv_mup = load_model("uv", "mup")
    section = record(FixedPointsRequest(Problem("uv", values=FLOW_VALUES, parameterization="mup")))
    flow_map = IteratedMap(uv_mup, values=FLOW_VALUES)
    run.figure("uv_flow", lambda p: plots.flow_figure(flow_map, uv_mup.fixed_points_at(FLOW_VALUES), p,
                                                      box=[(-3.5, 6), (0.05, 11)]))
    return section


def tex_fixed_points(section: dict, results: dict) -> list:
    rows = []
    points = section["result"]["fixed_points"]
    for point in points:
        coordinates = ", ".join(tex_number(v, 10) for v in point["coordinates"].values())
        eigenvalues = ", ".join(tex_number(e, 10) if not isinstance(e, dict) else
                                rf"{tex_number(e['re'], 10)} {'+' if e['im'] >= 0 else '-'} "
                                rf"{tex_number(abs(e['im']), 10)}\,i"
                                for e in point["eigenvalues"])
        rows.append([point["label"], f"$({coordinates})$", f"${eigenvalues}$", text_escape(point["stability"])])
    names = ", ".join(point["coordinates"]) if points else ""
    state = names.replace("lam", r"\lambda")
    return [r"\section{Fixed points}",
            r"The fixed points of the function-space map of the UV model " + FLOW_LABEL + r", evaluated from "
            r"the closed forms of Section~\ref{sec:derived} (exact: float64 evaluation of exact expressions, "
            r"shown to 10 significant digits), with the eigenvalues $\mu$ of the Jacobian there. A line of fixed "
            r"points is shown at its flip point $\eta\lambda = 2$.",
            *tex_table("clllp{0.3\\linewidth}", ["label", f"$({state})$", r"eigenvalues $\mu$", "stability"], rows,
                       r"Fixed points of the UV model " + FLOW_LABEL + ".", "fixed-points"),
            tex_command(section, r"Table~\ref{tab:fixed-points}"),
            *tex_figure("uv_flow", r"UV model " + FLOW_LABEL + r": GD displacement field in the $(f, \lambda)$ "
                        r"plane, the fixed points, and the realizable region $\lambda \ge 2|f|$.")]


def section_trajectories(run) -> dict:
    from .. import plots

    trajectories = {}
    for label, parameterization, eta, n, f0, lam0 in (
            ("progressive sharpening", "mup", "0.9", "4", "0.01", "0.3"),
            ("edge of stability", "mup", "1.1", "4", "0.01", "0.3"),
            ("catapult", "sp", "2.5", "100", "0.05", "1")):
        problem = Problem("uv", values={"eta": eta, "n": n, "y": "1"}, init={"f": f0, "lam": lam0},
                          parameterization=parameterization)
        trajectories[label] = record(RunRequest(problem, steps=200))
    run.figure("uv_trajectories",
               lambda p: plots.trajectories_figure({k: v["result"] for k, v in trajectories.items()}, p))
    return trajectories


def tex_trajectories(section: dict, results: dict) -> list:
    rows = []
    for label, run in section.items():
        parameters = run["result"]["parameters"]
        parameterization = {"mup": r"$\mu$P", "sp": "SP"}.get(run["result"]["parameterization"], "")
        setting = rf"{parameterization}, $\eta = {tex_number(parameters['eta'])}$, $n = {tex_number(parameters['n'])}$"
        for i, regime in enumerate(run["result"]["regimes"]):
            rows.append([text_escape(label) if i == 0 else "", setting if i == 0 else "",
                         text_escape(regime["name"]), f"${regime['start']}$--${regime['end']}$"])
        rows.append(["", "", r"\emph{outcome}", text_escape(run["result"]["outcome"]["name"])])
    return [r"\section{Trajectories and regimes}",
            r"Regimes are labelled from the sharpness and the loss along each run (definitions after Kalra et "
            r"al.~\cite{kalra2023} Sec.~2, Cohen et al.~\cite{cohen2021}); the boundaries are exact step indices "
            r"of the classified trajectory (resolution 1 step).",
            *tex_table("llll", ["run", "setting ($y = 1$)", "regime", "steps"], rows,
                       "Regime boundaries of the three runs of Figure~\\ref{fig:uv_trajectories}.", "regimes"),
            *[tex_command(run, tex_text(label)) for label, run in section.items()],
            *tex_figure("uv_trajectories", r"Sharpness trajectories with their regimes shaded: progressive sharpening "
                        r"and the edge of stability ($\mu$P, $n = 4$), a catapult (SP, $n = 100$); the dashed line "
                        r"is $2/\eta$.")]


def section_phase_diagram(run) -> dict:
    from .. import plots

    lam_axis, n_axis, phase_steps = run.settings.phase
    store = run.stores / "uv_phase.zarr"
    section = run.sweep("uv", [lam_axis, n_axis], "regime", store, phase_steps, 8, init={"f": "0"},
                        values={"eta": "1", "y": "1"})
    phase = sweeps.load(store)
    run.figure("uv_phase_diagram", lambda p: plots.sweep_figure(
        phase, p, "uv (SP), eta = 1, y = 1, f0 = 0: regime over (eta lam0, n)"))
    section["grid"] = {"lam": phase["lam"].values.tolist(), "n": phase["n"].values.tolist(),
                       "regime": phase["regime"].values.tolist()}
    return section


def phase_rows(grid: dict) -> list:
    """Per width: the runs of equal regime along the lam0 axis, each as its first and last grid value (the
    boundary is known to one grid step)."""
    lam, widths, codes = grid["lam"], grid["n"], grid["regime"]  # codes[i][j]: lam[i], n[j]
    rows = []
    for j, n in enumerate(widths):
        runs, start = [], 0
        for i in range(1, len(lam) + 1):
            if i == len(lam) or codes[i][j] != codes[start][j]:
                code = codes[start][j]
                name = sweeps.REGIME_ORDER[int(code)] if code is not None and np.isfinite(code) else "no value"
                span = (f"${tex_number(lam[start], 3)}$" if i - 1 == start else
                        f"${tex_number(lam[start], 3)}$--${tex_number(lam[i - 1], 3)}$")
                runs.append(f"{tex_text(name)} {span}")
                start = i
        rows.append([f"${tex_number(n)}$", "; ".join(runs)])
    return rows


def tex_phase_diagram(section: dict, results: dict) -> list:
    grid = section.get("grid")
    table = []
    if grid and len(grid["lam"]) > 1:
        step = (grid["lam"][-1] - grid["lam"][0]) / (len(grid["lam"]) - 1)
        table = tex_table("rp{0.8\\linewidth}", ["$n$", r"regimes along $\eta\lambda_0$ (first--last grid value)"],
                          phase_rows(grid), r"Regime boundaries of the phase diagram (SP, $\eta = 1$, $y = 1$, "
                          rf"$f_0 = 0$; {tex_number(step, 3)} grid step in $\eta\lambda_0$, so each boundary is known "
                          r"to one step), the regime of a run as in Figure~\ref{fig:uv_phase_diagram}.",
                          "phase-boundaries")
    return [*table, tex_command(section, r"Figure~\ref{fig:uv_phase_diagram}"),
            *tex_figure("uv_phase_diagram", r"Regime over $(\eta\lambda_0, n)$ in SP ($\eta = 1$, $y = 1$, "
                        r"$f_0 = 0$): the phase diagram of Kalra et al.~\cite{kalra2023}.")]
