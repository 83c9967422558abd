r"""Parameter space: the state as functions of the parameters, and one GD step."""
from __future__ import annotations

import itertools

import sympy as sp

from .. import gram
from ..errors import DerivationError
from .common import primed, tex
from .graph import COORDINATE, NODES, Context, Equation, Result, node, kind_of


@node("state_definitions", "Function-space state in terms of the parameters")
def state_definitions(ctx: Context) -> Result:
    r"""The state as functions of the parameters, and the inverse substitution used to prove closure.

    Gram models: :math:`f = f(G)` and :math:`\lambda = s \sum_i |\nabla_{w_i} f|^2` (the NTK in the metric of the
    learning rates). The state equations are solved for as many Gram entries as there are state variables;
    the remaining entries (``leftovers``) must drop out of every function-space result.
    """
    spec = ctx.spec
    if kind_of(spec) == COORDINATE:
        return Result("state_definitions", NODES["state_definitions"].title,
                      {"definitions": {s: s for s in ctx.state_symbols}, "inverse": {}, "leftovers": ()},
                      notes="The state is the parameter vector itself.")
    output_state, kernel_state = ctx.state_symbols
    definitions = {
        output_state: spec.output,
        kernel_state: sp.factor(spec.lr_scale * gram.squared_gradient_norm(spec, spec.output)),
    }
    equations = [Equation(f"def-{s}", tex(s), expr) for s, expr in definitions.items()]
    for unknowns in itertools.combinations(spec.gram_symbols, len(definitions)):
        solutions = sp.solve([expr - s for s, expr in definitions.items()], unknowns, dict=True)
        if len(solutions) == 1 and set(solutions[0]) == set(unknowns):
            leftovers = tuple(g for g in spec.gram_symbols if g not in unknowns)
            return Result("state_definitions", NODES["state_definitions"].title,
                          {"definitions": definitions, "inverse": solutions[0], "leftovers": leftovers}, equations)
    raise DerivationError("the state equations cannot be solved for the Gram entries")


@node("gd_update", "Gradient-descent step in parameter space")
def gd_update(ctx: Context) -> Result:
    r"""One GD step. Gram models: :math:`w_i' = \sum_j A_{ij} w_j`, :math:`A = I - \eta s C_L`, hence
    :math:`G' = A G A^\top`. Coordinate models: :math:`\theta' = \theta - \eta s \nabla L`."""
    spec = ctx.spec
    title = NODES["gd_update"].title
    if kind_of(spec) == COORDINATE:
        image = {s: s - spec.step * spec.lr_scale * sp.diff(spec.loss, s) for s in ctx.state_symbols}
        equations = [Equation(f"gd-{s}", primed(tex(s)), sp.expand(e)) for s, e in image.items()]
        return Result("gd_update", title, {"image": image}, equations)
    coefficients = gram.gd_coefficients(spec)
    gram_matrix = spec.gram_matrix()
    image_matrix = coefficients * gram_matrix * coefficients.T
    gram_image = {spec.gram_symbol(i, j): image_matrix[i, j] for i in range(spec.k) for j in range(i, spec.k)}
    vectors = [sp.Symbol(v) for v in spec.vectors]
    equations = [Equation(f"gd-{v}", primed(str(v)), sum(coefficients[i, j] * vectors[j] for j in range(spec.k)))
                 for i, v in enumerate(vectors)]
    return Result("gd_update", title, {"coefficients": coefficients, "gram_image": gram_image}, equations,
                  notes="Every gradient lies in the span of the vectors, so the update acts on the Gram matrix.")

