r"""Edge of stability: invariant manifolds of aligned layers, and the reduced cubic map on them."""
from __future__ import annotations

import sympy as sp

from ..errors import DerivationError
from .common import THETA, primed, tex, through_radicals
from .graph import GRAM, Context, Equation, node
from .records import EoSReduction, InvariantManifold, MomentumInvariantManifold
from .results import EoSManifolds, EoSMap

# The cubic normal form z' = (1 + k) z - k z^3 that the reduction must reach (generic: any sub-quadratic loss on
# an aligned manifold reduces to it; the registered model ``uv-eos`` is this map with its own symbols).
NORMAL_FORM_STATE = sp.Symbol("z", real=True)
NORMAL_FORM_PARAMETER = sp.Symbol("k", real=True)
NORMAL_FORM = (1 + NORMAL_FORM_PARAMETER) * NORMAL_FORM_STATE - NORMAL_FORM_PARAMETER * NORMAL_FORM_STATE ** 3

# --------------------------------------------------------------------------------------------------------------
# Edge of stability


def on_manifold_heading(manifold) -> str:
    """The heading of a manifold's equations: which one they hold on (its name and description)."""
    return f"On the manifold of {manifold.description}."


@node("eos_manifold", "Edge-of-stability manifolds: invariance and transverse dynamics",
       ("state_definitions", "gd_update", "function_map"), kinds=(GRAM,))
def eos_manifold(ctx: Context) -> EoSManifolds:
    r"""For each configuration :math:`w_i = \sigma_i w` (chart :math:`\theta = |w|`): invariance under GD,
    the manifold as a relation :math:`R(f, \lambda) = 0` in function space, and the transverse multiplier
    :math:`R(F(s)) / R(s)`, which the derivation proves to be a polynomial (so the manifold attracts or repels
    at the rate it gives)."""
    spec = ctx.spec
    if spec.optimizer != "gd":
        return _momentum_manifolds(ctx)
    coefficients = ctx["gd_update"].coefficients
    definitions = ctx["state_definitions"].definitions
    mapping = ctx["function_map"].images
    output_state, kernel_state = ctx.state_symbols
    squared = sp.Symbol("theta2", positive=True)
    entries, equations = [], []
    for manifold in spec.eos_manifolds:
        signs = manifold.signs
        on_manifold = {spec.gram_symbol(i, j): signs[i] * signs[j] * THETA ** 2
                       for i in range(spec.k) for j in range(i, spec.k)}
        multipliers = [sp.expand(sum(coefficients[i, j].subs(on_manifold) * signs[j] for j in range(spec.k)) / signs[i])
                       for i in range(spec.k)]
        if any(sp.expand(m - multipliers[0]) != 0 for m in multipliers[1:]):
            raise DerivationError(f"manifold {manifold.name} is not invariant under GD")
        output_on = definitions[output_state].subs(on_manifold)
        kernel_on = definitions[kernel_state].subs(on_manifold)
        (theta2_of_output,) = sp.solve(output_on.subs(THETA ** 2, squared) - output_state, squared)
        relation = sp.numer(sp.together(
            kernel_state - kernel_on.subs(THETA ** 2, squared).subs(squared, theta2_of_output)))
        transverse = through_radicals(sp.factor, sp.expand(relation.subs(mapping, simultaneous=True)) / relation)
        if sp.denom(transverse).has(*ctx.state_symbols):
            transverse = None
        entries.append(InvariantManifold(manifold.name, signs, multipliers[0], relation, theta2_of_output,
                                         transverse, output_on, kernel_on))
        equations.append(Equation(f"eos-{manifold.name}", "0", relation, heading=on_manifold_heading(manifold)))
        if transverse is not None:
            equations.append(Equation(f"eos-transverse-{manifold.name}", r"\frac{R'}{R}", transverse))
    return EoSManifolds(entries, equations=equations,
                        notes="R = 0 is invariant; off it, R is multiplied by the transverse multiplier at every step.")


@node("eos_map", "Reduced cubic map on the EoS manifolds and its normal form", ("eos_manifold",), kinds=(GRAM,))
def eos_map(ctx: Context) -> EoSMap:
    r"""On each manifold GD is :math:`\theta' = m(\theta)\,\theta`; for a sub-quadratic loss
    :math:`\tfrac12(a\theta^2 - b)^2` this is the odd cubic :math:`\theta' = a_1\theta + a_3\theta^3`, which
    :math:`\theta = s z`, :math:`s^2 = (a_1 - 1)/(-a_3)` brings to :math:`z' = (1 + k) z - k z^3`,
    :math:`k = a_1 - 1` (the period-doubling map of arXiv 2311.02076, Sec. 6)."""
    spec = ctx.spec
    if spec.optimizer != "gd":
        return EoSMap([], notes=f"{spec.optimizer}: the map on each EoS manifold is the 2-D map (theta, nu) of "
                                "eos_manifold, not a 1-D map, so there is no cubic normal form; its flip is the "
                                "optimizer's threshold (analysis.optimizers) on the restricted loss.")
    entries, equations = [], []
    described = {manifold.name: manifold for manifold in spec.eos_manifolds}
    for manifold in ctx["eos_manifold"].manifolds:
        chart_map = sp.Poly(sp.expand(manifold.multiplier * THETA), THETA)
        degrees = {monomial[0] for monomial in chart_map.monoms()}
        if degrees != {1, 3}:
            raise DerivationError(f"the map on {manifold.name} is not an odd cubic in theta: degrees {sorted(degrees)}")
        a1, a3 = chart_map.coeff_monomial(THETA), chart_map.coeff_monomial(THETA ** 3)
        k_value = sp.factor(a1 - 1)
        scale_squared = sp.factor((a1 - 1) / (-a3))
        scale = sp.Symbol("s", positive=True)
        in_z = sp.expand(chart_map.as_expr().subs(THETA, scale * NORMAL_FORM_STATE) / scale).subs(scale ** 2, scale_squared)
        if sp.expand(in_z - NORMAL_FORM.subs(NORMAL_FORM_PARAMETER, k_value)) != 0:
            raise DerivationError(f"the map on {manifold.name} does not reach the normal form")
        output_state = ctx.state_symbols[0]
        output_map = sp.factor(manifold.output.subs(THETA, chart_map.as_expr()).subs(
            THETA ** 2, manifold.theta_squared))
        flips = [sp.factor(v) for v in sp.solve(sp.Eq(k_value, 1), spec.step)]
        conjugacy = sp.factor(manifold.theta_squared / scale_squared)
        entries.append(EoSReduction(manifold.name, k_value, scale_squared, NORMAL_FORM, output_map, conjugacy,
                                    flips))
        equations += [Equation(f"eos-k-{manifold.name}", "k", k_value,
                               heading=on_manifold_heading(described[manifold.name])),
                      Equation(f"eos-zsq-{manifold.name}", "z^{2}", conjugacy),
                      Equation(f"eos-fmap-{manifold.name}", primed(tex(output_state)), output_map)]
        equations += [Equation(f"eos-flip-{manifold.name}-{i}", rf"{tex(spec.step)}_{{\mathrm{{flip}}}}", v)
                      for i, v in enumerate(flips)]
    equations.append(Equation("eos-normal-form", "z'", NORMAL_FORM))
    return EoSMap(entries, equations=equations,
                  notes="The first flip of the normal form is at k = 1 (fixed points z = +-1, multiplier 1 - 2k).")



NU = sp.Symbol("nu", real=True)  # velocity chart on a momentum EoS manifold: p = nu w/|w|


def _momentum_manifolds(ctx: Context) -> EoSManifolds:
    r""":func:`eos_manifold` under a momentum optimizer: the configurations :math:`w_i = \sigma_i w`,
    :math:`p_i = \sigma_i p` with :math:`p \parallel w` are invariant when the rows of the step
    :math:`(w, p)' = M (w, p)` (:func:`analysis.gram.momentum_coefficients`) act on them by common multipliers
    (checked). With :math:`w = \theta e`, :math:`p = \nu e` (:math:`|e| = 1`) the optimizer reduces to the 2-D map
    :math:`\theta' = a(\theta)\theta + b\,\nu`, :math:`\nu' = c(\theta)\theta + d\,\nu`, which the
    result gives (``reduced_map``); there is no 1-D normal form (``eos_map`` says so)."""
    spec = ctx.spec
    coefficients = ctx["gd_update"].coefficients
    k = spec.k
    entries, equations = [], []
    for manifold in spec.eos_manifolds:
        signs = manifold.signs
        on_manifold = {spec.gram_symbol(i, j): signs[i] * signs[j] * THETA ** 2 for i in range(k) for j in range(i, k)}
        blocks = []
        for row_offset in (0, k):  # the parameter rows, then the velocity rows
            for column_offset in (0, k):
                factors = [sp.expand(sum(coefficients[row_offset + i, column_offset + j].subs(on_manifold) * signs[j]
                                         for j in range(k)) / signs[i]) for i in range(k)]
                if any(sp.expand(m - factors[0]) != 0 for m in factors[1:]):
                    raise DerivationError(f"manifold {manifold.name} is not invariant under {spec.optimizer}")
                blocks.append(factors[0])
        a, b, c, d = blocks
        reduced = {THETA: sp.expand(a * THETA + b * NU), NU: sp.expand(c * THETA + d * NU)}
        entries.append(MomentumInvariantManifold(manifold.name, signs, reduced))
        equations += [Equation(f"eos-{spec.optimizer}-theta-{manifold.name}", r"\theta'", reduced[THETA],
                               heading=on_manifold_heading(manifold)),
                      Equation(f"eos-{spec.optimizer}-nu-{manifold.name}", r"\nu'", reduced[NU])]
    return EoSManifolds(entries, equations=equations,
                        notes=f"{spec.optimizer}: w_i = sigma_i theta e, p_i = sigma_i nu e is invariant; the reduced map "
                        "is 2-D.")
