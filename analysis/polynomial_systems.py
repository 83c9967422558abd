r"""Every real solution of a system of equations in the state at given (exact) parameter values.

Polynomial (or rational) equations with rational or real-algebraic coefficients have a decidable answer, found by
:func:`real_solutions` (Cox, Little, O'Shea, *Ideals, Varieties, and Algorithms*, 4th ed., ch. 2-3, and
*Using Algebraic Geometry*, 2nd ed., ch. 2 §2-4):

1. The equations become polynomials over :math:`\mathbb Q`: numerators of the rational functions (points where
   a denominator vanishes are left out), and each real-algebraic coefficient :math:`\alpha` (e.g.
   :math:`\sqrt 2`) a new unknown with its minimal polynomial (only the root :math:`\alpha` is kept afterwards).
2. Known positive-dimensional solution sets (lines, curves of minima, passed as ``exclude``) are removed by the
   Rabinowitsch trick: a real point lies off a set with generators :math:`j_k` iff :math:`s = \sum_k j_k^2 \ne 0`,
   so the equation :math:`1 - t\prod s = 0` in a new unknown :math:`t` keeps exactly the real points off every
   set. A common factor of all equations (a hypersurface of solutions no set accounts for) is reported.
3. A Gröbner basis decides whether the rest is finite (zero-dimensional); each unknown's univariate eliminant
   (FGLM to lex order) gives the radical of the ideal (Seidenberg's lemma: add their square-free parts), and a
   lex basis with a separating linear form :math:`T` last is in shape position,
   :math:`\{x_i - q_i(T),\ p(T)\}` (the shape lemma). Each real root of :math:`p` gives exactly one real point,
   each non-real root a non-real point (left out: it is no fixed point of the real map).
4. The real roots of :math:`p` are isolated exactly (``Poly.real_roots``: rationals, radicals up to degree 2,
   ``CRootOf`` otherwise). Each coordinate is then written as the root of its own eliminant that it equals
   (isolating intervals are disjoint, so 60 digits decide which), and every point is verified in the original
   equations at :data:`VERIFY_DIGITS` digits.

Everything runs under a time budget (:data:`ELIMINATION_BUDGET` seconds), and only on systems whose Bezout bound
(the product of the equations' total degrees) is at most :data:`MAX_BEZOUT`. Where the equations are not polynomial
(``exp``, ``log``, trigonometric functions, non-integer powers of the state), the elimination runs out of its
budget, or a positive-dimensional set remains, :func:`numeric_solutions` searches instead (multistart Newton with
deflation over the box :math:`|s_i| \le` :data:`SEARCH_BOX`) and the result says it is not complete, and why.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Optional

import mpmath
import numpy as np
import sympy as sp

from . import environment

#: Seconds allowed to the exact elimination at one parameter point (SHARPNESS_ELIMINATION_BUDGET overrides).
ELIMINATION_BUDGET = 60.0
# Measured: (abcde - y)^2 (Bezout 59049 before the known sets are removed) eliminates in 7 s and 90 MB; the same
# loss in 8 variables (Bezout 2.6e9) took 2.9 GB in 27 s before failing.
MAX_BEZOUT = 10 ** 5
#: At most this many systems when known sets are removed one generator at a time (else a sum of squares each).
MAX_SPLITS = 64
#: Digits at which every solution is verified (residual below 10**-(VERIFY_DIGITS - 20) times the equations' scale).
VERIFY_DIGITS = 60
#: The numeric search covers |s_i| <= SEARCH_BOX in every state variable.
SEARCH_BOX = 10.0
#: Starting points per state variable of the numeric search (uniform in the box, fixed seed).
STARTS_PER_VARIABLE = 100
# Wall seconds for the numeric search; past it the search stops and its reason says after how many starts.
SEARCH_BUDGET = 5.0

EXACT_METHOD = ("exact elimination: Groebner basis, FGLM to lex order, real roots of the univariate eliminant "
                "isolated (CRootOf), back-substituted and verified at 60 digits")
NUMERIC_METHOD = (f"numeric search: multistart Newton with deflation from {STARTS_PER_VARIABLE} starts per state "
                  f"variable in the box |s_i| <= {SEARCH_BOX:g}, each point refined and verified at 50 digits")


class NotPolynomial(Exception):
    """The equations are not polynomial in the unknowns with algebraic coefficients (the message says why)."""


class EliminationFailed(Exception):
    """The exact elimination cannot decide (a positive-dimensional set remains, or no shape position found)."""


@dataclass
class RealSolutions:
    r"""The real solutions found: ``points`` (``{unknown: exact real number}`` for an exact solve, 50-digit
    ``Float`` for a search), whether the list is ``complete``, the ``method`` and the ``reason`` (why it is not
    complete, or why it is empty); ``non_real`` counts the solutions with nonzero imaginary part left out (exact
    solve only), ``surfaces`` the common factors of the equations no known set accounts for."""

    points: list
    complete: bool
    method: str
    reason: Optional[str] = None
    non_real: Optional[int] = None
    surfaces: list = field(default_factory=list)


def real_solutions(equations, unknowns, exclude=(), budget: Optional[float] = None) -> RealSolutions:
    r"""Every real solution of ``equations = 0`` (SymPy expressions in ``unknowns``, numbers elsewhere) off the
    sets ``exclude`` (each a list of expressions vanishing exactly on one set), exactly where it can be decided,
    else by :func:`numeric_solutions` (``complete=False`` with the reason). See the module docstring."""
    from .engine import _time_limit
    from .errors import DerivationTimeout

    budget = environment.seconds("SHARPNESS_ELIMINATION_BUDGET", ELIMINATION_BUDGET) if budget is None else budget
    unknowns = list(unknowns)
    try:
        with _time_limit(budget, f"the exact elimination took longer than {budget:g} s"):
            return _exact(equations, unknowns, exclude)
    except NotPolynomial as error:
        reason = f"the equations are not polynomial in the state ({error})"
    except EliminationFailed as error:
        reason = str(error)
    except DerivationTimeout:
        reason = (f"the exact elimination ran out of its budget of {budget:g} s "
                  "(SHARPNESS_ELIMINATION_BUDGET sets it)")
    return numeric_solutions(equations, unknowns, exclude, reason)


def _rationalize(value):
    """An exact number for a parameter value (a ``Float`` becomes the rational it stores)."""
    value = sp.sympify(value)
    return sp.Rational(value) if isinstance(value, sp.Float) else value


def _over_rationals(equations, unknowns) -> tuple:
    r"""``(numerators, denominators, constants)``: the equations as polynomials over :math:`\mathbb Q` in
    ``unknowns`` and one new unknown per real-algebraic coefficient (``constants``: ``{unknown: (value,
    minimal polynomial)}``). Raises :class:`NotPolynomial` where that is impossible."""
    numerators, denominators, constants = [], [], {}
    for equation in equations:
        equation = sp.sympify(equation).replace(lambda e: isinstance(e, sp.Float), _rationalize)
        numerator, denominator = sp.fraction(sp.together(equation))
        polys = []
        for part in (numerator, denominator):
            try:
                poly = sp.Poly(part, *unknowns)
            except sp.PolynomialError:
                functions = sorted({type(f).__name__ for f in part.atoms(sp.Function) if f.has(*unknowns)})
                raise NotPolynomial(", ".join(functions) if functions else
                                    "non-integer powers of the state") from None
            if not poly.domain.is_Numerical:
                coefficients = poly.coeffs()
                for coefficient in coefficients:
                    for atom in coefficient.atoms(sp.Pow, sp.Function, sp.NumberSymbol):
                        if atom.is_number and not atom.is_Rational and atom not in (c[0] for c in constants.values()):
                            if not atom.is_algebraic or atom.is_real is not True:
                                raise NotPolynomial(f"the coefficient {atom} is not a real algebraic number")
                            symbol = sp.Dummy(f"c{len(constants)}")
                            constants[symbol] = (atom, sp.minimal_polynomial(atom, symbol))
                substitution = {value: symbol for symbol, (value, _) in constants.items()}
                poly = sp.Poly(part.subs(substitution), *unknowns, *constants)
                if not poly.domain.is_Numerical:
                    raise NotPolynomial(f"coefficients in {poly.domain}")
            polys.append(poly.as_expr())
        numerators.append(polys[0])
        denominators.append(polys[1])
    return numerators, denominators, constants


def _exact(equations, unknowns, exclude) -> RealSolutions:
    numerators, denominators, constants = _over_rationals(equations, unknowns)
    gens = unknowns + list(constants)
    numerators = [n for n in numerators if n != 0]
    if not numerators:
        raise EliminationFailed("every equation vanishes identically: every state is a solution")
    bezout = math.prod(sp.Poly(n, *unknowns).total_degree() for n in numerators[:len(unknowns)])
    if len(numerators) >= len(unknowns) and bezout > MAX_BEZOUT:
        raise EliminationFailed(f"the system's Bezout bound {bezout} exceeds {MAX_BEZOUT}, the size up to which the "
                                "exact elimination is attempted (its Groebner basis can need gigabytes)")
    # A common factor of every equation vanishes on a hypersurface of solutions (positive-dimensional from two
    # unknowns on; with one unknown it is a set of points, solved below like the rest).
    common = sp.gcd_list(numerators) if len(numerators) > 1 else numerators[0]
    surfaces = [f for f, _ in sp.factor_list(common, *unknowns)[1] if f.has(*unknowns)] if len(unknowns) > 1 else []
    if not surfaces:
        common = sp.Integer(1)
    named = {value: symbol for symbol, (value, _) in constants.items()}
    exclude = [[_rational_numerator(g).subs(named) for g in generators] for generators in exclude]
    set_bases = [sp.groebner(generators, *gens, order="grevlex") for generators in exclude]
    # A hypersurface inside a known set's Zariski closure is that set (e.g. theta1 theta2 - y = 0); another one is a
    # positive-dimensional solution set the derivation did not give.
    missing = [f for f in surfaces if not any(basis.contains(f) for basis in set_bases)]
    base = [sp.cancel(n / common) for n in numerators] + [p for _, p in constants.values()]
    # Real points off every known set and off the common factor: a point is off a set iff one of its generators
    # j is nonzero there, so the union over one generator per set of {1 - t prod j = 0} (Rabinowitsch) holds
    # them all, each system small (a sum of squares of the generators in one system made the Groebner basis of
    # the UV model under Nesterov 300 times slower).
    choices = list(itertools.product(*exclude, *([f] for f in surfaces)))
    if len(choices) > MAX_SPLITS:
        choices = [tuple(sp.expand(sum(g ** 2 for g in generators)) for generators in exclude) + tuple(surfaces)]
    off_sets = bool(choices[0])
    points, non_real, any_non_real = [], 0, False
    for chosen in choices:
        system, system_gens = list(base), list(gens)
        if chosen:
            inverse = sp.Dummy("t")
            system.append(1 - inverse * sp.Mul(*chosen))
            system_gens.append(inverse)
        found, count = _zero_dimensional(system, system_gens, unknowns, constants, denominators, equations)
        non_real = count if len(choices) == 1 else None  # the same complex point can solve several systems
        any_non_real = any_non_real or count > 0
        points += [p for p in found if not any(_same(p, q) for q in points)]
    points.sort(key=lambda p: [float(sp.N(p[u], 20)) for u in unknowns])
    return _result(points, missing, None if points else _empty_reason(non_real if any_non_real else 0, off_sets),
                   non_real)


def _same(point, other) -> bool:
    """Whether two exact points are equal (at 40 digits: distinct algebraic points of one system differ far more)."""
    return all(abs(sp.N(point[u] - other[u], 40)) < sp.Float(10) ** -30 for u in point)


def _zero_dimensional(system, gens, unknowns, constants, denominators, equations) -> tuple:
    """``(real points, number of non-real solutions)`` of one polynomial system over the rationals, which must be
    zero-dimensional (:class:`EliminationFailed` otherwise); see the module docstring."""
    basis = sp.groebner(system, *gens, order="grevlex")
    if basis.exprs == [1]:
        return [], 0
    if not basis.is_zero_dimensional:
        raise EliminationFailed("a positive-dimensional set of solutions remains that is not one of the derived "
                                "sets (lines, curves)")
    eliminants = {}

    def eliminant(gen):  # the square-free univariate polynomial of the ideal in gen (FGLM to lex, gen last)
        if gen not in eliminants:
            order = [g for g in gens if g != gen] + [gen]
            lex = sp.groebner(system, *order, order="grevlex").fglm("lex")
            eliminants[gen] = sp.sqf_part(sp.Poly(lex.exprs[-1], gen)).as_expr()
        return eliminants[gen]

    # Often the ideal is radical and x_n separates its points already: one FGLM conversion gives the shape.
    shape = _shape_of(basis.fglm("lex").exprs, gens, gens[-1])
    if shape is None or sp.degree(sp.gcd(shape[2], sp.diff(shape[2], gens[-1])), gens[-1]) > 0:
        # Seidenberg: adding each unknown's square-free eliminant gives the radical; then a separating form
        shape = _shape_position(list(system) + [eliminant(g) for g in gens], gens)
    separating, coordinates, univariate = shape
    roots = sp.Poly(univariate, separating).real_roots()
    total = sp.degree(univariate, separating)
    points = []
    for root in roots:
        point = {}
        for gen in [*unknowns, *constants]:
            value = sp.expand(coordinates[gen].subs(separating, root))
            # A rational or radical value stays as it is; one through a CRootOf is written as the root of its
            # own eliminant (a CRootOf of the coordinate's polynomial, not a polynomial in another root).
            point[gen] = _coordinate(value, eliminant(gen), gen) if value.has(sp.CRootOf) else value
        if any(abs(sp.N(point[c] - value, 40)) > sp.Float(10) ** -30 for c, (value, _) in constants.items()):
            continue  # another root of an algebraic coefficient's minimal polynomial
        values = {u: point[u] for u in unknowns}
        if any(abs(sp.N(d.subs(values), 40)) < sp.Float(10) ** -30 for d in denominators):
            continue  # a pole of the map, not a point of it
        _verify(equations, values)
        points.append(values)
    return points, int(total) - len(roots)


def _result(points, missing, reason, non_real) -> RealSolutions:
    """The exact result; complete unless a hypersurface of solutions is not among the known sets."""
    if missing:
        return RealSolutions(points, False, EXACT_METHOD, "the solutions include the hypersurface(s) "
                             + ", ".join(f"{sp.sstr(f)} = 0" for f in missing) + ", which the derivation does not "
                             "list as sets of fixed points; only the isolated points off them are listed",
                             non_real, missing)
    return RealSolutions(points, True, EXACT_METHOD, reason, non_real)


def _rational_numerator(expression):
    """The numerator of ``expression`` with every ``Float`` made the rational it stores."""
    return sp.numer(sp.together(sp.sympify(expression).replace(lambda e: isinstance(e, sp.Float), _rationalize)))


def _empty_reason(total, off_sets: bool) -> str:
    """Why an exact solve found no real point (``total``: the number of non-real solutions, ``None`` if unknown)."""
    where = " off the sets of fixed points listed" if off_sets else ""
    if total == 0:  # (None: several systems, each with non-real solutions, which may coincide)
        return f"the equations have no common solution{where} (Groebner basis {{1}})"
    count = f"all {total}" if total else "all"
    return (f"no real solution{where}: {count} solutions have nonzero imaginary part (real roots of the "
            "univariate eliminants counted exactly)")


def _shape_position(polys, gens) -> tuple:
    r"""``(T, {gen: q_gen(T)}, p(T))`` with the radical zero-dimensional ideal of ``polys`` in shape position:
    its lex basis with the separating form :math:`T = x_n + c x_{n-1} + c^2 x_{n-2} + \dots` last is
    :math:`\{x_i - q_i(T), p(T)\}`. Tries :math:`T = x_n` first, then :math:`c = 1, 2, \dots` (only finitely many
    :math:`c` fail to separate the points)."""
    for c in range(0, 12):
        if c == 0:
            separating, system, order = gens[-1], polys, gens
        else:
            separating = sp.Dummy("T")
            form = sum(c ** k * g for k, g in enumerate(reversed(gens)))
            system, order = list(polys) + [separating - form], list(gens) + [separating]
        shape = _shape_of(sp.groebner(system, *order, order="grevlex").fglm("lex").exprs, gens, separating)
        if shape is not None:
            return shape
    raise EliminationFailed("no separating linear form found for the shape lemma")


def _shape_of(lex, gens, separating):
    r"""``(T, {gen: q_gen(T)}, p(T))`` if the reduced lex basis ``lex`` is :math:`\{x_i - q_i(T), p(T)\}`, else
    ``None``."""
    univariate = [e for e in lex if e.free_symbols <= {separating}]
    if len(univariate) != 1:
        return None
    coordinates = {separating: separating} if separating in gens else {}
    for gen in gens:
        if gen == separating:
            continue
        linear = [e for e in lex if e.has(gen) and e.free_symbols <= {gen, separating}
                  and sp.degree(e, gen) == 1 and sp.Poly(e, gen).LC().is_number]
        if not linear:
            return None
        poly = sp.Poly(linear[0], gen)
        coordinates[gen] = sp.expand(-poly.nth(0) / poly.LC())
    return separating, coordinates, univariate[0]


def _coordinate(value, eliminant, gen):
    """``value`` (an exact real algebraic number) as the real root of ``eliminant`` (square-free, in ``gen``) that
    it equals: the isolating intervals of its real roots are disjoint, so the nearest at 60 digits is it, provided
    the second nearest is far (else ``value`` is kept as it is)."""
    approx = sp.N(value, VERIFY_DIGITS)
    candidates = sp.Poly(eliminant, gen).real_roots()
    if not candidates:
        return sp.nsimplify(value) if value.is_Rational else value
    distances = sorted((abs(sp.N(r, VERIFY_DIGITS) - approx), i) for i, r in enumerate(candidates))
    if distances[0][0] < sp.Float(10) ** -40 and (len(distances) == 1 or distances[1][0] > sp.Float(10) ** -20):
        return candidates[distances[0][1]]
    return value


def _verify(equations, values) -> None:
    """Raise if ``values`` does not solve ``equations`` at :data:`VERIFY_DIGITS` digits (it must: the points come
    from an exact elimination; this guards the construction)."""
    for equation in equations:
        residual = sp.N(sp.sympify(equation).subs(values), VERIFY_DIGITS)
        if abs(residual) > sp.Float(10) ** -(VERIFY_DIGITS - 20):
            raise EliminationFailed(f"a point of the elimination failed its verification (residual {residual:.3e})")


def numeric_solutions(equations, unknowns, exclude=(), reason: str = "") -> RealSolutions:
    r"""Real solutions found by Newton's method with deflation (Farrell, Birkisson, Funke, *Deflation techniques
    for finding distinct solutions of nonlinear partial differential equations*, SIAM J. Sci. Comput. 37 (2015)):
    from :data:`STARTS_PER_VARIABLE` starts per unknown, uniform in :math:`|s_i| \le` :data:`SEARCH_BOX` (fixed
    seed), Newton on :math:`M(s) F(s)` with :math:`M(s) = \prod_k (\|s - s_k\|^{-2} + 1)` over the solutions
    :math:`s_k` already found, so that no start converges to a known one again. Each point is refined by
    ``mpmath.findroot`` at 50 digits and kept if its residual is below :math:`10^{-40}`, it lies off the sets
    ``exclude`` and its Jacobian is nonsingular (a singular one marks a point of a set of solutions, which a
    search cannot delimit). Never complete: ``reason`` says why a search was needed."""
    unknowns = list(unknowns)
    count = len(unknowns)
    expressions = [sp.sympify(e) for e in equations]
    jacobian = sp.Matrix(expressions).jacobian(unknowns)
    residual_np = sp.lambdify(unknowns, expressions, "numpy")
    jacobian_np = sp.lambdify(unknowns, jacobian, "numpy")
    residual_mp = sp.lambdify(unknowns, expressions, "mpmath")
    jacobian_mp = sp.lambdify(unknowns, jacobian, "mpmath")
    sets = [sp.lambdify(unknowns, list(g), "mpmath") for g in exclude]
    rng = np.random.default_rng(0)
    starts = rng.uniform(-SEARCH_BOX, SEARCH_BOX, size=(STARTS_PER_VARIABLE * count, count))
    found, singular = [], 0
    search_budget = environment.seconds("SHARPNESS_SEARCH_BUDGET", SEARCH_BUDGET)
    deadline, stopped = time.monotonic() + search_budget, ""
    for tried, start in enumerate(starts):
        if time.monotonic() > deadline:
            stopped = (f"; the search stopped after {tried} of {len(starts)} starts (its budget of {search_budget:g} s; "
                       "SHARPNESS_SEARCH_BUDGET sets it)")
            break
        x = _deflated_newton(residual_np, jacobian_np, start, [np.array([float(c) for c in p]) for p in found])
        if x is None:
            continue
        with np.errstate(all="ignore"):
            condition = np.linalg.cond(np.array(jacobian_np(*x), dtype=float))
        if not condition < 1e8:  # near a set of solutions (a null direction along it): the 50-digit test
            singular += 1         # below would say so too, at ~1 s a point in 8 unknowns
            continue
        with mpmath.workdps(50):
            try:
                refined = mpmath.findroot(lambda *s: residual_mp(*s), [mpmath.mpf(v) for v in x],
                                          J=lambda *s: mpmath.matrix(jacobian_mp(*s)), tol=mpmath.mpf(10) ** -90,
                                          maxsteps=12)  # quadratic from 1e-10: ~4 steps at a simple root
            except (ValueError, ZeroDivisionError):
                continue
            point = [refined[i] for i in range(count)] if isinstance(refined, mpmath.matrix) else [refined]
            if max(abs(r) for r in residual_mp(*point)) > mpmath.mpf(10) ** -40:
                continue
            if any(max(abs(p - q) for p, q in zip(point, other)) < mpmath.mpf(10) ** -20 for other in found):
                continue
            if any(all(abs(g) < mpmath.mpf(10) ** -30 for g in on_set(*point)) for on_set in sets):
                continue
            if abs(mpmath.det(mpmath.matrix(jacobian_mp(*point)))) < mpmath.mpf(10) ** -30:
                singular += 1
                continue
            if max(abs(p) for p in point) > 1.5 * SEARCH_BOX:
                continue
            found.append(point)
    # Verified to a residual of 1e-40: a coordinate below that is zero as far as the search can tell.
    points = [{u: sp.Float(v, 50) if abs(v) > mpmath.mpf(10) ** -40 else sp.Integer(0) for u, v in zip(unknowns, p)}
              for p in found]
    points.sort(key=lambda p: [float(p[u]) for u in unknowns])
    note = (f"; {singular} point(s) with a singular Jacobian (on a set of solutions) left out" if singular else "")
    return RealSolutions(points, False, NUMERIC_METHOD, (reason or "no exact method applies") + note + stopped)


def _deflated_newton(residual, jacobian, start, known, steps: int = 60):
    """Newton's method on the deflated residual from ``start``; the point where the residual is below 1e-10, or
    ``None``."""
    x = np.array(start, dtype=float)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            f = np.asarray(residual(*x), dtype=float).ravel()
            if not np.all(np.isfinite(f)):
                return None
            if np.max(np.abs(f)) < 1e-10:
                return x
            j = np.asarray(jacobian(*x), dtype=float).reshape(len(x), len(x))
            factor, gradient = 1.0, np.zeros(len(x))
            for k in known:  # M = prod_k (1/|x - k|^2 + 1); grad log M for the product rule
                d = x - k
                r2 = float(d @ d)
                if r2 == 0:
                    return None
                term = 1.0 / r2 + 1.0
                factor *= term
                gradient += (-2.0 * d / r2 ** 2) / term
            # d(M F) = M (J + F grad(log M)^T)
            matrix = factor * (j + np.outer(f, gradient))
            try:
                step = np.linalg.solve(matrix, -factor * f)
            except np.linalg.LinAlgError:
                return None
            if not np.all(np.isfinite(step)):
                return None
            x = x + step
            if np.max(np.abs(x)) > 1e3 * SEARCH_BOX:
                return None
    return None
