r"""Function space: the exact map on the state (closure proved), the loss in the state, the Jacobian."""
from __future__ import annotations

import sympy as sp

from .common import present, primed, tex, to_state
from .graph import COORDINATE, Context, Equation, node, kind_of
from .results import FunctionMap, Jacobian, Loss


@node("function_map", "Exact function-space map (closure proved)", ("state_definitions", "gd_update"))
def function_map(ctx: Context) -> FunctionMap:
    r"""The map :math:`(f, \lambda) \mapsto (f', \lambda')` at every width, derived from the GD step.

    The image of each state definition under :math:`G \mapsto G'` is rewritten in the state; closure is the
    symbolic identity :math:`\partial(\cdot)/\partial G_{\text{leftover}} \equiv 0` (arXiv 2311.02076, Eq. 3).
    """
    spec = ctx.spec
    definitions = ctx["state_definitions"]
    if kind_of(spec) == COORDINATE:
        image = ctx["gd_update"].image
        proof = "the state is the parameter vector"
    else:
        gram_image = ctx["gd_update"].gram_image
        image = {s: to_state(ctx, expr.subs(gram_image, simultaneous=True), f"the image of {s}")
                 for s, expr in definitions.definitions.items()}
        proof = ("d/d{} of every image vanishes identically".format(
            ", ".join(str(g) for g in definitions.leftovers)))
    if spec.optimizer != "adam":  # Adam's map is kept in PyTorch's order of operations (expanding it loses digits)
        image = {s: present(e, spec.step) for s, e in image.items()}
    equations = [Equation(f"map-{s}", primed(tex(s)), e) for s, e in image.items()]
    return FunctionMap(image, proof, equations=equations, notes=f"Closure: {proof}.")


@node("loss", "Loss in the state variables", ("state_definitions",))
def loss(ctx: Context) -> Loss:
    spec = ctx.spec
    # A coordinate model's loss is kept as written: factoring a sum of squares expands it, and the expanded form
    # rounds to small negative values near its zero set.
    expr = spec.loss if kind_of(spec) == COORDINATE else sp.factor(to_state(ctx, spec.loss, "the loss"))
    return Loss(expr, equations=[Equation("loss", "L", expr)])


@node("jacobian", "Jacobian of the function-space map", ("function_map",))
def jacobian(ctx: Context) -> Jacobian:
    mapping = ctx["function_map"].images
    states = ctx.state_symbols
    matrix = sp.Matrix([mapping[s] for s in states]).jacobian(states)
    counter = getattr(ctx.spec, "counter", None)
    if counter is not None:
        # Adam's step counter is an exact integer, never perturbed: its column is that of a constant (dt'/dt = 1
        # only). d/dt of beta^(t+1) would also bring log(beta), undefined at beta1 = 0 (RMSProp).
        column = states.index(counter.symbol)
        for row in range(len(states)):
            matrix[row, column] = sp.Integer(1 if row == column else 0)
    if ctx.spec.optimizer != "adam":  # Adam's map is kept in PyTorch's order of operations (function_map)
        matrix = matrix.applyfunc(lambda e: present(e, ctx.spec.step))
    equations = [Equation(f"jac-{i}{j}", rf"J_{{{i + 1}{j + 1}}}", matrix[i, j])
                 for i in range(len(states)) for j in range(len(states))]
    return Jacobian(matrix, equations=equations)


