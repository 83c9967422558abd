r"""The zero-loss sets, the sharpness on them, and the self-stabilisation drift along them."""
from __future__ import annotations

import random

import sympy as sp

from .common import MAX_FACTORED_DIMENSION, characteristic_polynomial, tex
from .spectrum import closed_form_roots
from .graph import GRAM, Context, Equation, node, kind_of
from .records import ZeroLossSet
from .results import Minima
from ..optimizers import model_threshold

# --------------------------------------------------------------------------------------------------------------
# Minimum manifold and self-stabilisation


@node("minima", "Zero-loss manifold, its sharpness and the self-stabilisation drift",
       ("loss", "sharpness", "jacobian", "function_map", "fixed_points", "hessian_spectrum"))
def minima(ctx: Context) -> Minima:
    r"""The zero-loss sets :math:`L(s) = 0`, the sharpness on them, and the reduced dynamics near them.

    Zero-loss points are critical points, hence fixed points of GD: the sets are the fixed-point sets on which
    the loss vanishes identically (cheaper and more robust than solving :math:`L = 0`, a sum of squares).

    On a set of fixed points :math:`p(\sigma)` with one free coordinate :math:`\sigma`, the Jacobian has the
    neutral eigenvalue 1 (tangent :math:`t = \partial_\sigma p`) and a transverse eigenvalue
    :math:`\mu(\sigma) = 1 - \eta\, S(p(\sigma))`, with right eigenvector :math:`v`. Expanding GD at
    :math:`p + \varepsilon v` to second order,

    .. math:: F(p + \varepsilon v) = p + \varepsilon\mu v + \tfrac{\varepsilon^2}{2} D^2F[v, v] + O(\varepsilon^3),

    so each step moves :math:`\sigma` by :math:`c(\sigma)\varepsilon^2` with
    :math:`c = \tfrac12\,\ell\cdot D^2F[v, v]` (:math:`\ell` the left eigenvector of eigenvalue 1, normalised by
    :math:`\ell\cdot t = 1`; :math:`v` the *unit* transverse eigenvector, :math:`|v| = 1` in the state
    coordinates, so that :math:`\varepsilon` is the Euclidean amplitude of the oscillation and the coefficient
    is invariant under the isometries of the state space that preserve the loss, e.g. :math:`x \leftrightarrow y`
    on ``xy-quartic``), and the sharpness by :math:`\dot S = S'(\sigma)\, c(\sigma)\,\varepsilon^2` per
    step (``sharpness_drift``). Where it is negative, a period-2 oscillation of amplitude :math:`\varepsilon` (which
    grows while :math:`S > 2/\eta`, :math:`\mu < -1`) lowers the sharpness until :math:`|\mu| < 1`; the
    oscillation then decays geometrically and the remaining drift :math:`\sum_t c\,\varepsilon_t^2` is finite,
    so GD stops at a sharpness *just below* :math:`2/\eta` (self-stabilisation; Zhu et al. ICLR 2023, Damian et
    al. 2023).
    """
    states = ctx.state_symbols
    step = ctx.spec.step
    loss_expr = ctx["loss"].expression
    top = ctx["sharpness"].expression
    matrix = ctx["jacobian"].matrix
    mapping = ctx["function_map"].images
    sets, equations = [], []
    zero_loss = []
    # The optimizer's own threshold (2/eta for GD; analysis.optimizers for momentum).
    threshold = sp.simplify(2 / step) if ctx.spec.optimizer == "gd" else model_threshold(ctx.spec)
    for point in ctx["fixed_points"].solutions:
        solution = {s: c for s, c in point.coordinates.items() if c is not None}
        if sp.simplify(loss_expr.subs(solution, simultaneous=True)) == 0:
            zero_loss.append(solution)
    for index, solution in enumerate(zero_loss):
        free = [s for s in states if s not in solution]
        if top is not None:
            on_set = _on_set(ctx, top.subs(solution))
        else:  # no global closed form; on the set the spectrum often factors
            on_set = _top_root_on_set(ctx, solution)
        local = matrix.subs(solution, simultaneous=True).applyfunc(sp.simplify)
        transverse = [sp.factor(mu) for mu in local.eigenvals() if mu != 1]
        drift = {}
        if len(free) == 1 and len(transverse) == 1 and on_set is not None:
            drift = _self_stabilisation(states, solution, free[0], local, transverse[0], mapping, on_set)
        entry = ZeroLossSet({s: solution.get(s) for s in states}, free, on_set, threshold, transverse,
                            **drift)
        sets.append(entry)
        label = f"min-{index}"
        for s, c in solution.items():
            equations.append(Equation(f"{label}-{s}", tex(s), c))
        if on_set is not None:
            equations.append(Equation(f"{label}-sharpness", r"S_{\min}", on_set))
        if entry.sharpness_drift is not None:
            equations.append(Equation(f"{label}-drift", r"\frac{\Delta S}{\varepsilon^{2}}", entry.sharpness_drift))
    return Minima(sets, equations=equations,
                  notes="Delta S / epsilon^2: sharpness change per step per squared oscillation amplitude on the "
                        "zero-loss set, epsilon the Euclidean amplitude (in the state coordinates) of the "
                        "oscillation along the unit transverse eigenvector; negative means the oscillation lowers "
                        "the sharpness (self-stabilisation).")


def _self_stabilisation(states, solution, free, local, mu, mapping, sharpness_on_set) -> dict:
    """Drift along a line of minima caused by an oscillation across it (see :func:`minima`)."""
    identity = sp.eye(len(states))
    (right,) = (local - mu * identity).nullspace()
    (left,) = (local - identity).T.nullspace()
    tangent = sp.Matrix([sp.diff(solution.get(s, s), free) for s in states])
    left = left / sp.simplify((left.T * tangent)[0])
    point = {s: solution.get(s, s) for s in states}
    curvature = sp.Matrix([
        (right.T * sp.hessian(mapping[s], states).subs(point, simultaneous=True) * right)[0] for s in states])
    # The drift is quadratic in v: with SymPy's null vector (any scale) divided by |v|^2 it is the drift per
    # squared Euclidean amplitude, a rational function with no square root to simplify.
    norm_squared = sp.factor(sp.simplify((right.T * right)[0]))
    drift = sp.factor(sp.simplify((left.T * curvature)[0] / (2 * norm_squared)))
    unit = right / sp.sqrt(norm_squared)
    return {"drift": drift, "sharpness_drift": sp.factor(sp.simplify(sp.diff(sharpness_on_set, free) * drift)),
            "tangent": tangent, "transverse_vector": unit, "neutral_left_vector": left}


def _top_root_on_set(ctx: Context, solution: dict):
    """Largest closed-form Hessian eigenvalue on a fixed-point set, or ``None`` if some root has no closed form.

    The branch is the largest at 24 random values of the free coordinates and parameters, and must be so at
    all of them (else ``Max`` of the branches)."""
    hessian = ctx["hessian_spectrum"].hessian.subs(solution, simultaneous=True)
    if hessian.rows > MAX_FACTORED_DIMENSION:
        return None
    roots, unresolved = closed_form_roots(characteristic_polynomial(hessian))
    if unresolved or not roots:
        return None
    candidates = [r for r, _ in roots]
    rng = random.Random(1)
    symbols = sorted(set().union(*(c.free_symbols for c in candidates)), key=str)
    winners = set()
    for _ in range(24):
        point = {x: sp.Rational(rng.randint(1, 300), 100) if x.is_positive else sp.Rational(rng.randint(-300, 300), 100)
                 for x in symbols}
        values = [complex(sp.N(c.subs(point))) for c in candidates]
        if any(abs(v.imag) > 1e-9 for v in values):
            return None
        winners.add(max(range(len(values)), key=lambda i: values[i].real))
    chosen = [candidates[i] for i in sorted(winners)]
    return _on_set(ctx, chosen[0] if len(chosen) == 1 else sp.Max(*chosen))


def _on_set(ctx: Context, expr: sp.Expr) -> sp.Expr:
    """Simplify on a zero-loss set: radicands factored (so sqrt((a)^2) becomes |a|), and for Gram models the
    kernel state known to be non-negative (it is a sum of squares, Eq. def-lam)."""
    expr = expr.replace(lambda e: e.is_Pow and e.exp == sp.S.Half, lambda e: sp.sqrt(sp.factor(e.base)))
    if kind_of(ctx.spec) == GRAM:
        kernel_state = ctx.state_symbols[1]
        expr = sp.refine(expr, sp.Q.nonnegative(kernel_state))
    return sp.simplify(expr)

