r"""Mini-batch SGD: the map of every batch and the closed-form mean-square threshold (:mod:`analysis.stochastic`)."""
from __future__ import annotations

import sympy as sp

from .common import primed, tex
from .graph import COORDINATE, Context, Equation, node
from .results import MeanSquare


def _is_sgd(spec) -> bool:
    return getattr(spec, "batch_size", None) is not None


@node("mean_square", "Mini-batch SGD: batch maps and the mean-square threshold", ("fixed_points",),
      kinds=(COORDINATE,), applies=_is_sgd)
def mean_square(ctx: Context) -> MeanSquare:
    r"""The SGD step on each batch, :math:`\theta' = \theta - \eta s \nabla L_{\mathcal B}`, the batch Hessians
    :math:`s\nabla^2 L_{\mathcal B}`, and for one coordinate the mean-square threshold in closed form,
    :math:`\eta^\ast = 2 E[h_{\mathcal B}] / (s\, E[h_{\mathcal B}^2])` with :math:`h_{\mathcal B} = L_{\mathcal B}''`
    (Wu, Ma & E 2018; module docstring of :mod:`analysis.stochastic`), at each closed-form fixed point where every
    example's gradient vanishes identically in the parameters."""
    from ..stochastic import batch_losses

    spec = ctx.spec
    coordinates = [c.symbol for c in spec.coordinates]
    pairs = batch_losses(spec)
    maps = [{c: c - spec.step * spec.lr_scale * sp.diff(loss, c) for c in coordinates} for _, loss in pairs]
    hessians = [(spec.lr_scale * sp.hessian(loss, coordinates)).applyfunc(sp.factor) for _, loss in pairs]
    equations = [Equation(f"sgd-{'-'.join(str(i + 1) for i in batch)}-{c}",
                          primed(tex(c)) + rf"\big|_{{\mathcal B = \{{{','.join(str(i + 1) for i in batch)}\}}}}",
                          sp.expand(image[c])) for (batch, _), image in zip(pairs, maps) for c in coordinates]
    threshold, at_points = None, {}
    step_parameter = spec.step if spec.step.is_Symbol else None
    if len(coordinates) == 1 and step_parameter is not None:
        curvatures = [h[0, 0] for h in hessians]
        count = len(curvatures)
        # eta s h_B with s inside the Hessians: eta* = 2 E[h] / E[h^2] over the curvatures s L_B''
        threshold = sp.factor(2 * sp.Add(*curvatures) / count / (sp.Add(*[h ** 2 for h in curvatures]) / count))
        equations.append(Equation("ms-threshold", r"\eta^\ast_{\mathrm{MS}}", threshold))
        gradients = [sp.diff(e, coordinates[0]) for e in spec.example_losses]
        for point in ctx["fixed_points"].solutions:
            at = {s: c for s, c in point.coordinates.items() if c is not None}
            if point.free or any(sp.simplify(g.subs(at)) != 0 for g in gradients):
                continue
            value = sp.factor(threshold.subs(at))
            at_points[point.label] = value
            equations.append(Equation(f"ms-threshold-{point.label}",
                                      rf"\eta^\ast_{{\mathrm{{MS}},\mathrm{{{point.label}}}}}", value))
    size, count = spec.batch_size, len(spec.example_losses)
    notes = (f"Batches of {size} of the {count} examples, each of the {len(pairs)} drawn with equal probability at "
             "every step. The mean of the batch maps is the GD map (its fixed points and threshold above). At a "
             "fixed point of every batch map SGD is stable in mean square iff the second-moment map "
             "T(X) = E_B[(I - eta s H_B) X (I - eta s H_B)] has spectral radius < 1; "
             + ("for one coordinate that is eta below the threshold eta_MS." if threshold is not None else
                "its threshold is evaluated at given values (`sharpness fixed-points`): no closed form in general."))
    return MeanSquare([b for b, _ in pairs], maps, hessians, threshold, at_points,
                      equations=equations, notes=notes)
