"""The report's cross-checks of the derived map against explicit gradient descent on the parameters."""
from __future__ import annotations

from ..requests import CrosscheckRequest, Problem, WidthScanRequest
from .fragments import tex_command, tex_figure, tex_number, tex_table, tex_text
from .record import record


def section_width_scan(run) -> dict:
    from .. import plots

    widths = run.settings.widths
    section = record(WidthScanRequest(Problem("uv", values={"eta": "1.1", "y": "1"}),
                                      tuple(int(w) for w in widths.split(",")), steps=200, seed=0))
    run.figure("crosscheck_errors", lambda p: plots.width_scan_figure(section["result"], p))
    return section


def tex_width_scan(section: dict, results: dict) -> list:
    rows = [[f"${row['width']}$", tex_text(row["outcome"]["name"] + (f" {row['outcome']['period']}"
                                                                   if "period" in row["outcome"] else "")),
             f"${tex_number(row['max_abs_error_f'], 2)}$", f"${tex_number(row['max_abs_error_lam'], 2)}$",
             f"${tex_number(row['max_rel_error_sharpness'], 2)}$"] for row in section["result"]["rows"]]
    return [r"\section{Cross-checks against explicit gradient descent}",
            r"The derived map is checked against GD on the parameters $u, v \in \mathbb{R}^{n}$ (SP, "
            r"$\eta = 1.1$, $y = 1$, random initialization): the largest differences over the run, in "
            r"$f$, in $\lambda$ and (relative) in the sharpness $S$, the latter from the Hessian of the network "
            r"(dense \texttt{eigvalsh}, or Lanczos~\cite{lanczos1950} for large widths).",
            *tex_table("rlrrr", ["width $n$", "outcome", r"$\max|\Delta f|$", r"$\max|\Delta\lambda|$",
                              r"$\max|\Delta S|/S$"], rows,
                       f"Map against explicit GD, {section['result']['steps']} steps, per width.", "width-scan"),
            tex_command(section, r"Table~\ref{tab:width-scan}"),
            *tex_figure("crosscheck_errors", r"Final NTK and the map-versus-GD error against the width.", "0.7")]


def section_crosscheck(run) -> dict:
    return record(CrosscheckRequest(Problem("uv", values={"eta": "0.5", "y": "1"}), width=64, steps=100, seed=0))


def tex_crosscheck(section: dict, results: dict) -> list:
    check = section["result"]
    rows = [[r"$\max|\Delta f|$", f"${tex_number(check['max_abs_error_f'], 2)}$"],
            [r"$\max|\Delta\lambda|$", f"${tex_number(check['max_abs_error_lam'], 2)}$"],
            [r"$\max|\Delta S|/S$", f"${tex_number(check['max_rel_error_sharpness'], 2)}$"]]
    return [*tex_table("lr", ["error", "value"], rows,
                       rf"Map against explicit GD: SP, width ${check['width']}$, "
                       rf"$\eta = {tex_number(check['parameters']['eta'])}$, "
                       rf"${check['steps']}$ steps, seed ${check['seed']}$ (float64: errors near $10^{{-16}}$ are "
                       r"round-off).", "crosscheck"),
            tex_command(section, r"Table~\ref{tab:crosscheck}")]
