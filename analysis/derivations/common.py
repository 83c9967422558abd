r"""Symbolic helpers shared by several derivations (no result of their own)."""
from __future__ import annotations

import random

import sympy as sp

from ..errors import DerivationError
from .graph import GRAM, Context, kind_of

MAX_FACTORED_DIMENSION = 3  # closed-form Hessian spectra are attempted up to this many coordinates
EIGENVALUE = sp.Symbol("t")  # the spectral variable of characteristic polynomials
THETA = sp.Symbol("theta", positive=True)  # chart |w| on an EoS manifold


def characteristic_polynomial(matrix: sp.Matrix) -> sp.Expr:
    r""":math:`\det(t I - M)` in :data:`EIGENVALUE`. SymPy's ``charpoly`` raises a TypeError on some block-diagonal
    matrices with radicals; Berkowitz's determinant is the fallback (same polynomial, no division)."""
    try:
        return matrix.charpoly(EIGENVALUE).as_expr()
    except TypeError:
        return sp.expand((EIGENVALUE * sp.eye(matrix.rows) - matrix).det(method="berkowitz"))


def primed(name: str) -> str:
    return f"{name}'"


def tex(symbol) -> str:
    from ..latex import symbol_latex
    return symbol_latex(symbol)


def to_state(ctx: Context, expr: sp.Expr, what: str) -> sp.Expr:
    """Rewrite a Gram-space expression in the state variables; prove that the leftover entries drop out."""
    definitions = ctx["state_definitions"]
    if not definitions.leftovers:
        return expr
    rewritten = sp.expand(expr.subs(definitions.inverse, simultaneous=True))
    for leftover in definitions.leftovers:
        if sp.expand(sp.diff(rewritten, leftover)) != 0:
            raise DerivationError(f"{what} is not a function of the state: it still depends on {leftover}")
    return rewritten.subs({g: 0 for g in definitions.leftovers})


def present(expr: sp.Expr, step) -> sp.Expr:
    """A readable, equal form: collected in powers of the step (if symbolic), each coefficient factored."""
    if not step.is_Symbol:
        return sp.expand(expr)
    collected = sp.collect(sp.expand(expr), step, evaluate=False)
    return sp.Add(*[sp.factor(coefficient) * power for power, coefficient in collected.items()])


def sample_points(ctx: Context, count: int, seed: int = 0) -> list:
    """Random realizable points: parameter values by domain and a state reached from random parameters."""
    rng = random.Random(seed)
    spec = ctx.spec
    definitions = ctx["state_definitions"].definitions
    points = []
    for _ in range(count):
        values = {}
        for parameter in ctx.model.parameters:
            if parameter.domain == "positive_integer":
                values[parameter.symbol] = sp.Integer(rng.randint(3, 12))
            elif parameter.domain == "positive":
                values[parameter.symbol] = sp.Rational(rng.randint(1, 400), 100)
            else:
                values[parameter.symbol] = sp.Rational(rng.randint(-400, 400), 100)
        if kind_of(spec) == GRAM:
            m = len(spec.all_vectors)  # parameters and, with momentum, velocities
            rows = sp.Matrix(m, m, lambda i, j: sp.Rational(rng.randint(-300, 300), 100))
            gram_values = rows * rows.T
            values.update({spec.gram_symbol(i, j): gram_values[i, j] for i in range(m) for j in range(m)})
        else:
            values.update({s: sp.Rational(rng.randint(-300, 300), 100) for s in definitions})
        state = {s: expr.subs(values) for s, expr in definitions.items()}
        points.append({**{k: v for k, v in values.items() if k not in definitions}, **state})
    return points


def roman(number: int) -> str:
    """Roman numeral of ``number`` >= 1 (fixed points are labelled I, II, ... as in the paper's figures)."""
    text = ""
    for value, symbol in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                          (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, number = divmod(number, value)
        text += symbol * count
    return text


def through_radicals(operation, expr: sp.Expr) -> sp.Expr:
    """Apply ``operation`` (``cancel``, ``factor``) with radicals of symbols as polynomial generators:
    :math:`n^{p/q}` becomes :math:`m^p` with :math:`n = m^q`, and back afterwards."""
    radicals = {}
    for power in expr.atoms(sp.Pow):
        base, exponent = power.as_base_exp()
        if base.is_Symbol and exponent.is_Rational and not exponent.is_Integer:
            radicals[base] = sp.ilcm(radicals.get(base, 1), exponent.q)
    forward = {b: sp.Symbol(f"_{b.name}_root", positive=True) ** q for b, q in radicals.items()}
    backward = {sp.Symbol(f"_{b.name}_root", positive=True): b ** sp.Rational(1, q) for b, q in radicals.items()}
    return operation(expr.subs(forward)).subs(backward)


def control_parameter(ctx: Context):
    """The parameter that stability boundaries are solved for: the step if symbolic, else the first parameter."""
    return ctx.spec.step if ctx.spec.step.is_Symbol else ctx.model.parameters[0].symbol


