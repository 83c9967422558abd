"""The report as one LaTeX document: title, abstract, the derived dynamics, each section's fragment in report order,
the bibliography."""
from __future__ import annotations

import numpy as np

from analysis import load_model
from analysis.latex import PREAMBLE, body, symbol_order, texttt

from .bibliography import BIBLIOGRAPHY
from .fragments import tex_number
from .sections import SECTIONS


def abstract(results: dict) -> str:
    sections = results["sections"]
    cascade = sections["cascade"]["result"]
    cheb = sections["chebyshev"]["result"]
    check = sections["crosscheck"]["result"]
    flips = cascade["bifurcations"]
    best = max(zip(cascade.get("correct_digits_aitken") or [0], cascade.get("delta_aitken") or ["--"]))
    worst_error = max(check["max_abs_error_f"], check["max_abs_error_lam"])
    etas = ", ".join(f"${eta}$" for eta in sections["xy_quartic"])
    return (r"\begin{abstract}" "\n"
            r"From a SymPy description of a two-layer linear network on one example (the UV model of "
            r"Kalra et al.~\cite{kalra2023}) we derive, and check by an independent route, its exact function-space "
            r"gradient-descent map on the output $f$ and the NTK $\lambda$, the sharpness in closed form, the fixed "
            r"points with their stability, and the reduction to the cubic normal form $z' = (1 + k) z - k z^{3}$ on "
            r"the edge-of-stability manifold. Numerically we label the regimes of trajectories, map the phase "
            rf"diagram, and follow the period-doubling cascade to period ${flips[-1]['period']}$: Aitken-accelerated, "
            rf"Feigenbaum's $\delta = {best[1][:best[0] + 1]}$ to ${best[0]}$ correct digits. The Lyapunov "
            rf"exponent at the Chebyshev point $k = 2$ is "
            rf"${cheb['exponents'][0]:.6f} \pm {tex_number(cheb['stderr'][0], 1)}$ "
            rf"($\ln 3 = {np.log(3):.6f}$). The derived map agrees with explicit GD on the parameters to "
            rf"${tex_number(worst_error, 1)}$ (width ${check['width']}$). For the minimalist loss of Zhu et "
            rf"al.~\cite{{zhu2023}} we give the final sharpness gap below $2/\eta$ at $\eta = $ {etas}. "
            + (r"A real network, an MLP on digits, is measured under GD and momentum and against its central flow, "
               r"and under mini-batch SGD and Adam, each measured quantity against its own derived threshold. "
               if sections["nn"].get("result") is not None else
               r"The real-network parts were not computed: PyTorch was not installed for this build. ")
            + ("This is the quick version of the report (smaller sweeps and fewer doublings)." if results["quick"]
               else "") + "\n" r"\end{abstract}")


# LaTeX's default float limits leave a figure that does not fit beside its text to a page of its own, often half
# empty; these let figures and tables share pages with text (at most 90 % of a page in floats, at least 7 % text).
FLOATS = [r"\renewcommand{\topfraction}{0.9}", r"\renewcommand{\bottomfraction}{0.8}",
          r"\renewcommand{\textfraction}{0.07}", r"\renewcommand{\floatpagefraction}{0.8}",
          r"\setcounter{topnumber}{3}", r"\setcounter{bottomnumber}{2}", r"\setcounter{totalnumber}{5}"]


def tex_document(results: dict) -> str:
    """The LaTeX source of the report from its results (``results.json``): each section's fragment in report order."""
    sections = results["sections"]
    lines = PREAMBLE + FLOATS + [r"\title{Sharpness dynamics of gradient descent:\\ the UV model and beyond}",
                        r"\author{\texttt{sharpness report}}", r"\date{}", r"\begin{document}", r"\maketitle",
                        abstract(results),
                        rf"\noindent Produced by {texttt(results['command'])}. Every number below is in "
                        r"\texttt{results.json}, with the \texttt{sharpness} command that prints it.",
                        r"\section{Derived function-space dynamics}\label{sec:derived}",
                        r"The UV model in SP: $f = x\, (v \cdot u)/\sqrt{n}$, loss $L = (f - y)^{2}/2$, the state "
                        r"$(f, \lambda)$ with $\lambda$ the NTK. Each equation below round-trips through SymPy's "
                        r"LaTeX parser to the derived expression."]
    derivation = load_model("uv", "sp")
    lines += body([("uv", "sp", [derivation.result(n) for n in ("function_map", "sharpness", "fixed_points",
                                                                "eos_map", "minima")],
                    symbol_order(derivation.model))], level="subsection")
    for section in SECTIONS:
        if section.name in sections:
            lines += [line for line in section.tex(sections[section.name], results) if line] + [""]
    lines += [r"\begin{thebibliography}{9}", *BIBLIOGRAPHY, r"\end{thebibliography}", r"\end{document}"]
    return "\n".join(lines) + "\n"
