r"""The period-doubling cascade: flip bifurcations of periodic orbits and the Feigenbaum constant.

A flip of a period-:math:`p` orbit at parameter :math:`P` solves

.. math:: F_P^{\,p}(s) - s = 0, \qquad \det\bigl(DF_P^{\,p}(s) + I\bigr) = 0

(a Floquet multiplier equal to -1). Each flip is found by Newton's method on these :math:`d + 1` equations in
:math:`(s, P)`, first in float64 with the compiled map and Jacobian (the continuation engine, :func:`_switch_and_trace`),
then refined in mpmath at ``digits`` significant digits with the generated mpmath kernels. The first flip comes
from the derived stability result (:func:`analysis.derivations.fixed_points.stability`), exactly; each next one is guessed
from the previous ratio (:math:`\delta \approx 4.67`) or, for the second, by following the attracting orbit
until its multiplier crosses -1. Successive ratios
:math:`\delta_j = (P_j - P_{j-1})/(P_{j+1} - P_j)` estimate Feigenbaum's :math:`\delta = 4.669201609\ldots`
(Feigenbaum 1978).
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from analysis.errors import UserInputError
from analysis.derivations.spectrum import solve_multiplier
from analysis.values import to_count, to_number, value_mapping

from .branches.derivatives import NORMALISATION, flip_coefficient, kernels
from .branches.engine import MAX_POINTS, _make_point, _OrbitSystem, _trace, flip_criticality, genuine_special
from .branches.one_parameter import _switch
from .feigenbaum import aitken, alpha_correct_digits, alpha_estimates, correct_digits

MAX_DOUBLINGS = 18  # period 2^17: each mpmath Newton step then iterates 131,072 steps at 40+ digits
MAX_DIGITS = 300
LOWEST_FLIP = "the lowest flip"  # the default choice among several flipping fixed points
CRITICAL_MULTIPLIER = 1e-6  # a multiplier this close to -1 at a located flip counts as critical



def _return_map_mp(compiled, state, params, period):
    """:math:`F^p(s)` and :math:`DF^p(s)` in mpmath at the current working precision."""
    d = compiled.dimension
    state = list(state)
    product = mpmath.eye(d)
    for _ in range(period):
        flat = compiled.jacobian_mpmath(*state, *params)
        product = mpmath.matrix([[flat[a * d + b] for b in range(d)] for a in range(d)]) * product
        state = list(compiled.step_mpmath(*state, *params))
    return state, product


def _residual_mp(compiled, unknowns, params, index, period):
    d = compiled.dimension
    p = list(params)
    p[index] = unknowns[d]
    image, product = _return_map_mp(compiled, unknowns[:d], p, period)
    return [image[i] - unknowns[i] for i in range(d)] + [mpmath.det(product + mpmath.eye(d))]


def _newton_mp(compiled, guess, exact_params, index, period, digits):
    """Newton in mpmath on the flip system (module docstring) at ``digits + 10`` digits; the Jacobian by forward
    differences with step 10^(-(digits+10)/2) (so each step gains about digits/2 digits at least, quadratically
    until that). ``exact_params`` are SymPy numbers, so that the fixed parameters are not rounded to float64;
    ``guess`` may hold mpmath numbers (deep in a cascade a float64 guess is too coarse).

    Returns ``(solution, correction)``: ``correction`` is the last Newton step in the parameter (the larger of
    the last two if the iteration did not meet its tolerance). Once the iteration contracts (by a factor below
    1/2 per step) the remaining error is below the last step, so ``correction`` bounds the error; when round-off
    in the long orbit stops the convergence, the steps stay at the noise level and ``correction`` measures it."""
    d = compiled.dimension
    with mpmath.workdps(digits + 10):
        x = mpmath.matrix([mpmath.mpf(v) for v in guess])
        p = [mpmath.mpf(sp.N(v, digits + 10)) for v in exact_params]
        tolerance = mpmath.mpf(10) ** (-digits - 2)
        steps = [mpmath.inf]
        for _ in range(30):
            r = mpmath.matrix(_residual_mp(compiled, x, p, index, period))
            h = mpmath.mpf(10) ** (-(digits + 10) // 2)
            jac = mpmath.matrix(len(x), len(x))
            for j in range(len(x)):
                shifted = x.copy()
                shifted[j] += h
                column = mpmath.matrix(_residual_mp(compiled, shifted, p, index, period))
                for i in range(len(x)):
                    jac[i, j] = (column[i] - r[i]) / h
            try:
                delta = mpmath.lu_solve(jac, -r)
            except ZeroDivisionError:  # a singular flip system: no nondegenerate flip near the guess
                return x, mpmath.inf
            x += delta
            steps.append(abs(delta[d]))
            if not all(mpmath.isfinite(v) for v in x):
                return x, mpmath.inf
            if mpmath.norm(delta) <= tolerance * (1 + mpmath.norm(x)):
                return x, steps[-1]
        return x, max(steps[-2:])


def _verified_digits(value, error, digits) -> int:
    """Significant digits of ``value`` that an absolute ``error`` leaves (at most ``digits``, at least 0)."""
    if error == 0:
        return digits
    if not mpmath.isfinite(error) or value == 0:
        return 0
    return max(0, min(digits, int(mpmath.floor(-mpmath.log10(error / abs(value))))))


def first_flips(derivation, values: dict, vary) -> list:
    """Exact flips of the fixed points, from the derived eigenvalues: solutions of :math:`\\mu(P) = -1` at which
    the fixed point is attracting just below (the cascade then runs upward)."""
    others = {s: v for s, v in values.items() if s != vary}
    found = []
    fixed = {e.label: e for e in derivation.result("fixed_points").solutions}
    for entry in derivation.result("stability").points:
        if entry.kind != "point":
            continue
        eigenvalues = [sp.simplify(mu.subs(others)) for mu in entry.eigenvalues]
        values_at_flip = []
        for mu in eigenvalues:
            values_at_flip += [v for v in solve_multiplier(mu, -1, vary) if v not in values_at_flip]
        for value in values_at_flip:
            if sp.im(value) != 0:
                continue
            below = value - sp.Rational(1, 10 ** 6) * (1 + abs(value))
            if all(abs(complex(sp.N(m.subs(vary, below)))) < 1 for m in eigenvalues):
                coordinates = [c.subs(others).subs(vary, value) for c in fixed[entry.label].coordinates.values()]
                found.append((value, coordinates, entry.label))
    return sorted(found, key=lambda item: float(item[0]))


def _choose_flip(compiled, candidates, init):
    """The flip whose cascade is followed: without ``init`` the lowest flip (ties: the first fixed point);
    with ``init`` (``{state: value}``, unnamed coordinates 0) the fixed point nearest to it (Euclidean distance,
    at its own flip). Returns ``(candidate, reason)``."""
    if init is None:
        return candidates[0], LOWEST_FLIP
    names = list(compiled.state_names)
    unknown = [n for n in init if n not in names]
    if unknown:
        raise UserInputError(f"unknown state variable {unknown[0]!r} in --init; expected one of: {', '.join(names)}")
    target = np.array([float(to_number(f"--init {n}", init[n])) if n in init else 0.0 for n in names])

    def distance(candidate):
        point = np.array([complex(sp.N(c)).real for c in candidate[1]])
        return float(np.linalg.norm(point - target))

    return min(candidates, key=lambda c: (distance(c), float(c[0]))), "the fixed point nearest to init"


def _flip_record(kern, compiled, solution, period, params, index, correction, digits, located_by):
    """A flip as :func:`locate_flips` returns it, with its normal-form coefficient b (float64, chained along the
    orbit by :func:`~numerics.branches.flip_coefficient`)."""
    d = compiled.dimension
    parameter = solution[d]
    state = [solution[i] for i in range(d)]
    p = params.copy()
    p[index] = float(parameter)
    x = np.array([float(v) for v in state])
    _, A, _ = kern.orbit(x, p, period)
    mu = np.linalg.eigvals(A)
    # b is the coefficient of the one-dimensional centre manifold: it needs exactly one multiplier at -1.
    critical = int(np.sum(np.abs(mu + 1) <= CRITICAL_MULTIPLIER))
    if critical == 1:
        b = flip_coefficient(kern.orbit_data(x, p, period, third=True), A)
        normal_form = {"coefficient": b, "criticality": flip_criticality(b), "normalisation": NORMALISATION["PD"]}
    else:
        normal_form = {"coefficient": None, "criticality": "degenerate", "multipliers_at_minus_one": critical}
    return {"parameter": parameter, "period": period, "state": state, "located_by": located_by,
            "verified_digits": _verified_digits(parameter, correction, digits), "normal_form": normal_form,
            "jacobian": A, "multipliers": mu}


def _unsearched_fixed_points(compiled, values: dict) -> str | None:
    """What the flips of :func:`first_flips` leave out: they come from the closed forms in the parameters, so
    fixed points at these values without one (or a list of fixed points that is not complete) are never looked
    at. ``None`` where nothing is left out."""
    from analysis.evaluate import fixed_points_at

    table = fixed_points_at(compiled.derivation, values)
    missing = [p.label for p in table if not p.closed_form]
    if missing:
        return f"the fixed points {', '.join(missing)} have no closed form in the parameters"
    return None if table.complete else f"the list of fixed points is not complete ({table.reason})"


def _multipliers_text(mu) -> str:
    return "[" + ", ".join(f"{m.real:.6g}" if abs(m.imag) <= 1e-12 * (1 + abs(m)) else f"{m:.6g}"
                           for m in sorted(mu, key=lambda z: -abs(z))) + "]"


def _switch_and_trace(kern, flip, params, index, scale, vary):
    """Branch switching at ``flip`` onto the period-doubled orbit born there and continuation along it up to its
    own flip (the continuation engine: :func:`~numerics.branches.one_parameter._switch`, then
    :func:`~numerics.branches.engine._trace` with the PD, NS, LP and BP test functions). Returns
    ``(guess, None)`` with the float64 flip ``[state..., parameter]``, or ``(None, why)``."""
    period = flip["period"]
    p = params.copy()
    p[index] = float(flip["parameter"])
    x = np.array([float(v) for v in flip["state"]])
    where = f"{vary} = {mpmath.nstr(flip['parameter'], 12)}"
    system = _OrbitSystem(kern, period, x, p, "parameter", index)
    switched = _switch(kern, system, x, p, flip["jacobian"], scale)
    if switched is None:
        return None, (f"branch switching onto the period-{2 * period} orbit at the flip at {where} did not "
                      "converge in float64")
    new, _, _, (u, J, A, t, eps) = switched
    start = _make_point(new, u, J, A, t)
    start.t = t
    born = p[index]
    in_range = lambda v: born - scale <= v[-1] <= born + 10 * scale  # noqa: E731
    points, specials, why = _trace(new, start, min(eps, scale / 8), in_range, MAX_POINTS, ("PD", "NS", "LP", "BP"),
                                   scale / 8, beyond_flip=0)
    for name, point in specials:
        if not genuine_special(name, point):
            continue
        x2, p2 = new.unpack(point.u)
        at = f"{vary} = {p2[index]:.12g}"
        if name == "PD":
            others = np.delete(point.mu, int(np.argmin(np.abs(point.mu + 1))))
            if np.any(np.abs(others) >= 1):
                return None, (f"the period-{2 * period} orbit born at the flip at {where} was continued to its flip "
                              f"at {at}, but it is not attracting there (multipliers {_multipliers_text(point.mu)}): "
                              "no attracting orbit continues the cascade")
            return np.concatenate([x2, [p2[index]]]), None
        if name == "NS":
            return None, (f"the period-{2 * period} orbit born at the flip at {where} was continued to {at}, where "
                          f"a complex pair of its multipliers {_multipliers_text(point.mu)} crosses the unit "
                          "circle (Neimark-Sacker) before any multiplier reaches -1: no period-doubling beyond")
        if name == "BP":
            # The corrector is singular at a branch point, which limits its location to about 1e-5.
            return None, (f"the period-{2 * period} orbit born at the flip at {where} was continued to "
                          f"{vary} = {p2[index]:.5g}, a "
                          f"branch point (a multiplier +1: {_multipliers_text(point.mu)}; another branch crosses it, "
                          "e.g. a symmetry-breaking pitchfork) before any multiplier reaches -1; the branches beyond "
                          "it are not followed")
        return None, (f"the period-{2 * period} orbit born at the flip at {where} was continued to {at}, where it "
                      f"folds (a multiplier +1: {_multipliers_text(point.mu)}) before any multiplier reaches -1")
    last = points[-1]
    x2, p2 = new.unpack(last.u)
    reason = why or f"it left the searched range {born - scale:.6g} to {born + 10 * scale:.6g}"
    return None, (f"the period-{2 * period} orbit born at the flip at {where} was continued to "
                  f"{vary} = {p2[index]:.12g} ({reason}); its multipliers there {_multipliers_text(last.mu)} "
                  "have not crossed -1")


def _extrapolated_guess(bifurcations):
    """The next flip predicted from the last three by their geometric convergence (ratio of the last two
    parameter gaps; the states along the chain of flips converge at the same rate), in mpmath."""
    (p0, s0), (p1, s1), (p2, s2) = [(b["parameter"], mpmath.matrix(b["state"])) for b in bifurcations[-3:]]
    ratio = (p1 - p0) / (p2 - p1)
    step = s1 - s0
    shrink = sum((s2 - s1)[i] * step[i] for i in range(len(step))) / max(mpmath.norm(step) ** 2, mpmath.mpf(10) ** -300)
    state = s2 + (s2 - s1) * shrink
    return [state[i] for i in range(len(state))] + [p2 + (p2 - p1) / ratio]


def _not_the_parent_orbit(compiled, solution, params, index, period, digits) -> bool:
    """Whether the period-``2 period`` solution is not a point of a period-``period`` orbit (which solves
    F^(2p)(s) = s too): F^p(s) differs from s by more than 10^(-digits/2)."""
    d = compiled.dimension
    with mpmath.workdps(digits + 10):
        p = [mpmath.mpf(sp.N(v, digits + 10)) for v in params]
        p[index] = solution[d]
        image, _ = _return_map_mp(compiled, [solution[i] for i in range(d)], p, period)
        gap = mpmath.norm(mpmath.matrix([image[i] - solution[i] for i in range(d)]))
        return gap > mpmath.mpf(10) ** (-digits // 2) * (1 + mpmath.norm(mpmath.matrix(image)))


def locate_flips(compiled, values: dict, vary: str, doublings: int = 12, digits: int = 40, progress=None,
                 init=None) -> dict:
    """Flip bifurcations ``P_1 < P_2 < ...`` of the orbits of period ``1, 2, 4, ...`` along the attracting branch
    born at each flip, and the ratio estimates (:func:`cascade`)."""
    model = compiled.model
    vary_symbol = model.parameter(vary).symbol
    index = compiled.parameter_names.index(vary)
    candidates = first_flips(compiled.derivation, values, vary_symbol)
    unsearched = _unsearched_fixed_points(compiled, values)
    if not candidates and unsearched:
        raise UserInputError(f"cascade solves the flips of closed-form fixed points, and {unsearched}: it cannot "
                             f"decide whether one loses stability by a flip as {vary} increases; follow one with "
                             f"`sharpness continuation --start LABEL --vary {vary}=A:B`")
    if not candidates:
        sets = [e.label for e in compiled.derivation.result("fixed_points").solutions if e.free]
        detail = (f"; its fixed points {', '.join(sets)} are sets, not isolated points, and a flip of a family "
                  "needs a transversal section, which cascade does not construct") if sets else ""
        raise UserInputError(f"no isolated fixed point of {model.name!r} loses stability by a flip as {vary} "
                             f"increases at these parameters{detail}")
    (exact, coordinates, label), chosen_by = _choose_flip(compiled, candidates, init)
    if unsearched:  # "the lowest flip" is then a claim about the closed-form points only
        chosen_by += f" among the closed-form fixed points ({unsearched}; their flips are not searched)"
    exact_values = {**values, vary_symbol: exact}
    params = compiled.parameter_vector(exact_values)
    exact_params = [exact_values[s] for s in compiled.parameter_symbols]
    kern = kernels(compiled)
    d = compiled.dimension
    # The first flip is found by the multiplier condition too (it must reproduce the exact value).
    refined, _ = _newton_mp(compiled, [float(c) for c in coordinates] + [float(exact)], exact_params, index, 1,
                            digits)
    with mpmath.workdps(digits + 10):
        error = abs(refined[d] - mpmath.mpf(sp.N(exact, digits + 10)))
    first = _flip_record(kern, compiled, refined, 1, params, index, error, digits, "derived")
    bifurcations = [{**first, "exact": exact, "fixed_point": label}]
    stopped = None
    for j in range(1, doublings):
        previous = bifurcations[-1]
        period = 2 * previous["period"]
        where = f"{vary} = {mpmath.nstr(previous['parameter'], 12)}"
        nf = previous["normal_form"]
        if nf["coefficient"] is None:
            stopped = (f"the flip at {where} has {nf['multipliers_at_minus_one']} multipliers at -1 "
                       f"({_multipliers_text(previous['multipliers'])}): a degenerate flip, where the normal form of "
                       "a single critical multiplier (b) does not apply; the period-doubled orbits are not followed")
            break
        if nf["criticality"] != "supercritical":
            stopped = (f"the flip at {where} is {nf['criticality']} (normal-form coefficient b = "
                       f"{nf['coefficient']:.6g}): " +
                       ("the period-{0} orbit born there exists where the period-{1} orbit is still stable and "
                        "repels; no attracting period-{0} orbit continues the cascade" if nf["criticality"] ==
                        "subcritical" else "b is at round-off level, so whether an attracting period-{0} orbit "
                        "is born there is undetermined").format(period, previous["period"]))
            break
        # The next branch lives on the parameter scale of this one (shrinking by ~delta per doubling).
        scale = (float(previous["parameter"] - bifurcations[-2]["parameter"]) if j >= 2 else
                 0.1 * (1 + abs(float(previous["parameter"]))))
        guess, why = _switch_and_trace(kern, previous, params, index, scale, vary)
        located_by = "branch switching"
        if guess is None and len(bifurcations) >= 3:
            # Deep in the cascade the flips are closer than float64 resolves; the chain of flips converges
            # geometrically, which predicts the next one for Newton in mpmath.
            guess, located_by = _extrapolated_guess(bifurcations), "extrapolation"
        if guess is None:
            stopped = f"{why} (b = {nf['coefficient']:.6g} > 0 at that flip: a period-{period} orbit is born there)"
            break
        solution, correction = _newton_mp(compiled, guess, exact_params, index, period, digits)
        found = solution[d]
        gap = previous["parameter"] - bifurcations[-2]["parameter"] if j >= 2 else None
        if located_by == "branch switching":
            # The mpmath Newton polishes the float64 flip: it must stay within float64's error of it.
            accepted = abs(found - guess[d]) <= 1e-7 * (1 + abs(found))
        else:
            accepted = previous["parameter"] < found < previous["parameter"] + gap
        if not (mpmath.isfinite(found) and found > previous["parameter"] and accepted and
                _not_the_parent_orbit(compiled, solution, exact_params, index, period // 2, digits)):
            stopped = (f"the period-{period} flip located by {located_by} near {vary} = "
                       f"{mpmath.nstr(mpmath.mpf(guess[d]), 12)} did not converge in mpmath to a flip of the "
                       f"period-{period} orbit born at {where}")
            break
        record = _flip_record(kern, compiled, solution, period, params, index, correction, digits, located_by)
        if record["verified_digits"] < 3:
            stopped = (f"the period-{period} flip near {vary} = {mpmath.nstr(found, 12)} is not resolved at "
                       f"{digits} digits (last Newton step {mpmath.nstr(correction, 3)})")
            break
        bifurcations.append(record)
        if progress:
            progress(j + 1, doublings)
    for entry in bifurcations:
        del entry["jacobian"], entry["multipliers"]
    with mpmath.workdps(digits):
        parameters = [b["parameter"] for b in bifurcations]
        errors = [abs(b["parameter"]) * mpmath.mpf(10) ** -b["verified_digits"] for b in bifurcations]
        deltas = [(parameters[i] - parameters[i - 1]) / (parameters[i + 1] - parameters[i])
                  for i in range(1, len(bifurcations) - 1)]
        # The ratio's relative error: each gap's error over the gap, summed.
        delta_errors = [deltas[i - 1] * ((errors[i] + errors[i - 1]) / (parameters[i] - parameters[i - 1]) +
                                         (errors[i + 1] + errors[i]) / (parameters[i + 1] - parameters[i]))
                        for i in range(1, len(bifurcations) - 1)]
        delta_verified = [_verified_digits(v, e, digits) for v, e in zip(deltas, delta_errors)]
        # Aitken's delta-squared on the ratios, whose error shrinks geometrically (by ~1/delta per doubling).
        accelerated = aitken(deltas)
    superstable = superstable_orbits(compiled, values, vary, bifurcations, digits)
    with mpmath.workdps(digits):
        alpha = alpha_estimates([entry["distance"] for entry in superstable]) if len(superstable) >= 2 else \
            {"alpha": [], "alpha_aitken": []}
    flipping = [{"fixed_point": c[2], "parameter": c[0]} for c in candidates]
    return {"bifurcations": bifurcations, "delta": deltas, "delta_aitken": accelerated, "digits": digits,
            "stopped": stopped, "superstable": superstable, **alpha, "delta_verified_digits": delta_verified,
            "fixed_point": label, "chosen_by": chosen_by, "flipping": flipping}


def superstable_orbits(compiled, values: dict, vary: str, bifurcations: list, digits: int) -> list:
    r"""The superstable orbits of the cascade of a one-dimensional map: for each period :math:`P = 2^j`
    (:math:`j \ge 1`) the parameter :math:`S_j` between the flip that creates the orbit and the one that
    destabilises it at which the orbit passes through the critical point :math:`c` (:math:`F'(c) = 0`, solved
    symbolically from the derived Jacobian; the root nearest the cascade's fixed point), i.e.
    :math:`F^P(c(S_j)) = c(S_j)`, solved by Anderson-Bjoerck bracketing in mpmath on
    :math:`(P_{j}, P_{j+1})`; and :math:`d_j`, the distance of :math:`c` to its nearest neighbour on the orbit
    (asymptotically :math:`F^{P/2}(c)`), whose ratios :math:`d_j / d_{j+1} \to -\alpha` (Feigenbaum 1978,
    1979). Empty for maps of dimension > 1 (no critical point in this sense)."""
    if compiled.dimension != 1 or len(bifurcations) < 3:
        return []
    state = compiled.state_symbols[0]
    try:
        roots = [r for r in sp.solve(compiled.jacobian_expr[0, 0], state) if r.is_real is not False]
    except (NotImplementedError, TypeError, ValueError):  # no closed-form critical point: no alpha
        return []
    if not roots:
        return []
    model = compiled.model
    vary_symbol = model.parameter(vary).symbol
    others = {k: v for k, v in values.items() if k != vary_symbol}
    anchor = float(bifurcations[0]["state"][0])
    at_first = {**others, vary_symbol: bifurcations[0]["parameter"]}
    try:
        critical = min(roots, key=lambda r: abs(complex(sp.N(r.subs(at_first))) - anchor))
    except (TypeError, ValueError):
        return []
    critical = critical.subs(others)
    critical_mp = sp.lambdify([vary_symbol], critical, "mpmath")
    index = compiled.parameter_names.index(vary)
    found = []
    with mpmath.workdps(digits + 10):
        params = [mpmath.mpf(sp.N(values[s], digits + 10)) for s in compiled.parameter_symbols]

        def orbit(k, period):
            p = list(params)
            p[index] = k
            x = [critical_mp(k)]
            points = [x[0]]
            for _ in range(period):
                x = list(compiled.step_mpmath(*x, *p))
                points.append(x[0])
            return points

        for j in range(1, len(bifurcations) - 1):
            period = 2 ** j
            low, high = bifurcations[j - 1]["parameter"], bifurcations[j]["parameter"]

            def residual(k):
                points = orbit(k, period)
                return points[-1] - points[0]

            try:
                if residual(low) * residual(high) > 0:
                    break
                # Bracketing (the root is unique between the two flips); accuracy ~ the working precision.
                root = mpmath.findroot(residual, (low, high), solver="anderson", verify=False,
                                       tol=mpmath.mpf(10) ** (-2 * digits))
            except (ValueError, ZeroDivisionError, TypeError):  # TypeError: a complex critical point
                break
            if not low < root < high:
                break
            points = orbit(root, period)
            c = points[0]
            distance = min(abs(v - c) for v in points[1:period])
            found.append({"period": period, "parameter": root, "distance": distance})
    return found


@dataclass(frozen=True)
class Flip:
    r"""One flip (period-doubling) bifurcation of the cascade: the orbit of ``period`` has a multiplier -1 at
    ``vary = parameter``.

    ``parameter`` is an mpmath number refined by Newton on the flip condition of :math:`F^{period}`, of which
    ``verified_digits`` are certified by the last Newton correction; ``exact`` is its closed form (first flip
    only, from the derived multipliers), ``state`` a point of the orbit at the flip, ``located_by`` how the
    Newton start was found (``derived``, ``branch switching``, ``extrapolation``). ``normal_form`` holds the
    flip coefficient ``b`` (:func:`~numerics.branches.flip_coefficient`; ``b > 0`` supercritical), its
    ``criticality`` and ``normalisation``, or ``coefficient: None`` when the flip is degenerate.
    """

    parameter: object
    period: int
    state: tuple
    verified_digits: int
    located_by: str
    normal_form: dict
    exact: object = None

    def to_dict(self) -> dict:
        """The ``bifurcations`` entry of ``sharpness cascade --json``: the parameter as a float and as a string
        of its verified digits."""
        return {"parameter": float(self.parameter), "period": self.period,
                "parameter_digits": mpmath.nstr(self.parameter, max(self.verified_digits, 1)),
                "verified_digits": self.verified_digits,
                **({"exact": str(self.exact)} if self.exact is not None else {}),
                "located_by": self.located_by, "normal_form": self.normal_form}


@dataclass(frozen=True)
class SuperstableOrbit:
    """The superstable orbit of ``period`` (a critical point on the orbit) of a one-dimensional map's cascade, at
    ``vary = parameter``; ``distance`` is the distance of the critical point to its nearest orbit point, whose
    ratios estimate Feigenbaum's alpha."""

    period: int
    parameter: object
    distance: object


@dataclass(frozen=True)
class FlippingFixedPoint:
    """A fixed point (``label``, e.g. ``"II"``) that loses stability by a flip at the closed-form ``parameter``."""

    label: str
    parameter: object


@dataclass
class Cascade:
    """The flips of a period-doubling cascade and the estimates of Feigenbaum's delta; ``to_dict()`` is
    ``sharpness cascade --json``."""

    model: str
    vary: str
    digits: int
    bifurcations: list  # [Flip], by increasing period
    delta: list
    delta_aitken: list
    stopped: str | None = None  # why fewer flips than asked were found (None: all were)
    superstable: list = None  # [SuperstableOrbit] (one-dimensional maps)
    alpha: list = None
    alpha_aitken: list = None
    delta_verified_digits: list = None  # digits of each delta that the flips' verified digits carry
    fixed_point: str | None = None  # the fixed point whose cascade this is
    chosen_by: str | None = None  # why that one (several may flip)
    flipping: list = None  # [FlippingFixedPoint]: every isolated fixed point that flips as vary increases

    def to_dict(self) -> dict:
        text = lambda v, n=self.digits: mpmath.nstr(v, max(n, 1))  # noqa: E731
        verified = self.delta_verified_digits or [self.digits] * len(self.delta)
        return {
            "model": self.model, "vary": self.vary, "digits": self.digits,
            "fixed_point": self.fixed_point, "chosen_by": self.chosen_by,
            "flipping": [{"fixed_point": f.label, "parameter": float(f.parameter), "exact": str(f.parameter)}
                         for f in self.flipping or []],
            "bifurcations": [b.to_dict() for b in self.bifurcations],
            "delta": [float(d) for d in self.delta],
            "delta_digits": [text(d, n) for d, n in zip(self.delta, verified)],
            "delta_verified_digits": verified,
            "delta_aitken": [text(d) for d in self.delta_aitken],
            "correct_digits": [correct_digits(d) for d in self.delta],
            "correct_digits_aitken": [correct_digits(d) for d in self.delta_aitken],
            "superstable": [float(e.parameter) for e in self.superstable or []],
            "superstable_digits": [text(e.parameter) for e in self.superstable or []],
            "alpha": [float(a) for a in self.alpha or []],
            "alpha_digits": [text(a) for a in self.alpha or []],
            "alpha_aitken": [text(a) for a in self.alpha_aitken or []],
            "alpha_correct_digits": [alpha_correct_digits(a) for a in self.alpha or []],
            "alpha_correct_digits_aitken": [alpha_correct_digits(a) for a in self.alpha_aitken or []],
            "stopped": self.stopped,
        }

    def __str__(self) -> str:
        payload = self.to_dict()
        lines = []
        if len(payload["flipping"]) > 1 or self.chosen_by not in (None, LOWEST_FLIP):
            count = len(payload["flipping"])
            verb = "fixed points flip" if count != 1 else "fixed point flips"
            lines.append(f"{count} {verb} as {self.vary} increases ("
                         + ", ".join(f"{f['fixed_point']} at {self.vary} = {f['exact']}" for f in payload["flipping"])
                         + f"); the cascade of {self.fixed_point}, {self.chosen_by}"
                         + (" (init chooses another)" if (self.chosen_by or "").startswith(LOWEST_FLIP) else ""))
        lines += [f"period {b['period']:>6} flips at {self.vary} = {b['parameter_digits'][:32]}"
                  for b in payload["bifurcations"]]
        lines += [f"delta_{i + 1:<3} = {d[:20]}   ({digits} correct digits)"
                  for i, (d, digits) in enumerate(zip(payload["delta_digits"], payload["correct_digits"]))]
        if self.stopped:
            lines.append(f"stopped after {len(self.bifurcations)} flip(s): {self.stopped}")
        if payload["delta_aitken"]:
            lines.append(f"Aitken-accelerated: {payload['delta_aitken'][-1][:20]} "
                         f"({payload['correct_digits_aitken'][-1]} correct digits)")
        lines += [f"alpha_{i + 1:<3} = {a[:20]}   ({digits} correct digits)"
                  for i, (a, digits) in enumerate(zip(payload["alpha_digits"], payload["alpha_correct_digits"]))]
        if payload["alpha_aitken"]:
            lines.append(f"alpha Aitken-accelerated: {payload['alpha_aitken'][-1][:20]} "
                         f"({payload['alpha_correct_digits_aitken'][-1]} correct digits)")
        return "\n".join(lines)


def cascade(model, vary: str, values=None, *, doublings: int = 14, digits: int = 40, progress=None,
            init=None) -> Cascade:
    r"""The period-doubling cascade of ``model`` as parameter ``vary`` increases (module docstring).

    ``model`` is an :class:`~numerics.IteratedMap` (its values are used), a :class:`~analysis.DerivedModel`, a
    name or a path; ``values`` (``{name: value}``) give (or override) the other parameters (``vary`` itself need
    not be given).
    ``doublings`` flips are located (periods up to :math:`2^{doublings-1}`, at most :data:`MAX_DOUBLINGS`),
    each refined to ``digits`` significant digits (at most :data:`MAX_DIGITS`). ``progress(j, doublings)`` is
    called after each flip.

    Where several isolated fixed points lose stability by a flip as ``vary`` increases, the cascade follows the
    one with the lowest flip, or with ``init`` (``{state: value}``; unnamed coordinates 0) the one nearest to
    that state (Euclidean distance to the fixed point at its flip). Each later flip is on the orbit born at the
    previous one (branch switching), never on an orbit found from a default start.

    >>> from numerics import cascade
    >>> flips = cascade("uv-eos", "k", doublings=3, digits=20)
    >>> [(b.period, str(b.parameter)[:12]) for b in flips.bifurcations]   # 1, sqrt(5) - 1, ...
    [(1, '1.0'), (2, '1.2360679774'), (4, '1.2880317544')]
    """
    from .iterated_map import IteratedMap, varying_map

    doublings = to_count("doublings", doublings, 1, MAX_DOUBLINGS)
    digits = to_count("digits", digits, 15, MAX_DIGITS)
    values = value_mapping(values)
    if isinstance(model, IteratedMap):
        bound = varying_map(model.model, vary, {**model.value_map, **values})
    else:
        bound = varying_map(model, vary, values)
    found = locate_flips(bound.compiled, bound.values, vary, doublings, digits, progress, init)
    flips = [Flip(b["parameter"], b["period"], tuple(b["state"]), b["verified_digits"], b["located_by"],
                  b["normal_form"], b.get("exact")) for b in found["bifurcations"]]
    superstable = [SuperstableOrbit(e["period"], e["parameter"], e["distance"]) for e in found["superstable"]]
    flipping = [FlippingFixedPoint(f["fixed_point"], f["parameter"]) for f in found["flipping"]]
    return Cascade(bound.model.name, vary, digits, flips, found["delta"], found["delta_aitken"],
                   found["stopped"], superstable, found["alpha"], found["alpha_aitken"],
                   found["delta_verified_digits"], found["fixed_point"], found["chosen_by"], flipping)
