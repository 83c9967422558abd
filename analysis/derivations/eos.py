r"""Edge of stability: invariant manifolds of aligned layers, and the reduced cubic map on them."""
from __future__ import annotations

import sympy as sp

from ..errors import DerivationError
from .common import THETA, primed, tex, through_radicals
from .graph import GRAM, NODES, Context, Equation, Result, node
from .records import EoSReduction, InvariantManifold

# The cubic normal form z' = (1 + k) z - k z^3 that the reduction must reach (generic: any sub-quadratic loss on
# an aligned manifold reduces to it; the registered model ``uv-eos`` is this map with its own symbols).
NORMAL_FORM_STATE = sp.Symbol("z", real=True)
NORMAL_FORM_PARAMETER = sp.Symbol("k", real=True)
NORMAL_FORM = (1 + NORMAL_FORM_PARAMETER) * NORMAL_FORM_STATE - NORMAL_FORM_PARAMETER * NORMAL_FORM_STATE ** 3

# --------------------------------------------------------------------------------------------------------------
# Edge of stability


@node("eos_manifold", "Edge-of-stability manifolds: invariance and transverse dynamics",
       ("state_definitions", "gd_update", "function_map"), kinds=(GRAM,))
def eos_manifold(ctx: Context) -> Result:
    r"""For each configuration :math:`w_i = \sigma_i w` (chart :math:`\theta = |w|`): invariance under GD,
    the manifold as a relation :math:`R(f, \lambda) = 0` in function space, and the transverse multiplier
    :math:`R(F(s)) / R(s)`, which the derivation proves to be a polynomial (so the manifold attracts or repels
    at the rate it gives)."""
    spec = ctx.spec
    coefficients = ctx["gd_update"]["coefficients"]
    definitions = ctx["state_definitions"]["definitions"]
    mapping = ctx["function_map"]["map"]
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
        equations.append(Equation(f"eos-{manifold.name}", "0", relation))
        if transverse is not None:
            equations.append(Equation(f"eos-transverse-{manifold.name}", r"\frac{R'}{R}", transverse))
    return Result("eos_manifold", NODES["eos_manifold"].title, {"manifolds": entries}, equations,
                  notes="R = 0 is invariant; off it, R is multiplied by the transverse multiplier at every step.")


@node("eos_map", "Reduced cubic map on the EoS manifolds and its normal form", ("eos_manifold",), kinds=(GRAM,))
def eos_map(ctx: Context) -> Result:
    r"""On each manifold GD is :math:`\theta' = m(\theta)\,\theta`; for a sub-quadratic loss
    :math:`\tfrac12(a\theta^2 - b)^2` this is the odd cubic :math:`\theta' = a_1\theta + a_3\theta^3`, which
    :math:`\theta = s z`, :math:`s^2 = (a_1 - 1)/(-a_3)` brings to :math:`z' = (1 + k) z - k z^3`,
    :math:`k = a_1 - 1` (the period-doubling map of arXiv 2311.02076, Sec. 6)."""
    spec = ctx.spec
    entries, equations = [], []
    for manifold in ctx["eos_manifold"]["manifolds"]:
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
        equations += [Equation(f"eos-k-{manifold.name}", "k", k_value),
                      Equation(f"eos-zsq-{manifold.name}", "z^{2}", conjugacy),
                      Equation(f"eos-fmap-{manifold.name}", primed(tex(output_state)), output_map)]
        equations += [Equation(f"eos-flip-{manifold.name}-{i}", rf"{tex(spec.step)}_{{\mathrm{{flip}}}}", v)
                      for i, v in enumerate(flips)]
    equations.append(Equation("eos-normal-form", "z'", NORMAL_FORM))
    return Result("eos_map", NODES["eos_map"].title, {"manifolds": entries}, equations,
                  notes="The first flip of the normal form is at k = 1 (fixed points z = +-1, multiplier 1 - 2k).")

