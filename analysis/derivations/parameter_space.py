r"""Parameter space: the state as functions of the parameters, and one GD step."""
from __future__ import annotations

import itertools

import sympy as sp

from .. import gram
from ..errors import DerivationError
from .common import primed, tex
from .graph import COORDINATE, Context, Equation, node, kind_of
from .results import ParameterUpdate, StateDefinitions


@node("state_definitions", "Function-space state in terms of the parameters")
def state_definitions(ctx: Context) -> StateDefinitions:
    r"""The state as functions of the parameters, and the inverse substitution used to prove closure.

    Gram models: :math:`f = f(G)` and :math:`\lambda = s \sum_i |\nabla_{w_i} f|^2` (the NTK in the metric of the
    learning rates). The state equations are solved for as many Gram entries as there are state variables;
    the remaining entries (``leftovers``) must drop out of every function-space result.
    """
    spec = ctx.spec
    if kind_of(spec) == COORDINATE:
        return StateDefinitions({s: s for s in ctx.state_symbols}, {}, (),
                                notes="The state is the parameter vector itself.")
    output_state, kernel_state = ctx.state_symbols[:2]
    definitions = {
        output_state: spec.output,
        kernel_state: sp.factor(spec.lr_scale * gram.squared_gradient_norm(spec, spec.output)),
    }
    if spec.optimizer != "gd":
        # Momentum: each state variable's derivatives along the velocity, phi_v = s Dphi[p], phi_vv = s^2 D^2phi[p,p]
        # (state order as in Model.with_optimizer: the base state, then phi_v, phi_vv of each).
        velocity_states = iter(ctx.state_symbols[2:])
        for base in (output_state, kernel_state):
            first, second = gram.directional_derivatives(spec, definitions[base])
            definitions[next(velocity_states)] = sp.factor(spec.lr_scale * first)
            definitions[next(velocity_states)] = sp.factor(spec.lr_scale ** 2 * second)
    equations = [Equation(f"def-{s}", tex(s), expr) for s, expr in definitions.items()]
    for unknowns in _unknown_candidates(spec, definitions):
        solutions = sp.solve([expr - s for s, expr in definitions.items()], unknowns, dict=True)
        if len(solutions) == 1 and set(solutions[0]) == set(unknowns):
            leftovers = tuple(g for g in spec.gram_symbols if g not in unknowns)
            return StateDefinitions(definitions, solutions[0], leftovers, equations=equations)
    raise DerivationError("the state equations cannot be solved for the Gram entries")


def _unknown_candidates(spec, definitions):
    """Sets of Gram entries to solve the state equations for: every subset of the right size, those made of the
    entries the definitions use first (with momentum there are 210 subsets of 6 of the 10 entries)."""
    used = set().union(*(expr.free_symbols for expr in definitions.values()))
    ordered = sorted(spec.gram_symbols, key=lambda g: (g not in used, spec.gram_symbols.index(g)))
    if spec.optimizer == "gd":  # unchanged order for GD (its results and cache entries stay as they were)
        ordered = list(spec.gram_symbols)
    return itertools.combinations(ordered, len(definitions))


@node("gd_update", "Gradient-descent step in parameter space")
def gd_update(ctx: Context) -> ParameterUpdate:
    r"""One GD step. Gram models: :math:`w_i' = \sum_j A_{ij} w_j`, :math:`A = I - \eta s C_L`, hence
    :math:`G' = A G A^\top`. Coordinate models: :math:`\theta' = \theta - \eta s \nabla L`.

    With a momentum optimizer (:mod:`analysis.optimizers`) the step of the optimizer: coordinate models
    :math:`v' = \beta v + \nabla L`, :math:`\theta' = \theta - \eta s (c_g \nabla L + c_v v)`; Gram models the
    same on the vectors and velocities, :math:`(w, p)' = M (w, p)` (:func:`analysis.gram.momentum_coefficients`),
    hence :math:`G' = M G M^\top` for the Gram matrix of all :math:`2k` vectors."""
    spec = ctx.spec
    if spec.optimizer != "gd":
        return _momentum_update(ctx)
    if kind_of(spec) == COORDINATE:
        image = {s: s - spec.step * spec.lr_scale * sp.diff(spec.loss, s) for s in ctx.state_symbols}
        equations = [Equation(f"gd-{s}", primed(tex(s)), sp.expand(e)) for s, e in image.items()]
        return ParameterUpdate(image=image, equations=equations)
    coefficients = gram.gd_coefficients(spec)
    gram_matrix = spec.gram_matrix()
    image_matrix = coefficients * gram_matrix * coefficients.T
    gram_image = {spec.gram_symbol(i, j): image_matrix[i, j] for i in range(spec.k) for j in range(i, spec.k)}
    vectors = [sp.Symbol(v) for v in spec.vectors]
    equations = [Equation(f"gd-{v}", primed(str(v)), sum(coefficients[i, j] * vectors[j] for j in range(spec.k)))
                 for i, v in enumerate(vectors)]
    return ParameterUpdate(coefficients=coefficients, gram_image=gram_image, equations=equations,
                           notes="Every gradient lies in the span of the vectors, so the update acts on the Gram matrix.")



def _momentum_update(ctx: Context) -> ParameterUpdate:
    """:func:`gd_update` for a momentum optimizer."""
    from ..optimizers import update

    spec = ctx.spec
    if spec.optimizer == "adam":
        return _adam_update(ctx)
    if kind_of(spec) == COORDINATE:
        coordinates = [s.symbol for s in spec.coordinates]
        velocities = [s.symbol for s in spec.velocity]
        gradient = [sp.diff(spec.loss, s) for s in coordinates]
        new_theta, new_velocity = update(spec.optimizer, coordinates, velocities, gradient,
                                         spec.step * spec.lr_scale, spec.momentum)
        image = dict(zip(coordinates + velocities, list(new_theta) + list(new_velocity)))
        equations = [Equation(f"{spec.optimizer}-{s}", primed(tex(s)), sp.expand(e)) for s, e in image.items()]
        return ParameterUpdate(image=image, equations=equations,
                               notes=f"{spec.optimizer} (PyTorch's convention, analysis.optimizers).")
    coefficients = gram.momentum_coefficients(spec)
    gram_matrix = spec.state_gram_matrix()
    image_matrix = coefficients * gram_matrix * coefficients.T
    m = len(spec.all_vectors)
    gram_image = {spec.gram_symbol(i, j): image_matrix[i, j] for i in range(m) for j in range(i, m)}
    vectors = [sp.Symbol(v) for v in spec.all_vectors]
    equations = [Equation(f"{spec.optimizer}-{v}", primed(str(v)), sum(coefficients[i, j] * vectors[j] for j in range(m)))
                 for i, v in enumerate(vectors)]
    return ParameterUpdate(coefficients=coefficients, gram_image=gram_image, equations=equations,
                           notes=f"{spec.optimizer} (PyTorch's convention, analysis.optimizers): every gradient lies in "
                                 "the span of the vectors, so the step acts on the Gram matrix of parameters and velocities.")


def _adam_update(ctx: Context) -> ParameterUpdate:
    r""":func:`gd_update` for Adam (:func:`analysis.optimizers.adam_update`): the map of
    :math:`(\theta, m, v, t)`, the counter :math:`t` (steps taken) entering through the bias corrections
    :math:`1 - \beta_1^{t+1}` and :math:`1 - \beta_2^{t+1}`."""
    from ..optimizers import adam_update

    spec = ctx.spec
    coordinates = [s.symbol for s in spec.coordinates]
    first = [s.symbol for s in spec.velocity]
    second = [s.symbol for s in spec.second_moment]
    counter = spec.counter.symbol
    gradient = [sp.diff(spec.loss, s) for s in coordinates]
    beta2, eps = spec.adam
    new_theta, new_first, new_second, new_counter = adam_update(
        coordinates, first, second, counter, gradient, spec.step * spec.lr_scale, spec.momentum, beta2, eps)
    image = dict(zip(coordinates + first + second + [counter],
                     list(new_theta) + list(new_first) + list(new_second) + [new_counter]))
    equations = [Equation(f"adam-{s}", primed(tex(s)), e) for s, e in image.items()]
    return ParameterUpdate(image=image, equations=equations,
                           notes="adam (torch.optim.Adam with bias correction, analysis.optimizers.adam_update); t is "
                                 "the number of steps taken.")
