r"""The derived results, one function each, and the graph of what each is derived from.

Every function takes a :class:`Context` (the model description and the results it depends on) and returns a
:class:`Result`. Nothing model-specific lives here: each works on any :class:`~analysis.model.GramModel` or
:class:`~analysis.model.CoordinateModel`, and the engine in :mod:`analysis.engine` evaluates them in the order
of :data:`GRAPH`.

Equation numbers in the docstrings refer to Kalra, He & Barkeshli, arXiv 2311.02076 where the result appears
there; everything else is derived here from the parameter-space loss.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx
import sympy as sp

from . import gram
from .model import CoordinateModel, GramModel

GRAM, COORDINATE = "gram", "coordinate"
MAX_FACTORED_DIMENSION = 3  # closed-form Hessian spectra are attempted up to this many coordinates
EIGENVALUE = sp.Symbol("t")  # the spectral variable of characteristic polynomials
THETA = sp.Symbol("theta", positive=True)  # chart |w| on an EoS manifold
# The cubic normal form z -> (1 + k) z - k z^3 (same symbols as the registered model ``uv-eos``).
Z = sp.Symbol("z", real=True)
K = sp.Symbol("k", real=True)
NORMAL_FORM = (1 + K) * Z - K * Z ** 3


class DerivationError(RuntimeError):
    """A derivation step could not prove what it must (e.g. the map does not close on the state)."""


@dataclass
class Equation:
    """One displayed equation: LaTeX left-hand side, SymPy right-hand side (an expression or a relation)."""

    label: str
    lhs: str
    rhs: sp.Basic
    relation: str = "="


@dataclass
class Result:
    name: str
    title: str
    data: dict
    equations: list = field(default_factory=list)
    notes: str = ""


@dataclass
class Context:
    model: object  # analysis.model.Model
    parameterization: str
    spec: object  # GramModel or CoordinateModel
    inputs: dict  # name -> Result of each dependency

    @property
    def state_symbols(self) -> list:
        return [s.symbol for s in self.spec.state]

    def __getitem__(self, name) -> dict:
        return self.inputs[name].data


@dataclass(frozen=True)
class Node:
    name: str
    title: str
    depends_on: tuple
    kinds: tuple
    derive: Callable


NODES: dict = {}


def _node(name, title, depends_on=(), kinds=(GRAM, COORDINATE)):
    def register(function):
        NODES[name] = Node(name, title, tuple(depends_on), tuple(kinds), function)
        return function
    return register


def kind_of(spec) -> str:
    if isinstance(spec, GramModel):
        return GRAM
    if isinstance(spec, CoordinateModel):
        return COORDINATE
    raise TypeError(f"not a model description: {spec!r}")


def build_graph() -> nx.DiGraph:
    """The derivation graph: nodes are results, an edge ``a -> b`` reads "b is derived from a"."""
    graph = nx.DiGraph()
    for node in NODES.values():
        graph.add_node(node.name, title=node.title, kinds=node.kinds)
        for dependency in node.depends_on:
            graph.add_edge(dependency, node.name)
    if not nx.is_directed_acyclic_graph(graph):
        raise RuntimeError("the derivation graph has a cycle")
    return graph


def _prime(name: str) -> str:
    return f"{name}'"


def _tex(symbol) -> str:
    from .latex import symbol_latex
    return symbol_latex(symbol)


# --------------------------------------------------------------------------------------------------------------
# Parameter space


@_node("state_definitions", "Function-space state in terms of the parameters")
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
    equations = [Equation(f"def-{s}", _tex(s), expr) for s, expr in definitions.items()]
    for unknowns in itertools.combinations(spec.gram_symbols, len(definitions)):
        solutions = sp.solve([expr - s for s, expr in definitions.items()], unknowns, dict=True)
        if len(solutions) == 1 and set(solutions[0]) == set(unknowns):
            leftovers = tuple(g for g in spec.gram_symbols if g not in unknowns)
            return Result("state_definitions", NODES["state_definitions"].title,
                          {"definitions": definitions, "inverse": solutions[0], "leftovers": leftovers}, equations)
    raise DerivationError("the state equations cannot be solved for the Gram entries")


@_node("gd_update", "Gradient-descent step in parameter space")
def gd_update(ctx: Context) -> Result:
    r"""One GD step. Gram models: :math:`w_i' = \sum_j A_{ij} w_j`, :math:`A = I - \eta s C_L`, hence
    :math:`G' = A G A^\top`. Coordinate models: :math:`\theta' = \theta - \eta s \nabla L`."""
    spec = ctx.spec
    title = NODES["gd_update"].title
    if kind_of(spec) == COORDINATE:
        image = {s: s - spec.step * spec.lr_scale * sp.diff(spec.loss, s) for s in ctx.state_symbols}
        equations = [Equation(f"gd-{s}", _prime(_tex(s)), sp.expand(e)) for s, e in image.items()]
        return Result("gd_update", title, {"image": image}, equations)
    coefficients = gram.gd_coefficients(spec)
    gram_matrix = spec.gram_matrix()
    image_matrix = coefficients * gram_matrix * coefficients.T
    gram_image = {spec.gram_symbol(i, j): image_matrix[i, j] for i in range(spec.k) for j in range(i, spec.k)}
    vectors = [sp.Symbol(v) for v in spec.vectors]
    equations = [Equation(f"gd-{v}", _prime(str(v)), sum(coefficients[i, j] * vectors[j] for j in range(spec.k)))
                 for i, v in enumerate(vectors)]
    return Result("gd_update", title, {"coefficients": coefficients, "gram_image": gram_image}, equations,
                  notes="Every gradient lies in the span of the vectors, so the update acts on the Gram matrix.")


# --------------------------------------------------------------------------------------------------------------
# Function space


def _to_state(ctx: Context, expr: sp.Expr, what: str) -> sp.Expr:
    """Rewrite a Gram-space expression in the state variables; prove that the leftover entries drop out."""
    definitions = ctx["state_definitions"]
    if not definitions["leftovers"]:
        return expr
    rewritten = sp.expand(expr.subs(definitions["inverse"], simultaneous=True))
    for leftover in definitions["leftovers"]:
        if sp.expand(sp.diff(rewritten, leftover)) != 0:
            raise DerivationError(f"{what} is not a function of the state: it still depends on {leftover}")
    return rewritten.subs({g: 0 for g in definitions["leftovers"]})


def _present(expr: sp.Expr, step) -> sp.Expr:
    """A readable, equal form: collected in powers of the step (if symbolic), each coefficient factored."""
    if not step.is_Symbol:
        return sp.expand(expr)
    collected = sp.collect(sp.expand(expr), step, evaluate=False)
    return sp.Add(*[sp.factor(coefficient) * power for power, coefficient in collected.items()])


@_node("function_map", "Exact function-space map (closure proved)", ("state_definitions", "gd_update"))
def function_map(ctx: Context) -> Result:
    r"""The map :math:`(f, \lambda) \mapsto (f', \lambda')` at every width, derived from the GD step.

    The image of each state definition under :math:`G \mapsto G'` is rewritten in the state; closure is the
    symbolic identity :math:`\partial(\cdot)/\partial G_{\text{leftover}} \equiv 0` (arXiv 2311.02076, Eq. 3).
    """
    spec = ctx.spec
    definitions = ctx["state_definitions"]
    if kind_of(spec) == COORDINATE:
        image = ctx["gd_update"]["image"]
        proof = "the state is the parameter vector"
    else:
        gram_image = ctx["gd_update"]["gram_image"]
        image = {s: _to_state(ctx, expr.subs(gram_image, simultaneous=True), f"the image of {s}")
                 for s, expr in definitions["definitions"].items()}
        proof = ("d/d{} of every image vanishes identically".format(
            ", ".join(str(g) for g in definitions["leftovers"])))
    image = {s: _present(e, spec.step) for s, e in image.items()}
    equations = [Equation(f"map-{s}", _prime(_tex(s)), e) for s, e in image.items()]
    return Result("function_map", NODES["function_map"].title, {"map": image, "closure": proof}, equations,
                  notes=f"Closure: {proof}.")


@_node("loss", "Loss in the state variables", ("state_definitions",))
def loss(ctx: Context) -> Result:
    spec = ctx.spec
    # A coordinate model's loss is kept as written: factoring a sum of squares expands it, and the expanded form
    # rounds to small negative values near its zero set.
    expr = spec.loss if kind_of(spec) == COORDINATE else sp.factor(_to_state(ctx, spec.loss, "the loss"))
    return Result("loss", NODES["loss"].title, {"loss": expr}, [Equation("loss", "L", expr)])


@_node("hessian_spectrum", "Spectrum of the loss Hessian in the metric of the learning rates", ("state_definitions",))
def hessian_spectrum(ctx: Context) -> Result:
    r"""Eigenvalues of :math:`s\nabla^2 L` with multiplicities, in the state variables.

    Gram models (width :math:`n \ge k`): the roots of the characteristic polynomial of the in-span block
    (:func:`analysis.gram.span_hessian`), once each, and the eigenvalues of the complement block
    :math:`s C_L` (:func:`analysis.gram.complement_hessian`), each :math:`n - k` times. Total :math:`nk`.
    """
    spec = ctx.spec
    title = NODES["hessian_spectrum"].title
    if kind_of(spec) == COORDINATE:
        hessian = spec.lr_scale * sp.hessian(spec.loss, ctx.state_symbols)
        if hessian.rows > MAX_FACTORED_DIMENSION:
            # Factoring a dense symbolic characteristic polynomial of degree >= 4 can take SymPy hours.
            return Result("hessian_spectrum", title, {"eigenvalues": [], "unresolved": [(None, 1)],
                                                      "hessian": hessian}, [],
                          notes=f"Dimension {hessian.rows} > {MAX_FACTORED_DIMENSION}: no closed form attempted; "
                                "the spectrum is computed numerically from the compiled Hessian.")
        charpoly = hessian.charpoly(EIGENVALUE).as_expr()
    else:
        hessian = None  # in Gram coordinates only; the in-span block below is what the spectrum needs
        span_block, cholesky = gram.span_hessian(spec)
        charpoly = span_block.charpoly(EIGENVALUE).as_expr()
        charpoly = sp.cancel(sp.expand(charpoly.subs(gram.cholesky_in_gram(spec, cholesky), simultaneous=True)))
        charpoly = _to_state(ctx, charpoly, "the Hessian's characteristic polynomial")
    eigenvalues, unresolved = _closed_form_roots(charpoly)
    if kind_of(spec) == GRAM:
        complement = gram.complement_hessian(spec)
        for root, multiplicity in complement.eigenvals().items():
            eigenvalues.append((sp.factor(_to_state(ctx, root, "a complement eigenvalue")),
                                multiplicity * (spec.width - spec.k)))
        if unresolved:
            raise DerivationError("the in-span Hessian block has no closed-form eigenvalues")
    equations = [Equation(f"hessian-eig-{i}", rf"h_{{{i + 1}}}", e) for i, (e, _) in enumerate(eigenvalues)]
    equations += [Equation(f"hessian-charpoly-{i}", "0", factor) for i, (factor, _) in enumerate(unresolved)]
    notes = "Multiplicities: " + ", ".join(str(m) for _, m in eigenvalues) + "."
    if unresolved:
        notes += (" Irreducible factors of degree >= 3 of the characteristic polynomial (in t) are kept as "
                  "polynomials; their roots are evaluated numerically from the compiled Hessian.")
    return Result("hessian_spectrum", title, {"eigenvalues": eigenvalues, "unresolved": unresolved,
                                              "hessian": hessian}, equations, notes=notes)


def _closed_form_roots(charpoly: sp.Expr):
    """Roots of the irreducible factors of degree <= 2 with multiplicities; the other factors unresolved
    (Cardano's formula for a symbolic cubic is neither readable nor numerically stable)."""
    eigenvalues, unresolved = [], []
    for factor, power in sp.factor_list(charpoly, EIGENVALUE)[1]:
        polynomial = sp.Poly(factor, EIGENVALUE)
        if polynomial.degree() > 2:
            unresolved.append((factor, power))
            continue
        for root, multiplicity in sp.roots(polynomial).items():
            eigenvalues.append((sp.factor(root), multiplicity * power))
    return eigenvalues, unresolved


def sample_points(ctx: Context, count: int, seed: int = 0) -> list:
    """Random realizable points: parameter values by domain and a state reached from random parameters."""
    rng = random.Random(seed)
    spec = ctx.spec
    definitions = ctx["state_definitions"]["definitions"]
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
            rows = sp.Matrix(spec.k, spec.k, lambda i, j: sp.Rational(rng.randint(-300, 300), 100))
            gram_values = rows * rows.T
            values.update({spec.gram_symbol(i, j): gram_values[i, j] for i in range(spec.k) for j in range(spec.k)})
        else:
            values.update({s: sp.Rational(rng.randint(-300, 300), 100) for s in definitions})
        state = {s: expr.subs(values) for s, expr in definitions.items()}
        points.append({**{k: v for k, v in values.items() if k not in definitions}, **state})
    return points


@_node("sharpness", "Sharpness: top eigenvalue of the Hessian", ("hessian_spectrum", "state_definitions"))
def sharpness(ctx: Context) -> Result:
    r"""The top (largest algebraic) eigenvalue among the branches of :func:`hessian_spectrum`.

    The dominant branch is selected at 24 random realizable points and must win at every one of them
    (branches with multiplicity :math:`n-k` count only where :math:`n > k`); if different branches win at
    different points, the result is their ``Max``. If part of the spectrum has no closed form, the result is
    ``None`` with the Hessian itself, whose top eigenvalue numerics computes.
    """
    spectrum = ctx["hessian_spectrum"]
    if spectrum["unresolved"]:
        return Result("sharpness", NODES["sharpness"].title, {"sharpness": None, "hessian": spectrum["hessian"]},
                      [Equation(f"hessian-{i}{j}", rf"H_{{{i + 1}{j + 1}}}", spectrum["hessian"][i, j])
                       for i in range(spectrum["hessian"].rows) for j in range(i, spectrum["hessian"].cols)],
                      notes="No closed form: the sharpness is the largest eigenvalue of this Hessian, computed "
                            "numerically (numerics compiles the matrix and calls eigvalsh).")
    branches = spectrum["eigenvalues"]
    winners = set()
    for point in sample_points(ctx, 24):
        scores = []
        for index, (expr, multiplicity) in enumerate(branches):
            if sp.sympify(multiplicity).subs(point) <= 0:
                continue
            value = sp.N(expr.subs(point), 30)
            if value.is_real is False:
                raise DerivationError(f"Hessian eigenvalue {expr} is complex at {point}")
            scores.append((value, index))
        winners.add(max(scores)[1])
    candidates = [branches[i][0] for i in sorted(winners)]
    top = candidates[0] if len(candidates) == 1 else sp.Max(*candidates)
    return Result("sharpness", NODES["sharpness"].title, {"sharpness": top},
                  [Equation("sharpness", r"S", top)],
                  notes="Branch selected as the largest at 24 random realizable points.")


@_node("jacobian", "Jacobian of the function-space map", ("function_map",))
def jacobian(ctx: Context) -> Result:
    mapping = ctx["function_map"]["map"]
    states = ctx.state_symbols
    matrix = sp.Matrix([mapping[s] for s in states]).jacobian(states)
    matrix = matrix.applyfunc(lambda e: _present(e, ctx.spec.step))
    equations = [Equation(f"jac-{i}{j}", rf"J_{{{i + 1}{j + 1}}}", matrix[i, j])
                 for i in range(len(states)) for j in range(len(states))]
    return Result("jacobian", NODES["jacobian"].title, {"jacobian": matrix}, equations)


def roman(number: int) -> str:
    """Roman numeral of ``number`` >= 1 (fixed points are labelled I, II, ... as in the paper's figures)."""
    text = ""
    for value, symbol in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                          (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, number = divmod(number, value)
        text += symbol * count
    return text


@_node("fixed_points", "Fixed points of the map in closed form", ("function_map",))
def fixed_points(ctx: Context) -> Result:
    r"""All solutions of :math:`F(s) = s`. A solution that leaves a state variable free is a line (set) of
    fixed points; isolated solutions lying on such a line are folded into it."""
    mapping = ctx["function_map"]["map"]
    states = ctx.state_symbols
    solutions = sp.solve([mapping[s] - s for s in states], states, dict=True)
    sets = [sol for sol in solutions if len(sol) < len(states)]
    points = [sol for sol in solutions if len(sol) == len(states)]

    def on_a_set(point):
        return any(all(sp.simplify(expr.subs(point) - point[s]) == 0 for s, expr in line.items()) for line in sets)

    kept = sets + [p for p in points if not on_a_set(p)]
    free = sp.Symbol("free")  # sorts isolated points and sets deterministically (sp.nan cannot be ordered)
    kept.sort(key=lambda sol: (len(sol) < len(states), sp.default_sort_key(sp.Tuple(*[sol.get(s, free) for s in states]))))
    entries = []
    for index, solution in enumerate(kept):
        coordinates = {s: sp.factor(solution[s]) if s in solution else None for s in states}
        entries.append({"label": roman(index + 1), "coordinates": coordinates,
                        "free": [s for s in states if s not in solution]})
    equations = [Equation(f"fp-{e['label']}-{s}", rf"{_tex(s)}_{{\mathrm{{{e['label']}}}}}", c)
                 for e in entries for s, c in e["coordinates"].items() if c is not None]
    return Result("fixed_points", NODES["fixed_points"].title, {"fixed_points": entries}, equations)


def _through_radicals(operation, expr: sp.Expr) -> sp.Expr:
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


def _boundary_inequalities(mu: sp.Expr, step) -> list:
    """:math:`-1 < \\mu < 1` as solved inequalities in the step where SymPy can, else in factored form."""
    inequalities = []
    for relation in (mu - 1 < 0, mu + 1 > 0):
        try:
            solved = sp.solve_univariate_inequality(relation, step)
        except (NotImplementedError, ValueError, TypeError):
            solved = None
        if solved is None or solved.has(sp.Or) or isinstance(solved, sp.And) and len(solved.args) > 2:
            solved = type(relation)(sp.factor(relation.lhs), 0)
        if solved is not sp.true:
            inequalities.append(solved)
    return inequalities


@_node("stability", "Jacobian eigenvalues, classification and stability boundaries", ("fixed_points", "jacobian"))
def stability(ctx: Context) -> Result:
    r"""At every fixed point: eigenvalues :math:`\mu_i` of the Jacobian, the attracting region
    :math:`|\mu_i| < 1` as inequalities, and the flip (:math:`\mu = -1`) and fold (:math:`\mu = 1`) boundaries
    solved for the control parameter (:func:`control_parameter`). On a line of fixed points one eigenvalue is identically 1 (non-hyperbolic)."""
    matrix = ctx["jacobian"]["jacobian"]
    step = control_parameter(ctx)
    entries, equations = [], []
    for point in ctx["fixed_points"]["fixed_points"]:
        at_point = {s: c for s, c in point["coordinates"].items() if c is not None}
        local = matrix.subs(at_point, simultaneous=True).applyfunc(sp.factor)
        eigenvalues = []
        for mu, multiplicity in local.eigenvals().items():
            eigenvalues += [sp.factor(mu)] * multiplicity
        varying = [mu for mu in eigenvalues if mu != 1]
        neutral = len(eigenvalues) - len(varying)
        inequalities = [ineq for mu in varying for ineq in _boundary_inequalities(mu, step)]
        if sp.false in inequalities:  # an eigenvalue of constant modulus > 1
            inequalities = [sp.false]
        boundaries = []
        for mu in varying:
            for target, kind in ((-1, "flip"), (1, "fold")):
                for value in sp.solve(sp.Eq(mu, target), step):
                    if sp.im(value) == 0:  # complex values are not boundaries
                        boundaries.append({"kind": kind, "eigenvalue": mu, "parameter": step, "value": sp.factor(value)})
        label = point["label"]
        entries.append({"label": label, "eigenvalues": eigenvalues, "neutral": neutral,
                        "attracting_if": inequalities, "boundaries": boundaries,
                        "kind": "line" if point["free"] else "point"})
        equations += [Equation(f"eig-{label}-{i}", rf"\mu_{{\mathrm{{{label}}},{i + 1}}}", mu)
                      for i, mu in enumerate(eigenvalues)]
        equations += [Equation(f"stab-{label}-{i}", "", ineq, relation="") for i, ineq in enumerate(inequalities)
                      if isinstance(ineq, sp.core.relational.Relational)]
        equations += [Equation(f"{b['kind']}-{label}-{i}", rf"{_tex(step)}_{{\mathrm{{{b['kind']}}}}}", b["value"])
                      for i, b in enumerate(boundaries)]
    return Result("stability", NODES["stability"].title, {"fixed_points": entries}, equations,
                  notes="A fixed point attracts iff every listed inequality holds (|mu| < 1 for each eigenvalue).")


# --------------------------------------------------------------------------------------------------------------
# Edge of stability


@_node("eos_manifold", "Edge-of-stability manifolds: invariance and transverse dynamics",
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
        transverse = _through_radicals(sp.factor, sp.expand(relation.subs(mapping, simultaneous=True)) / relation)
        if sp.denom(transverse).has(*ctx.state_symbols):
            transverse = None
        entries.append({"name": manifold.name, "signs": signs, "multiplier": multipliers[0],
                        "relation": relation, "theta_squared": theta2_of_output, "transverse_multiplier": transverse,
                        "output": output_on, "kernel": kernel_on})
        equations.append(Equation(f"eos-{manifold.name}", "0", relation))
        if transverse is not None:
            equations.append(Equation(f"eos-transverse-{manifold.name}", r"\frac{R'}{R}", transverse))
    return Result("eos_manifold", NODES["eos_manifold"].title, {"manifolds": entries}, equations,
                  notes="R = 0 is invariant; off it, R is multiplied by the transverse multiplier at every step.")


@_node("eos_map", "Reduced cubic map on the EoS manifolds and its normal form", ("eos_manifold",), kinds=(GRAM,))
def eos_map(ctx: Context) -> Result:
    r"""On each manifold GD is :math:`\theta' = m(\theta)\,\theta`; for a sub-quadratic loss
    :math:`\tfrac12(a\theta^2 - b)^2` this is the odd cubic :math:`\theta' = a_1\theta + a_3\theta^3`, which
    :math:`\theta = s z`, :math:`s^2 = (a_1 - 1)/(-a_3)` brings to :math:`z' = (1 + k) z - k z^3`,
    :math:`k = a_1 - 1` (the period-doubling map of arXiv 2311.02076, Sec. 6)."""
    spec = ctx.spec
    entries, equations = [], []
    for manifold in ctx["eos_manifold"]["manifolds"]:
        chart_map = sp.Poly(sp.expand(manifold["multiplier"] * THETA), THETA)
        degrees = {monomial[0] for monomial in chart_map.monoms()}
        if degrees != {1, 3}:
            raise DerivationError(f"the map on {manifold['name']} is not an odd cubic in theta: degrees {sorted(degrees)}")
        a1, a3 = chart_map.coeff_monomial(THETA), chart_map.coeff_monomial(THETA ** 3)
        k_value = sp.factor(a1 - 1)
        scale_squared = sp.factor((a1 - 1) / (-a3))
        scale = sp.Symbol("s", positive=True)
        in_z = sp.expand(chart_map.as_expr().subs(THETA, scale * Z) / scale).subs(scale ** 2, scale_squared)
        if sp.expand(in_z - NORMAL_FORM.subs(K, k_value)) != 0:
            raise DerivationError(f"the map on {manifold['name']} does not reach the normal form")
        output_state = ctx.state_symbols[0]
        output_map = sp.factor(manifold["output"].subs(THETA, chart_map.as_expr()).subs(
            THETA ** 2, manifold["theta_squared"]))
        flips = [sp.factor(v) for v in sp.solve(sp.Eq(k_value, 1), spec.step)]
        conjugacy = sp.factor(manifold["theta_squared"] / scale_squared)
        entries.append({"name": manifold["name"], "k": k_value, "scale_squared": scale_squared,
                        "normal_form": NORMAL_FORM, "output_map": output_map, "z_squared": conjugacy,
                        "first_flip_step": flips})
        equations += [Equation(f"eos-k-{manifold['name']}", "k", k_value),
                      Equation(f"eos-zsq-{manifold['name']}", "z^{2}", conjugacy),
                      Equation(f"eos-fmap-{manifold['name']}", _prime(_tex(output_state)), output_map)]
        equations += [Equation(f"eos-flip-{manifold['name']}-{i}", rf"{_tex(spec.step)}_{{\mathrm{{flip}}}}", v)
                      for i, v in enumerate(flips)]
    equations.append(Equation("eos-normal-form", "z'", NORMAL_FORM))
    return Result("eos_map", NODES["eos_map"].title, {"manifolds": entries}, equations,
                  notes="The first flip of the normal form is at k = 1 (fixed points z = +-1, multiplier 1 - 2k).")


# --------------------------------------------------------------------------------------------------------------
# Minimum manifold and self-stabilisation


@_node("minima", "Zero-loss manifold, its sharpness and the self-stabilisation drift",
       ("loss", "sharpness", "jacobian", "function_map", "fixed_points", "hessian_spectrum"))
def minima(ctx: Context) -> Result:
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
    :math:`\ell\cdot t = 1`), and the sharpness by :math:`\dot S = S'(\sigma)\, c(\sigma)\,\varepsilon^2` per
    step (``sharpness_drift``). Where it is negative, a period-2 oscillation of amplitude :math:`\varepsilon` (which
    grows while :math:`S > 2/\eta`, :math:`\mu < -1`) lowers the sharpness until :math:`|\mu| < 1`; the
    oscillation then decays geometrically and the remaining drift :math:`\sum_t c\,\varepsilon_t^2` is finite,
    so GD stops at a sharpness *just below* :math:`2/\eta` (self-stabilisation; Zhu et al. ICLR 2023, Damian et
    al. 2023).
    """
    states = ctx.state_symbols
    step = ctx.spec.step
    loss_expr = ctx["loss"]["loss"]
    top = ctx["sharpness"]["sharpness"]
    matrix = ctx["jacobian"]["jacobian"]
    mapping = ctx["function_map"]["map"]
    sets, equations = [], []
    zero_loss = []
    for point in ctx["fixed_points"]["fixed_points"]:
        solution = {s: c for s, c in point["coordinates"].items() if c is not None}
        if sp.simplify(loss_expr.subs(solution, simultaneous=True)) == 0:
            zero_loss.append(solution)
    for index, solution in enumerate(zero_loss):
        free = [s for s in states if s not in solution]
        if top is not None:
            on_set = _on_set(ctx, top.subs(solution))
        else:  # no global closed form; on the set the spectrum often factors
            on_set = _top_root_on_set(ctx, solution)
        entry = {"coordinates": {s: solution.get(s) for s in states}, "free": free, "sharpness": on_set,
                 "flip_sharpness": sp.simplify(2 / step), "transverse_eigenvalues": [], "drift": None,
                 "sharpness_drift": None}
        local = matrix.subs(solution, simultaneous=True).applyfunc(sp.simplify)
        eigenvalues = local.eigenvals()
        entry["transverse_eigenvalues"] = [sp.factor(mu) for mu in eigenvalues if mu != 1]
        if len(free) == 1 and len(entry["transverse_eigenvalues"]) == 1 and on_set is not None:
            entry.update(_self_stabilisation(states, solution, free[0], local, entry["transverse_eigenvalues"][0],
                                             mapping, on_set))
        sets.append(entry)
        label = f"min-{index}"
        for s, c in solution.items():
            equations.append(Equation(f"{label}-{s}", _tex(s), c))
        if on_set is not None:
            equations.append(Equation(f"{label}-sharpness", r"S_{\min}", on_set))
        if entry["sharpness_drift"] is not None:
            equations.append(Equation(f"{label}-drift", r"\frac{\Delta S}{\varepsilon^{2}}", entry["sharpness_drift"]))
    return Result("minima", NODES["minima"].title, {"sets": sets}, equations,
                  notes="Delta S / epsilon^2: sharpness change per step per squared oscillation amplitude on the "
                        "zero-loss set; negative means the oscillation lowers the sharpness (self-stabilisation).")


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
    drift = sp.factor(sp.simplify((left.T * curvature)[0] / 2))
    return {"drift": drift, "sharpness_drift": sp.factor(sp.simplify(sp.diff(sharpness_on_set, free) * drift)),
            "tangent": tangent, "transverse_vector": right, "neutral_left_vector": left}


def _top_root_on_set(ctx: Context, solution: dict):
    """Largest closed-form Hessian eigenvalue on a fixed-point set, or ``None`` if some root has no closed form.

    The branch is the largest at 24 random values of the free coordinates and parameters, and must be so at
    all of them (else ``Max`` of the branches)."""
    hessian = ctx["hessian_spectrum"]["hessian"].subs(solution, simultaneous=True)
    if hessian.rows > MAX_FACTORED_DIMENSION:
        return None
    roots, unresolved = _closed_form_roots(hessian.charpoly(EIGENVALUE).as_expr())
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
