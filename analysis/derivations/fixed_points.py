r"""Fixed points of the map in closed form, and their Jacobian stability."""
from __future__ import annotations

import sympy as sp

from ..errors import DerivationError

from .common import tex, control_parameter, roman, through_radicals
from .graph import COORDINATE, Context, Equation, kind_of, node
from .records import FixedPointSolution, FixedPointStability, StabilityBoundary
from .results import FixedPoints, Stability
from .spectrum import solve_multiplier


@node("fixed_points", "Fixed points of the map in closed form", ("function_map",))
def fixed_points(ctx: Context) -> FixedPoints:
    r"""All solutions of :math:`F(s) = s`. A solution that leaves a state variable free is a line (set) of
    fixed points; isolated solutions lying on such a line are folded into it."""
    mapping = ctx["function_map"].images
    states = ctx.state_symbols
    notes = ("Closed forms SymPy finds, with the parameters free; they need not be all. `fixed-points` (and "
             "fixed_points_at) finds every real fixed point at given parameter values by exact elimination, or says "
             "that its list is not complete.")
    if ctx.spec.optimizer == "adam":
        return FixedPoints([], equations=[], notes=(
            "Adam's map moves its step counter (t' = t + 1), so it has no fixed points. Its stability at a minimum "
            "is that of the frozen-preconditioner map (analysis.optimizers.frozen_adam_update): stable while the "
            "preconditioned sharpness stays below the threshold (2 + 2 beta1)/((1 - beta1) eta)."))
    try:
        if ctx.spec.optimizer != "gd":
            solutions = _momentum_solutions(ctx)
        else:
            solutions = sp.solve([mapping[s] - s for s in states], states, dict=True)
    except NotImplementedError as error:  # e.g. transcendental equations SymPy has no method for
        solutions = []
        notes = (f"The fixed-point equations F(s) = s have no closed-form solution SymPy can find "
                 f"({error})".splitlines()[0] + "; `fixed-points` searches at given parameter values and says "
                 "whether its list is complete.")
    sets = []
    for sol in solutions:  # sympy.solve can return one family twice (product of depth 3)
        if len(sol) < len(states) and not any(sol.keys() == other.keys() and all(
                sp.simplify(sol[s] - other[s]) == 0 for s in sol) for other in sets):
            sets.append(sol)
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
    return FixedPoints(entries, equations=equations, notes=notes)


def _momentum_solutions(ctx: Context) -> list:
    r"""Fixed points of a momentum map (:mod:`analysis.optimizers`).

    Coordinate models: :math:`v' = v` gives :math:`\nabla L = (1 - \beta) v`, then :math:`\theta' = \theta`
    gives :math:`(c_g (1 - \beta) + c_v) v = 0`, and :math:`c_g(1 - \beta) + c_v = 1` for heavy-ball and Nesterov
    (checked here), so :math:`v = 0` and :math:`\nabla L = 0`: the critical points of the loss.

    Gram models: the map is affine in the velocity states (checked); the velocity equations are solved for them
    (linear, :math:`A(s) V = b(s)`), substituted into the remaining equations, whose factors are solved one
    at a time; each candidate is checked in the full system at three random rational parameter points at 60
    digits (residual below 1e-45; a symbolic simplification of the residuals takes SymPy minutes). Points where :math:`\det A = 0` are not
    searched (the notes say so).
    """
    import random

    from ..optimizers import step_coefficients

    spec = ctx.spec
    mapping = ctx["function_map"].images
    states = ctx.state_symbols
    if kind_of(spec) == COORDINATE:
        c_g, c_v = step_coefficients(spec.optimizer, spec.momentum)
        if sp.simplify(c_g * (1 - spec.momentum) + c_v - 1) != 0:
            raise DerivationError(f"{spec.optimizer}: a fixed point need not have zero velocity")
        coordinates = [s.symbol for s in spec.coordinates]
        critical = sp.solve([sp.diff(spec.loss, s) for s in coordinates], coordinates, dict=True)
        return [{**c, **{v.symbol: sp.Integer(0) for v in spec.velocity}} for c in critical]
    base = states[:len(states) // 3]
    velocity = states[len(base):]
    equations = [sp.expand(mapping[s] - s) for s in states]
    if any(sp.degree(e, v) > 1 for e in equations for v in velocity):
        raise NotImplementedError("the momentum map is not affine in the velocity states")
    matrix, rhs = sp.linear_eq_to_matrix(equations[len(base):], velocity)
    determinant = sp.factor(matrix.det())
    solved = matrix.LUsolve(rhs).applyfunc(sp.factor)
    rest = [sp.factor(sp.numer(sp.together(e.subs(dict(zip(velocity, solved)), simultaneous=True))))
            for e in equations[:len(base)]]
    rng = random.Random(7)
    parameters = sorted(set().union(*(e.free_symbols for e in equations)) - set(states), key=str)
    checks = [{p: sp.Rational(rng.randint(5, 95), 100) if p == spec.momentum else sp.Rational(rng.randint(101, 400), 100)
               for p in parameters} for _ in range(3)]
    verified = []
    for partial in _solve_factored(rest, base):
        if sp.simplify(determinant.subs(partial)) == 0:
            continue
        partial = {b: through_radicals(sp.factor, e) for b, e in partial.items()}
        point = {**partial, **{v: through_radicals(sp.factor, e.subs(partial)) for v, e in zip(velocity, solved)}}
        exact = all(abs(sp.N(e.subs(point, simultaneous=True).subs(values), 60)) < sp.Float(10) ** -45
                    for values in checks for e in equations)
        if exact and point not in verified:
            verified.append(point)
    return verified


def _solve_factored(equations, unknowns) -> list:
    """``solve(equations, unknowns)`` one factor of each equation at a time (each equation is a product)."""
    import itertools

    factor_lists = [[f for f, _ in sp.factor_list(e)[1] if f.has(*unknowns)] or [e] for e in equations]
    solutions = []
    for choice in itertools.product(*factor_lists):
        for solution in _solve_by_elimination(list(choice), unknowns):
            if solution not in solutions:
                solutions.append(solution)
    return solutions


def _solve_by_elimination(equations, unknowns) -> list:
    r"""Candidate solutions of polynomial ``equations`` by elimination (a superset: the caller verifies each).

    With two or more equations in two or more unknowns, the unknown :math:`z` of lowest degree is eliminated:
    :math:`\operatorname{Res}_z(p_1, p_j) = 0` for :math:`j > 1` is solved (factor by factor) for the other
    unknowns, and :math:`z` from the equations at each partial solution. The resultant vanishes wherever the
    system does, so no solution is lost; it also vanishes where both leading coefficients do, whence the
    verification. This replaces ``sympy.solve`` on the whole system, whose Groebner basis over the parameters did
    not finish in 15 minutes on the UV model under Nesterov; a common factor (zero resultant) falls back to it.
    """
    # one copy of each equation up to sign (two copies have a zero resultant and would fall back to solve)
    equations = list(dict.fromkeys(-e if e.could_extract_minus_sign() else e for e in equations if e.has(*unknowns)))
    if len(equations) < 2 or len(unknowns) < 2:
        # check=False: SymPy's own check of each solution (expanding the residuals) is most of the time here
        return sp.solve(equations, unknowns, dict=True, check=False)
    target = min(unknowns, key=lambda u: (max(sp.degree(e, u) for e in equations) or sp.oo, str(u)))
    pivot = next(e for e in equations if e.has(target))
    eliminated = []
    for other in equations:
        if other is pivot:
            continue
        reduced = sp.resultant(pivot, other, target) if other.has(target) else other
        if sp.expand(reduced) == 0:
            return sp.solve(equations, unknowns, dict=True, check=False)
        eliminated.append(reduced)
    solutions = []
    for partial in _solve_factored(eliminated, [u for u in unknowns if u != target]):
        remaining = [r for r in (sp.factor(e.subs(partial)) for e in equations) if r != 0]
        if not remaining:
            solutions.append(partial)
            continue
        lowest = min((r for r in remaining if r.has(target)), key=lambda r: sp.degree(r, target), default=None)
        if lowest is None:  # a spurious root of the resultant: some equation is a nonzero constant there
            continue
        solutions += [{**partial, target: value} for value in sp.solve(lowest, target, check=False)]
    return solutions


def _momentum_gram_stability(ctx: Context, matrix: sp.Matrix, at_point: dict, step) -> tuple:
    r"""Eigenvalues and flip/fold boundaries at a fixed point of a Gram model's momentum map.

    The :math:`3k`-dimensional Jacobian's eigenvalues are not asked of ``eigenvals`` (minutes to hours on the
    radicals of the UV model); instead its characteristic polynomial is formed with every positive parameter
    :math:`p` written :math:`m_p^2` (so :math:`\sqrt n` is the symbol :math:`m_n`), factored, and the roots of its
    factors of degree at most 2 taken in closed form (:math:`m_p \to \sqrt p` afterwards); the roots of an
    irreducible factor of higher degree are :class:`~analysis.derivations.spectrum.PolynomialRoot` objects, exact
    and evaluated numerically once the parameters are numbers. The flip (fold) boundary of a factor :math:`q` is
    where :math:`q(-1) = 0` (:math:`q(1) = 0`), solved for the step, in closed form for every factor."""
    from .common import EIGENVALUE, characteristic_polynomial
    from .spectrum import PolynomialRoot, closed_form_roots

    positive = sorted((s for s in matrix.free_symbols | set().union(*(sp.sympify(c).free_symbols
                                                                      for c in at_point.values()))
                       if s.is_positive and s not in at_point), key=str)
    roots = {p: sp.Symbol(f"_{p.name}_root", positive=True) for p in positive}
    squared = {p: r ** 2 for p, r in roots.items()}
    back = {r: sp.sqrt(p) for p, r in roots.items()}

    def rational(e):
        return sp.cancel(sp.powsimp(sp.sympify(e).subs(squared), force=True))

    local = matrix.subs({s: rational(c) for s, c in at_point.items()}, simultaneous=True).subs(squared)
    local = local.applyfunc(sp.cancel)
    polynomial = characteristic_polynomial(local)
    eigenvalues, unresolved = closed_form_roots(sp.cancel(polynomial))
    values = []
    for mu, multiplicity in eigenvalues:
        values += [sp.factor(mu.subs(back))] * multiplicity
    for factor, multiplicity in unresolved:  # e.g. the cubic at Nesterov's points f = y -+ (1 - beta)/(beta eta kappa)
        factor = sp.expand(factor.subs(back))
        values += [PolynomialRoot(factor, k) for k in range(sp.degree(factor, EIGENVALUE))] * multiplicity
    boundaries = []
    numerator = sp.numer(sp.together(polynomial))
    for factor, _ in sp.factor_list(numerator, EIGENVALUE)[1]:
        if factor.has(EIGENVALUE):
            # the step, or m_step where the step is written m_step^2
            boundaries += _characteristic_boundaries(factor, EIGENVALUE, step, roots.get(step, step), back)
    return values, boundaries


def _characteristic_boundaries(factor, spectral, step, unknown=None, back=None) -> list:
    """Flip (:math:`q(-1) = 0`) and fold (:math:`q(1) = 0`) boundaries of one factor :math:`q` of a characteristic
    polynomial in ``spectral``, solved for the step, or for ``unknown`` :math:`= m` where the step is :math:`m^2`
    (the other positive parameters written as squares too, ``back`` restoring them). Complex values, repeats and,
    for a positive step, values that are not positive are no boundaries."""
    unknown = step if unknown is None else unknown
    boundaries = []
    for target, kind in ((-1, "flip"), (1, "fold")):
        condition = sp.factor(factor.subs(spectral, target))
        if condition == 0 or not condition.has(unknown):
            continue
        found = []
        for value in sp.solve(condition, unknown):
            value = sp.factor(sp.sympify(value).subs(back or {}))
            if unknown != step:
                value = sp.factor(value ** 2)  # m = -+r give one step r^2
            if sp.im(value) != 0 or value in found or step.is_positive and (value.is_positive is False or value.is_zero):
                continue
            found.append(value)
            boundaries.append(StabilityBoundary(kind, factor.subs(back or {}), step, value))
    return boundaries


def _boundary_inequalities(mu: sp.Expr, step) -> list:
    """:math:`-1 < \\mu < 1` as solved inequalities in the step where SymPy can, else in factored form."""
    return [i for i in (_solved_inequality(mu - 1 < 0, step), _solved_inequality(mu + 1 > 0, step)) if i is not sp.true]


def _solved_inequality(relation, step):
    """``relation`` solved for the step where SymPy gives a single interval, else in factored form."""
    try:
        solved = sp.solve_univariate_inequality(relation, step)
    except (NotImplementedError, ValueError, TypeError):
        solved = None
    if solved is None or solved.has(sp.Or) or isinstance(solved, sp.And) and len(solved.args) > 2:
        solved = type(relation)(sp.factor(relation.lhs), 0)
    return solved


def _momentum_coordinate_stability(ctx: Context, at_point: dict, step, on_a_set: bool) -> tuple:
    r"""Multipliers, attraction conditions and flip/fold boundaries at a fixed point of a coordinate model's
    momentum map: ``(eigenvalues, inequalities, boundaries)``.

    Every such fixed point is a critical point with zero velocity (:func:`_momentum_solutions`). There, for each
    eigenvector :math:`e` of the Hessian in the learning-rate metric, :math:`s\nabla^2 L\, e = h e`, the plane
    :math:`(\theta, v) = (\alpha e, \gamma e / s)` is invariant and the Jacobian acts on it as the optimizer's
    one-step matrix on the quadratic of curvature :math:`h` (:func:`analysis.optimizers.one_step_matrix`). So the
    :math:`2d` multipliers are the roots of :math:`\chi(\mu; a = h)` for the :math:`d` Hessian eigenvalues, and
    (Jury's criterion, :math:`0 \le \beta < 1`) the point attracts iff :math:`0 < h < a^\ast` for each
    :math:`h`, with :math:`a^\ast` the optimizer's threshold (:func:`analysis.optimizers.model_threshold`). This
    replaces the eigenvalues of the symbolic :math:`2d \times 2d` Jacobian, which took SymPy more than 300 s on
    ``two-input``; the tests compare both at 60 digits."""
    from ..optimizers import BETA, CURVATURE, ETA, MULTIPLIER, characteristic_polynomial, model_threshold

    spec = ctx.spec
    coordinates = [c.symbol for c in spec.coordinates]
    curvature = (spec.lr_scale * sp.hessian(spec.loss, coordinates)).subs(at_point, simultaneous=True)
    chi = characteristic_polynomial(spec.optimizer).subs({ETA: spec.step, BETA: spec.momentum}, simultaneous=True)
    threshold = model_threshold(spec)
    eigenvalues, inequalities, boundaries = [], [], []
    for h, multiplicity in curvature.applyfunc(sp.factor).eigenvals().items():
        h = sp.factor(h)
        local = sp.expand(chi.subs(CURVATURE, h))
        for mu, count in sp.roots(sp.Poly(local, MULTIPLIER)).items():
            eigenvalues += [sp.factor(mu)] * (count * multiplicity)
        if h != 0 or not on_a_set:  # h = 0 along a set: its neutral direction (multiplier 1), not a condition
            inequalities += [i for i in (_solved_inequality(h > 0, step), _solved_inequality(h - threshold < 0, step))
                             if i is not sp.true]
        boundaries += _characteristic_boundaries(local, MULTIPLIER, step)
    if sp.false in inequalities:
        inequalities = [sp.false]
    return eigenvalues, inequalities, boundaries


@node("stability", "Jacobian eigenvalues, classification and stability boundaries", ("fixed_points", "jacobian"))
def stability(ctx: Context) -> Stability:
    r"""At every fixed point: eigenvalues :math:`\mu_i` of the Jacobian, the attracting region
    :math:`|\mu_i| < 1` as inequalities, and the flip (:math:`\mu = -1`) and fold (:math:`\mu = 1`) boundaries
    solved for the control parameter (:func:`control_parameter`). On a line of fixed points one eigenvalue is identically 1 (non-hyperbolic)."""
    matrix = ctx["jacobian"].matrix
    step = control_parameter(ctx)
    entries, equations = [], []
    for point in ctx["fixed_points"].solutions:
        at_point = {s: c for s, c in point.coordinates.items() if c is not None}
        if ctx.spec.optimizer != "gd" and kind_of(ctx.spec) != COORDINATE:
            eigenvalues, boundaries = _momentum_gram_stability(ctx, matrix, at_point, step)
            varying = [mu for mu in eigenvalues if mu != 1]
            neutral = len(eigenvalues) - len(varying)
            inequalities = None  # |mu| < 1 on nested radicals is beyond SymPy's inequality solver; see the notes
        elif ctx.spec.optimizer != "gd":
            eigenvalues, inequalities, boundaries = _momentum_coordinate_stability(ctx, at_point, step,
                                                                                   bool(point.free))
            neutral = sum(1 for mu in eigenvalues if mu == 1)
        else:
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
                    for value in solve_multiplier(mu, target, step):
                        if sp.im(value) == 0:  # complex values are not boundaries
                            boundaries.append(StabilityBoundary(kind, mu, step, sp.factor(value)))
        label = point.label
        entries.append(FixedPointStability(label, eigenvalues, neutral, inequalities, boundaries,
                                           "line" if point.free else "point"))
        equations += [Equation(f"eig-{label}-{i}", rf"\mu_{{\mathrm{{{label}}},{i + 1}}}", mu)
                      for i, mu in enumerate(eigenvalues)]
        equations += [Equation(f"stab-{label}-{i}", "", ineq, relation="") for i, ineq in enumerate(inequalities or [])
                      if isinstance(ineq, sp.core.relational.Relational)]
        equations += [Equation(f"{b.kind}-{label}-{i}", rf"{tex(step)}_{{\mathrm{{{b.kind}}}}}", b.value)
                      for i, b in enumerate(boundaries)]
    notes = "A fixed point attracts iff every listed inequality holds (|mu| < 1 for each eigenvalue)."
    if ctx.spec.optimizer != "gd" and kind_of(ctx.spec) != COORDINATE:
        notes = ("The attraction conditions |mu| < 1 are not solved as inequalities here (nested radicals and "
                 "roots of cubics); a point is classified from its eigenvalues at given parameter values "
                 "(fixed_points_at, `sharpness fixed-points`), and the flip and fold boundaries are listed.")
    return Stability(entries, equations=equations, notes=notes)

