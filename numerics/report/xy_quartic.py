"""The report's section on the minimalist loss of Zhu et al., :math:`L = (x^2 y^2 - 1)^2/4`."""
from __future__ import annotations

from ..requests import Problem, RunRequest
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from .record import record


def section_xy_quartic(run) -> dict:
    from .. import plots

    runs = {}
    for eta in run.settings.xy_etas:
        problem = Problem("xy-quartic", values={"eta": f"{eta:g}"}, init={"x": "4", "y": "0.3"})
        runs[f"{eta:g}"] = record(RunRequest(problem, steps=20_000, every=1000))
    run.figure("xy_quartic_gap", lambda p: plots.gap_figure({k: v["result"] for k, v in runs.items()}, p))
    return runs


def tex_xy_quartic(section: dict, results: dict) -> list:
    rows, losses = [], []
    for eta, run in section.items():
        result = run["result"]
        losses.append(result["final"]["loss"])
        rows.append([f"${eta}$", f"${tex_number(result['threshold'], 8)}$",
                     f"${tex_number(result['final']['sharpness'], 8)}$", f"${tex_number(result.get('gap'), 4)}$",
                     tex_text(result["outcome"]["name"])])
    return [r"\section{A minimalist model: $L = (x^{2} y^{2} - 1)^{2}/4$}",
            r"Zhu et al.~\cite{zhu2023} show that GD on this loss ends at a sharpness just below $2/\eta$ (the "
            r"two-input network of Liu et al.~\cite{liu2025}, model \texttt{two-input}, is another minimalist "
            r"example). From $(x, y) = (4, 0.3)$, $20\,000$ steps; the largest final loss is "
            rf"${tex_number(max(losses, default=None), 2)}$, so the final point is a minimum to that accuracy.",
            *tex_table("rrrrl", [r"$\eta$", r"$2/\eta$", "final sharpness $S$", r"gap $2/\eta - S$", "outcome"], rows,
                       r"Final sharpness of GD on $L = (x^{2} y^{2} - 1)^{2}/4$.", "xy-quartic"),
            tex_command(next(iter(section.values())), r"the first row of Table~\ref{tab:xy-quartic}"),
            *tex_figure("xy_quartic_gap", r"$L = (x^{2} y^{2} - 1)^{2}/4$: the gap $2/\eta - S$ between the threshold and the final "
                         r"sharpness, against $\eta$.", "0.6")]
