"""The report's sections on the EoS manifold's cubic normal form: the period-doubling cascade and Feigenbaum's
constants, the Lyapunov exponent over k, and the Chebyshev point k = 2."""
from __future__ import annotations

import mpmath
import numpy as np

from .. import sweeps
from ..iterated_map import IteratedMap
from ..axis import Axis
from ..requests import CascadeRequest, LyapunovRequest, Problem
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from .record import record


def section_cascade(run) -> dict:
    from .. import plots

    doublings = run.settings.doublings
    section = record(CascadeRequest(Problem("uv-eos"), "k", doublings=int(doublings), digits=40))
    flips = [b["parameter"] for b in section["result"]["bifurcations"]]
    cubic = IteratedMap("uv-eos", values={"k": 1})
    diagram = cubic.orbit_diagram(Axis("k", np.linspace(0.8, 2.0, 800 if run.quick else 3000)),
                                  1000 if run.quick else 3000, 150)
    run.figure("uv_eos_orbit", lambda p: plots.orbit_figure(
        diagram, p, "uv-eos orbit diagram; red: flips found by the multiplier condition", flips=flips))
    run.figure("feigenbaum_delta", lambda p: plots.delta_figure(section["result"], p))
    return section


def delta_rows(result: dict) -> tuple:
    """Rows of the delta (and alpha, where present) table: estimate, correct digits."""
    alpha = result.get("alpha_digits") or [str(a) for a in result.get("alpha") or []]
    alpha_correct = result.get("alpha_correct_digits") or []
    header = ["$i$", r"$\delta_i$", "correct digits"]
    if alpha:
        header += [r"$\alpha_i$", "correct digits"]

    def cell(values, i):
        return f"${str(values[i])[:22]}$" if i < len(values) else ""

    def rows_of(label, deltas, correct, alphas, alphas_correct):
        return [[label(i), cell(deltas, i), cell(correct, i)]
                + ([cell(alphas, i), cell(alphas_correct, i)] if alpha else [])
                for i in range(max(len(deltas), len(alphas)))]

    rows = rows_of(lambda i: f"${i + 1}$", result.get("delta_digits") or [], result.get("correct_digits") or [],
                   alpha, alpha_correct)
    rows += rows_of(lambda i: f"Aitken {i + 1}", result.get("delta_aitken") or [],
                    result.get("correct_digits_aitken") or [], result.get("alpha_aitken") or [],
                    result.get("alpha_correct_digits_aitken") or [])
    return header, rows


def tex_cascade(section: dict, results: dict) -> list:
    cascade = section["result"]
    flips = cascade["bifurcations"]
    rows = []
    for b in flips:
        if "exact" in b:
            check = rf"exact (${b['exact']}$)"
        elif b["period"] == 2:
            with mpmath.workdps(cascade["digits"] + 10):
                exact_two = mpmath.sqrt(5) - 1  # the period-2 flip of the cubic normal form
                error = abs(mpmath.mpf(b["parameter_digits"]) - exact_two)
                agree = int(mpmath.floor(-mpmath.log10(error / exact_two))) if error > 0 else cascade["digits"]
            check = rf"{agree} digits agree with $\sqrt{{5}} - 1$"
        else:
            check = f"Newton in mpmath at {cascade['digits']} digits"
        rows.append([f"${b['period']}$", rf"${b['parameter_digits'][:32]}$", check])
    header, estimate_rows = delta_rows(cascade)
    has_alpha = len(header) > 3
    stopped = [rf"\emph{{The cascade stopped early: {tex_text(cascade['stopped'])}}}"] if cascade.get("stopped") else []
    return [r"\section{Period doubling on the EoS manifold}",
            r"GD on the EoS manifold $u = v$ is the cubic normal form $z' = (1 + k) z - k z^{3}$ "
            r"(Section~\ref{sec:derived}). Its first flip is exact ($k = 1$); each further flip of period $p$ "
            r"solves $F^{p}(z) = z$, $\det(DF^{p}(z) + I) = 0$ by Newton's method in float64, refined in mpmath. "
            r"The ratios $\delta_i = (k_{i+1} - k_i)/(k_{i+2} - k_{i+1})$ tend to Feigenbaum's "
            r"$\delta = 4.6692016091\ldots$~\cite{feigenbaum1978}; Aitken's $\Delta^2$ process~\cite{aitken1926} "
            r"accelerates them. Correct digits are counted against the known constant"
            + (r" (and $\alpha = 2.5029078750\ldots$ for the scaling of the orbit)." if has_alpha else "."),
            *stopped,
            *tex_table("rll", ["period $p$", "flip $k_p$", "accuracy"], rows,
                       f"Flips of the cubic normal form (working precision {cascade['digits']} digits; 32 shown).",
                       "flips"),
            *tex_table("l" + "l" * (len(header) - 1), header, estimate_rows,
                       r"Estimates of Feigenbaum's $\delta$" + (r" and $\alpha$" if has_alpha else "")
                       + r" with their number of correct significant digits.", "delta"),
            tex_command(section, r"Tables~\ref{tab:flips} and~\ref{tab:delta}"),
            *tex_figure("uv_eos_orbit", r"Orbit diagram of $z \mapsto (1 + k) z - k z^{3}$ with the flips found by "
                        r"the multiplier condition (red)."),
            *tex_figure("feigenbaum_delta", r"Convergence of the ratio estimates $\delta_i$ of Feigenbaum's $\delta$.",
                        "0.6")]


def section_lyapunov_sweep(run) -> dict:
    from .. import plots

    store = run.stores / "uv_eos_lyapunov.zarr"
    section = run.sweep("uv-eos", [f"k=0.8:2:{run.settings.lyapunov_points}"], "lyapunov", store,
                        run.settings.lyapunov_steps, 32)
    lyapunov = sweeps.load(store)
    section["values"] = {"k": lyapunov["k"].values.tolist(), "lyapunov": lyapunov["lyapunov"].values.tolist()}
    run.figure("uv_eos_lyapunov", lambda p: plots.sweep_figure(
        lyapunov, p, "uv-eos: largest Lyapunov exponent; ln 3 at k = 2"))
    return section


def tex_lyapunov_sweep(section: dict, results: dict) -> list:
    return [*tex_figure("uv_eos_lyapunov", r"Largest Lyapunov exponent of $z \mapsto (1 + k) z - k z^{3}$ against "
                        r"$k$ (Benettin's method~\cite{benettin1980}); $\ln 3$ at the Chebyshev point $k = 2$."),
            tex_command(section, r"Figure~\ref{fig:uv_eos_lyapunov}")]


def section_chebyshev(run) -> dict:
    return record(LyapunovRequest(Problem("uv-eos", values={"k": "2"}), steps=200_000))


def tex_chebyshev(section: dict, results: dict) -> list:
    cheb = section["result"]
    value, stderr = cheb["exponents"][0], cheb["stderr"][0]
    exact = float(np.log(3))
    sigmas = abs(value - exact) / stderr if stderr else float("inf")
    return [r"\paragraph{The Chebyshev point.} At $k = 2$, $z = \sqrt{2}\, w$ conjugates $z \mapsto 3z - 2z^{3}$ "
            r"to $w \mapsto -T_3(w)$, whose Lyapunov exponent is $\ln 3$ exactly. Benettin's QR "
            rf"method~\cite{{benettin1980}} over ${cheb['steps']}$ steps gives "
            rf"$\lambda_1 = {value:.7f} \pm {tex_number(stderr, 2)}$ (standard error of the block means), against "
            rf"$\ln 3 = {exact:.7f}$: a deviation of ${sigmas:.1f}$ standard errors.",
            tex_command(section)]
