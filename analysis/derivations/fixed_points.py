r"""Fixed points of the map in closed form, and their Jacobian stability."""
from __future__ import annotations

import sympy as sp

from ..errors import DerivationError

from .common import tex, control_parameter, roman
from .graph import NODES, Context, Equation, Result, node
from .records import FixedPointSolution, FixedPointStability, StabilityBoundary


@node("fixed_points", "Fixed points of the map in closed form", ("function_map",))
def fixed_points(ctx: Context) -> Result:
    r"""All solutions of :math:`F(s) = s`. A solution that leaves a state variable free is a line (set) of
    fixed points; isolated solutions lying on such a line are folded into it."""
    mapping = ctx["function_map"]["map"]
    states = ctx.state_symbols
    try:
        solutions = sp.solve([mapping[s] - s for s in states], states, dict=True)
    except NotImplementedError as error:  # e.g. transcendental equations SymPy has no method for
        raise DerivationError(f"the fixed-point equations F(s) = s have no closed-form solution SymPy can find "
                              f"({error})".splitlines()[0]) from None
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
        entries.append(FixedPointSolution(roman(index + 1), coordinates, [s for s in states if s not in solution]))
    equations = [Equation(f"fp-{e.label}-{s}", rf"{tex(s)}_{{\mathrm{{{e.label}}}}}", c)
                 for e in entries for s, c in e.coordinates.items() if c is not None]
    return Result("fixed_points", NODES["fixed_points"].title, {"fixed_points": entries}, equations)


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


@node("stability", "Jacobian eigenvalues, classification and stability boundaries", ("fixed_points", "jacobian"))
def stability(ctx: Context) -> Result:
    r"""At every fixed point: eigenvalues :math:`\mu_i` of the Jacobian, the attracting region
    :math:`|\mu_i| < 1` as inequalities, and the flip (:math:`\mu = -1`) and fold (:math:`\mu = 1`) boundaries
    solved for the control parameter (:func:`control_parameter`). On a line of fixed points one eigenvalue is identically 1 (non-hyperbolic)."""
    matrix = ctx["jacobian"]["jacobian"]
    step = control_parameter(ctx)
    entries, equations = [], []
    for point in ctx["fixed_points"]["fixed_points"]:
        at_point = {s: c for s, c in point.coordinates.items() if c is not None}
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
                        boundaries.append(StabilityBoundary(kind, mu, step, sp.factor(value)))
        label = point.label
        entries.append(FixedPointStability(label, eigenvalues, neutral, inequalities, boundaries,
                                           "line" if point.free else "point"))
        equations += [Equation(f"eig-{label}-{i}", rf"\mu_{{\mathrm{{{label}}},{i + 1}}}", mu)
                      for i, mu in enumerate(eigenvalues)]
        equations += [Equation(f"stab-{label}-{i}", "", ineq, relation="") for i, ineq in enumerate(inequalities)
                      if isinstance(ineq, sp.core.relational.Relational)]
        equations += [Equation(f"{b.kind}-{label}-{i}", rf"{tex(step)}_{{\mathrm{{{b.kind}}}}}", b.value)
                      for i, b in enumerate(boundaries)]
    return Result("stability", NODES["stability"].title, {"fixed_points": entries}, equations,
                  notes="A fixed point attracts iff every listed inequality holds (|mu| < 1 for each eigenvalue).")

