r"""LaTeX export of derived results: a standalone ``amsmath`` document with labelled equations.

Printer settings are chosen so that every exported right-hand side round-trips through
``sympy.parsing.latex.parse_latex`` (ANTLR backend, ``antlr4-python3-runtime==4.11``) back to an equal expression:
multi-letter names are printed as the single LaTeX token their model declares (``StateVariable(..., latex=...)``,
e.g. ``lam`` as ``\lambda`` in :mod:`analysis.uv`) instead of letter products, and
``mul_symbol='dot'`` keeps products of symbols unambiguous.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

# Symbols whose name would print as a product of letters -> a single LaTeX token. Filled by the model
# descriptions (Parameter/StateVariable ``latex``), never typed here.
SYMBOL_NAMES: dict = {}


def declare(symbol, tex: str) -> None:
    """Print ``symbol`` as ``tex`` (called by :class:`analysis.model.Model` for each declared name)."""
    SYMBOL_NAMES[symbol] = tex
PRINTER_SETTINGS = {"mul_symbol": "dot", "fold_short_frac": False, "root_notation": True, "ln_notation": False}


def _symbol_names(expr) -> dict:
    return {s: SYMBOL_NAMES[s] for s in getattr(expr, "free_symbols", ()) if s in SYMBOL_NAMES}


def symbol_latex(symbol) -> str:
    return SYMBOL_NAMES.get(symbol, sp.latex(symbol))


class RoundTripPrinter(LatexPrinter):
    r"""SymPy's LaTeX printer, except ``Abs`` as ``|x|``: the ANTLR parser rejects ``\left|{x}\right|`` and
    after a product even drops it silently (``x \cdot \left|{y}\right|`` parses as ``x``)."""

    def _print_Abs(self, expr, exp=None):
        tex = f"|{self._print(expr.args[0])}|"
        return f"{tex}^{{{exp}}}" if exp is not None else tex


def to_latex(expr) -> str:
    """LaTeX of ``expr`` with the round-trip printer settings (see module docstring)."""
    return RoundTripPrinter({"symbol_names": _symbol_names(expr), **PRINTER_SETTINGS}).doprint(expr)


def parse_back(text: str, like) -> sp.Basic:
    """Parse ``text`` with ``parse_latex`` and rename its symbols to the (assumption-carrying) ones of ``like``."""
    from sympy.parsing.latex import parse_latex

    parsed = parse_latex(text)
    renaming = {}
    for symbol in getattr(like, "free_symbols", ()):
        plain = parse_latex(symbol_latex(symbol))
        renaming[plain] = symbol
    return parsed.xreplace(renaming)


def round_trips(expr) -> bool:
    """True when ``parse_latex(to_latex(expr))`` is equal to ``expr`` (symbolically, after renaming)."""
    back = parse_back(to_latex(expr), expr)
    if isinstance(expr, sp.core.relational.Relational):
        return type(back) is type(expr) and sp.simplify(back.lhs - back.rhs - (expr.lhs - expr.rhs)) == 0
    return sp.simplify(back - expr) == 0


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:-]+", "-", text)


PREAMBLE = [r"\documentclass[11pt]{article}", r"\usepackage{amsmath,amssymb,graphicx}",
            r"\usepackage[margin=2cm]{geometry}", r"\allowdisplaybreaks"]


def body(derivations, level: str = "section") -> list:
    """LaTeX lines (no preamble) for every result of every ``(model, parameterization, results)``."""
    sub = "sub" + level
    lines = []
    for model_name, parameterization, results in derivations:
        lines.append(rf"\{level}{{Model \texttt{{{model_name}}} ({parameterization})}}")
        for result in results:
            lines.append(rf"\{sub}{{{result.title}}}")
            if result.notes:
                lines.append(escape(result.notes))
            for equation in result.equations:
                text = to_latex(equation.rhs)
                if equation.lhs:
                    text = f"{equation.lhs} {equation.relation} {text}"
                label = _label(f"eq:{model_name}:{parameterization}:{equation.label}")
                lines += [r"\begin{equation}", rf"  {text}", rf"  \label{{{label}}}", r"\end{equation}"]
    return lines


def document(derivations, title: str = "Derived sharpness dynamics") -> str:
    r"""A standalone LaTeX document holding every result of every ``(model, parameterization, results)``."""
    lines = PREAMBLE + [rf"\title{{{title}}}", r"\date{}", r"\begin{document}", r"\maketitle"]
    lines += body(derivations)
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


def escape(text: str) -> str:
    """Text with LaTeX's special characters escaped, as a paragraph."""
    return re.sub(r"([_&%#$^{}])", r"\\\1", text) + "\n"
