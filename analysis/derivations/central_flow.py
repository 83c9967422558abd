r"""Central flows: the time-averaged dynamics of GD at the edge of stability.

Cohen, Damian, Talwalkar, Kolter & Lee, *Understanding Optimization in Deep Learning with Central Flows*, ICLR
2025 (Sec. 3). With one critical eigenvalue :math:`S(w) = \lambda_{\max}(P\,\nabla^2 L)` (:math:`P = s I` the
learning-rate metric) and time :math:`t` counted in GD steps,

.. math:: \frac{dw}{dt} = -\eta P\,\big[\nabla L + \tfrac12\sigma^2\,\nabla S\big], \qquad
          0 \le \sigma^2 \ \perp\ 2/\eta - S \ge 0,

and on :math:`S = 2/\eta` the multiplier that keeps :math:`S` there is
:math:`\sigma^2 = -2\,\langle\nabla L, \nabla S\rangle_P / \langle\nabla S, \nabla S\rangle_P`.

Two nodes: ``grad_sharpness`` (:math:`\nabla S` in closed form, or the tensor :math:`D^3 L` whose contraction
:math:`D^3L[u, u, \cdot]` with the unit top eigenvector gives it numerically) and ``central_flow`` (the vector
field in the state). For a Gram model the flow is pushed to the function-space state :math:`z = (f, \lambda)`:
:math:`\dot z_b = -\eta\, \sum_a K_{ba}\,(\partial_a L + \tfrac12\sigma^2 \partial_a S)` with the metric
:math:`K_{ba} = s\,\langle\nabla_w z_b, \nabla_w z_a\rangle = s\operatorname{tr}(C_b G C_a)`
(:func:`analysis.gram.gradient_coefficients`); the flow closes on the state exactly when every :math:`K_{ba}` is
a function of the state, which is proved as for the map (the leftover Gram entries drop out identically).
"""
from __future__ import annotations

import sympy as sp

from .. import gram
from ..errors import DerivationError
from .common import present, tex, to_state
from .graph import COORDINATE, Context, Equation, kind_of, node
from .results import CentralFlowField, GradSharpness

# The multiplier of the central flow (the variance of the oscillation along the top eigenvector).
SIGMA2 = sp.Symbol("sigma2", nonnegative=True)


def _declare_sigma2():
    from ..latex import declare

    declare(SIGMA2, r"\sigma^{2}")


_declare_sigma2()


def _loss_coordinates(ctx: Context) -> list:
    """The coordinates the loss is a function of (the state without velocities) for a coordinate model."""
    return [s.symbol for s in ctx.spec.coordinates]


def _piecewise(expr) -> bool:
    return expr is not None and bool(expr.atoms(sp.Max, sp.Min, sp.Piecewise, sp.Heaviside))


@node("grad_sharpness", "Gradient of the sharpness", ("state_definitions", "sharpness"))
def grad_sharpness(ctx: Context) -> GradSharpness:
    r""":math:`\nabla S` in the state variables.

    Where the sharpness has a closed form (one branch, no ``Max``), its partial derivatives. Otherwise, for a
    coordinate model, the third-derivative tensor :math:`T_{ijk} = s\,\partial^3 L/\partial\theta_i\partial
    \theta_j\partial\theta_k`, with which numerics computes :math:`\partial_k S = T_{ijk} u_i u_j` at the unit top
    eigenvector :math:`u` of :math:`s\nabla^2 L` (first-order perturbation theory of a simple eigenvalue; Kato,
    *Perturbation Theory for Linear Operators*, II.2). A Gram model's gradient is over :math:`(f, \lambda)`; the
    parameter-space gradient enters only through the metric of ``central_flow``.
    """
    spec = ctx.spec
    expression = ctx["sharpness"].expression
    if spec.optimizer != "gd":
        return GradSharpness(None, None, notes=f"{spec.optimizer}: central flows are derived for GD only.")
    states = ctx.state_symbols if kind_of(spec) != COORDINATE else _loss_coordinates(ctx)
    if expression is not None and not _piecewise(expression):
        gradient = {s: sp.diff(expression, s) for s in states}
        equations = [Equation(f"grad-S-{s}", rf"\frac{{\partial S}}{{\partial {tex(s)}}}", e)
                     for s, e in gradient.items()]
        return GradSharpness(gradient, None, equations=equations,
                             notes="Partial derivatives of the closed-form sharpness; valid where the top eigenvalue "
                                   "is simple.")
    if kind_of(spec) != COORDINATE:
        return GradSharpness(None, None, notes="The sharpness of this Gram model has no single closed-form branch; "
                                               "its gradient is not derived.")
    scaled = spec.lr_scale * spec.loss
    size = len(states)
    tensor = [[[sp.diff(scaled, states[i], states[j], states[k]) for k in range(size)] for j in range(size)]
              for i in range(size)]
    equations = [Equation(f"d3L-{i}{j}{k}", rf"T_{{{i + 1}{j + 1}{k + 1}}}", tensor[i][j][k])
                 for i in range(size) for j in range(i, size) for k in range(j, size)]
    return GradSharpness(None, tensor, equations=equations,
                         notes="No closed-form sharpness: dS/dtheta_k = T_ijk u_i u_j at the unit top eigenvector u of "
                               "the Hessian, contracted numerically (valid where the top eigenvalue is simple).")


@node("central_flow", "Central flow: the time-averaged GD dynamics at the edge of stability",
      ("state_definitions", "loss", "sharpness", "grad_sharpness"))
def central_flow(ctx: Context) -> CentralFlowField:
    r"""The central flow's vector field in the state, :math:`\dot z = g(z) + \sigma^2 h(z)`, with
    :math:`g = -\eta K\nabla L` (gradient flow) and :math:`h = -\tfrac{\eta}{2} K\nabla S`, and the multiplier
    :math:`\sigma^2 = -2\,(\nabla L^\top K \nabla S)/(\nabla S^\top K\nabla S)` on :math:`S = 2/\eta`
    (module docstring; Cohen et al., ICLR 2025, Sec. 3). Time in GD steps.

    Coordinate models: :math:`K = sI`. Gram models: :math:`K_{ba} = s\operatorname{tr}(C_b G C_a)`, rewritten in the
    state; closure is :math:`\partial K_{ba}/\partial G_{\mathrm{leftover}} \equiv 0`, checked symbolically.
    """
    spec = ctx.spec
    if spec.optimizer != "gd":
        return CentralFlowField(None, None, None, None, None, None, "",
                                notes=f"{spec.optimizer}: the central flow is derived for GD only (its averaged "
                                      "dynamics under momentum is another flow).")
    loss = ctx["loss"].expression
    if kind_of(spec) == COORDINATE:
        states = _loss_coordinates(ctx)
        metric = spec.lr_scale * sp.eye(len(states))
        closure = "the state is the parameter vector (metric s I)"
    else:
        states = ctx.state_symbols
        definitions = ctx["state_definitions"].definitions
        coefficients = [gram.gradient_coefficients(spec, definitions[s]) for s in states]
        gram_matrix = spec.gram_matrix()
        try:
            metric = sp.Matrix(len(states), len(states), lambda b, a: sp.factor(to_state(
                ctx, sp.expand(spec.lr_scale * (coefficients[b] * gram_matrix * coefficients[a]).trace()),
                f"the metric entry K_{states[b]}{states[a]}")))
        except DerivationError as error:
            return CentralFlowField(None, None, None, None, None, None, "",
                                    notes=f"The central flow does not close on the function-space state: {error}. "
                                          "It exists in parameter space at each finite width only (not derived).")
        leftovers = ctx["state_definitions"].leftovers
        closure = ("d/d{} of every metric entry s<grad {}, grad {}> vanishes identically".format(
            ", ".join(str(g) for g in leftovers), "z_a", "z_b") if leftovers else "the state determines the Gram matrix")
    step = spec.step
    loss_gradient = sp.Matrix([sp.diff(loss, s) for s in states])
    gradient_field = {s: present(e, step) for s, e in zip(states, -step * metric * loss_gradient)}
    grad = ctx["grad_sharpness"].gradient
    equations = [Equation(f"flow-metric-{states[b]}{states[a]}", rf"K_{{{tex(states[b])}{tex(states[a])}}}",
                          metric[b, a]) for b in range(len(states)) for a in range(b, len(states))]
    if grad is None:
        sharpness_field = multiplier = None
        equations += [Equation(f"flow-{s}", rf"\frac{{d{tex(s)}}}{{dt}}",
                               e + SIGMA2 * sp.Symbol(f"h_{s}")) for s, e in gradient_field.items()]
        notes = ("dz/dt = g + sigma^2 h with h = -(eta/2) K grad S, grad S from the tensor of grad_sharpness "
                 "(numerically); ")
    else:
        sharpness_gradient = sp.Matrix([grad[s] for s in states])
        field = -step / 2 * metric * sharpness_gradient
        sharpness_field = dict(zip(states, field))
        multiplier = -2 * (loss_gradient.T * metric * sharpness_gradient)[0, 0] / (
            sharpness_gradient.T * metric * sharpness_gradient)[0, 0]
        equations += [Equation(f"flow-{s}", rf"\frac{{d{tex(s)}}}{{dt}}", gradient_field[s] + SIGMA2 * field[i])
                      for i, s in enumerate(states)]
        equations.append(Equation("flow-sigma2", r"\sigma^{2}\big|_{S = 2/\eta}", multiplier))
        notes = ""
    notes += ("sigma^2 = 0 (gradient flow) while S < 2/eta; on S = 2/eta, sigma^2 keeps S there while it is >= 0. "
              f"Predicted time-averaged loss: L + sigma^2/eta. Closure: {closure}.")
    return CentralFlowField(gradient_field, sharpness_field, multiplier, metric,
                            dict(zip(states, loss_gradient)), tuple(states), closure, equations=equations, notes=notes)
