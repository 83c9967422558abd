"""LaTeX fragments the sections are written with: numbers, tables, figures, the command line of a record, prose."""
from __future__ import annotations

import numpy as np

from analysis.latex import prose, texttt


def tex_number(value, digits: int = 4) -> str:
    """A float in math mode text: ``1.23\\times 10^{-16}`` for large or small magnitudes, ``-`` for None."""
    if value is None:
        return "--"
    value = float(value)
    if not np.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\text{NaN}")
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value))))
    if -3 <= exponent < 6:
        return f"{value:.{digits}g}"
    mantissa = value / 10.0 ** exponent
    return rf"{mantissa:.{max(digits - 1, 0)}f}\times 10^{{{exponent}}}"


def tex_table(columns: str, header: list, rows: list, caption: str, label: str) -> list:
    r"""A ``booktabs`` table; ``header`` and ``rows`` are LaTeX cells, ``caption`` LaTeX text."""
    lines = [r"\begin{table}[!htbp]\centering\small", rf"\caption{{{caption}}}\label{{tab:{label}}}",
             rf"\begin{{tabular}}{{{columns}}}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    return lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}"]


def tex_figure(name: str, caption: str, width: str = "0.8") -> list:
    return [r"\begin{figure}[!htbp]\centering", rf"\includegraphics[width={width}\linewidth]{{{name}.pdf}}",
            rf"\caption{{{caption}}}\label{{fig:{name}}}", r"\end{figure}"]


def tex_command(section: dict, what: str = "") -> str:
    r"""``Command for WHAT: \texttt{sharpness ...}``: the command line that prints a section's record, as a
    footnote-sized paragraph; ``what`` (LaTeX) names the table or figure it gives."""
    if not section.get("command"):
        return ""
    label = f"Command for {what}" if what else "Command"
    return "\n" + rf"{{\raggedright\footnotesize\noindent {label}: {texttt(section['command'])}\par}}" + "\n"


def tex_text(text) -> str:
    return prose(str(text)).strip()
