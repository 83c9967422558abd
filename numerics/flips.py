r"""The period-doubling cascade: flip bifurcations of periodic orbits and the Feigenbaum constant.

A flip of a period-:math:`p` orbit at parameter :math:`P` solves

.. math:: F_P^{\,p}(s) - s = 0, \qquad \det\bigl(DF_P^{\,p}(s) + I\bigr) = 0

(a Floquet multiplier equal to -1). Each flip is found by Newton's method on these :math:`d + 1` equations in
:math:`(s, P)`, first in float64 with the compiled map and Jacobian (:attr:`CompiledModel.return_map_kernel`),
then refined in mpmath at ``digits`` significant digits with the generated mpmath kernels. The first flip comes
from the derived stability result (:func:`analysis.derivations.fixed_points.stability`), exactly; each next one is guessed
from the previous ratio (:math:`\delta \approx 4.67`) or, for the second, by following the attracting orbit
until its multiplier crosses -1. Successive ratios
:math:`\delta_j = (P_j - P_{j-1})/(P_{j+1} - P_j)` estimate Feigenbaum's :math:`\delta = 4.669201609\ldots`
(Feigenbaum 1978).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from analysis.errors import UserInputError
from analysis.derivations.spectrum import solve_multiplier
from analysis.values import to_count

MAX_DOUBLINGS = 18  # period 2^17: each mpmath Newton step then iterates 131,072 steps at 40+ digits
MAX_DIGITS = 300

FEIGENBAUM_DELTA = mpmath.mpf("4.669201609102990671853203820466201617258185577475768632745651343004134330211314737138689744023948013817165984855189815134408627142027932522312442988890890859944935463236713411532481714219947455644365823793202009561058330575458617652222070385410646749494284981453391726200568755665952339875603825637225")


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


def _residual_float(compiled, unknowns, params, index, period):
    d = compiled.dimension
    p = params.copy()
    p[index] = unknowns[d]
    image, product = compiled.return_map_kernel(unknowns[:d], p, period)
    return np.concatenate([image - unknowns[:d], [np.linalg.det(product + np.eye(d))]])


def _residual_mp(compiled, unknowns, params, index, period):
    d = compiled.dimension
    p = list(params)
    p[index] = unknowns[d]
    image, product = _return_map_mp(compiled, unknowns[:d], p, period)
    return [image[i] - unknowns[i] for i in range(d)] + [mpmath.det(product + mpmath.eye(d))]


def _newton_float(compiled, guess, params, index, period, iterations=40):
    x = np.array(guess, dtype=float)
    for _ in range(iterations):
        r = _residual_float(compiled, x, params, index, period)
        if not np.all(np.isfinite(r)):
            return None
        jac = np.empty((len(x), len(x)))
        for j in range(len(x)):
            h = 1e-7 * max(1.0, abs(x[j]))
            e = np.zeros(len(x))
            e[j] = h
            jac[:, j] = (_residual_float(compiled, x + e, params, index, period) -
                         _residual_float(compiled, x - e, params, index, period)) / (2 * h)
        try:
            delta = np.linalg.solve(jac, -r)
        except np.linalg.LinAlgError:
            return None
        x = x + delta
        if np.abs(delta).max() <= 1e-14 * (1 + np.abs(x).max()):
            return x
    return x if np.all(np.isfinite(x)) else None


def _newton_mp(compiled, guess, exact_params, index, period, digits):
    """Newton in mpmath; the Jacobian by forward differences with step 10^(-digits/2) (so each step gains
    about digits/2 digits at least, quadratically until that). ``exact_params`` are SymPy numbers, so that the
    fixed parameters are not rounded to float64."""
    with mpmath.workdps(digits + 10):
        x = mpmath.matrix([mpmath.mpf(float(v)) for v in guess])
        p = [mpmath.mpf(sp.N(v, digits + 10)) for v in exact_params]
        tolerance = mpmath.mpf(10) ** (-digits - 2)
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
            delta = mpmath.lu_solve(jac, -r)
            x += delta
            if mpmath.norm(delta) <= tolerance * (1 + mpmath.norm(x)):
                break
        return x


def first_flips(derivation, values: dict, vary) -> list:
    """Exact flips of the fixed points, from the derived eigenvalues: solutions of :math:`\\mu(P) = -1` at which
    the fixed point is attracting just below (the cascade then runs upward)."""
    others = {s: v for s, v in values.items() if s != vary}
    found = []
    fixed = {e.label: e for e in derivation.result("fixed_points").fixed_points}
    for entry in derivation.result("stability").fixed_points:
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


def _multiplier_float(compiled, state, params, period):
    """The Floquet multiplier of the period-``period`` orbit through ``state`` that is closest to -1."""
    _, product = compiled.return_map_kernel(state, params, period)
    eig = np.linalg.eigvals(product)
    return eig[np.argmin(np.abs(eig + 1))].real


def _attract(compiled, state, params, steps):
    out, tail, diverged = compiled.trajectory_kernel(np.asarray(state, float), params, steps, steps, 1)
    return tail[-1] if diverged < 0 else None


def _refuse_without_closed_forms(compiled, values: dict, vary: str) -> None:
    """The flips above come from the closed forms in the parameters: where the fixed points at these values are
    not all such (or not all known), "no flip" would be a claim about points never looked at."""
    from analysis.evaluate import fixed_points_at

    table = fixed_points_at(compiled.derivation, values)
    missing = [p.label for p in table if not p.closed_form]
    if missing or not table.complete:
        what = (f"the fixed points {', '.join(missing)} have no closed form in the parameters" if missing else
                f"the list of fixed points is not complete ({table.reason})")
        raise UserInputError(f"cascade solves the flips of closed-form fixed points, and {what}: it cannot decide "
                             f"whether one loses stability by a flip as {vary} increases; follow one with "
                             f"`sharpness continuation --start LABEL --vary {vary}=A:B`")


def locate_flips(compiled, values: dict, vary: str, doublings: int = 12, digits: int = 40, progress=None) -> dict:
    """Flip bifurcations ``P_1 < P_2 < ...`` of the orbits of period ``1, 2, 4, ...`` and the ratio estimates."""
    model = compiled.model
    vary_symbol = model.parameter(vary).symbol
    index = compiled.parameter_names.index(vary)
    candidates = first_flips(compiled.derivation, values, vary_symbol)
    if not candidates:
        _refuse_without_closed_forms(compiled, values, vary)
        sets = [e.label for e in compiled.derivation.result("fixed_points").fixed_points if e.free]
        detail = (f"; its fixed points {', '.join(sets)} are sets, not isolated points, and a flip of a family "
                  "needs a transversal section, which cascade does not construct") if sets else ""
        raise UserInputError(f"no isolated fixed point of {model.name!r} loses stability by a flip as {vary} "
                             f"increases at these parameters{detail}")
    exact, coordinates, label = candidates[0]
    exact_values = {**values, vary_symbol: exact}
    params = compiled.parameter_vector(exact_values)
    exact_params = [exact_values[s] for s in compiled.parameter_symbols]
    d = compiled.dimension
    bifurcations = []
    state = np.array([float(c) for c in coordinates])
    # The first flip is found by the multiplier condition too (it must reproduce the exact value).
    refined = _newton_mp(compiled, list(state) + [float(exact)], exact_params, index, 1, digits)
    bifurcations.append({"parameter": refined[d], "period": 1, "exact": exact, "fixed_point": label,
                         "state": [refined[i] for i in range(d)]})
    period = 1
    stopped = None
    for j in range(1, doublings):
        period *= 2
        previous = bifurcations[-1]
        p_prev = float(previous["parameter"])
        if j == 1:
            guess_p, guess_s = _scan_for_flip(compiled, np.array([float(v) for v in previous["state"]]), params,
                                              index, p_prev, period)
        else:
            p_prev2 = float(bifurcations[-2]["parameter"])
            guess_p = p_prev + (p_prev - p_prev2) / 4.669
            trial = params.copy()
            trial[index] = p_prev + 0.8 * (guess_p - p_prev)
            start = np.array([float(v) for v in previous["state"]]) + 1e-6
            guess_s = _attract(compiled, start, trial, 4000 * period)
        if guess_s is None or guess_p is None:
            stopped = (f"no attracting period-{period} orbit found beyond the flip at {vary} = "
                       f"{mpmath.nstr(previous['parameter'], 12)} (the orbit born there diverges or is not attracting)")
            break
        solution = _newton_float(compiled, list(guess_s) + [guess_p], params, index, period)
        if solution is None or not (solution[d] > p_prev):
            # Deep in the cascade the flips are closer than float64 resolves: go to mpmath from the guess.
            solution = list(guess_s) + [guess_p]
        refined = _newton_mp(compiled, solution, exact_params, index, period, digits)
        if not (refined[d] > previous["parameter"]) or not mpmath.isfinite(refined[d]):
            stopped = f"the period-{period} flip did not converge beyond {vary} = {mpmath.nstr(previous['parameter'], 12)}"
            break
        bifurcations.append({"parameter": refined[d], "period": period, "state": [refined[i] for i in range(d)]})
        if progress:
            progress(j + 1, doublings)
    with mpmath.workdps(digits):
        deltas = [(bifurcations[i]["parameter"] - bifurcations[i - 1]["parameter"]) /
                  (bifurcations[i + 1]["parameter"] - bifurcations[i]["parameter"])
                  for i in range(1, len(bifurcations) - 1)]
        # Aitken's delta-squared on the ratios, whose error shrinks geometrically (by ~1/delta per doubling).
        accelerated = [deltas[i + 2] - (deltas[i + 2] - deltas[i + 1]) ** 2 /
                       ((deltas[i + 2] - deltas[i + 1]) - (deltas[i + 1] - deltas[i])) for i in range(len(deltas) - 2)]
    superstable = superstable_orbits(compiled, values, vary, bifurcations, digits)
    with mpmath.workdps(digits):
        alpha = alpha_estimates([entry["distance"] for entry in superstable]) if len(superstable) >= 2 else \
            {"alpha": [], "alpha_aitken": []}
    return {"bifurcations": bifurcations, "delta": deltas, "delta_aitken": accelerated, "digits": digits,
            "stopped": stopped, "superstable": superstable, **alpha}


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


def _scan_for_flip(compiled, state, params, index, start, period, max_factor=64.0):
    """Follow the attracting period-``period`` orbit upward from ``start`` until its multiplier crosses -1;
    returns a (parameter, state) guess by linear interpolation of the multiplier, or ``(None, None)``."""
    step = 1e-3 * (1 + abs(start))
    trial = params.copy()
    last = None
    value = start
    current = state + 1e-4
    while step < max_factor * (1 + abs(start)):
        value = value + step
        trial[index] = value
        current = _attract(compiled, current, trial, 2000 * period)
        if current is None:
            return None, None
        multiplier = _multiplier_float(compiled, current, trial, period)
        if last is not None and multiplier < -1 <= last[1]:
            fraction = (last[1] + 1) / (last[1] - multiplier)
            return last[0] + fraction * (value - last[0]), current
        last = (value, multiplier)
        step *= 1.5
    return None, None


def correct_digits(estimate) -> int:
    """Number of significant digits of ``estimate`` that agree with Feigenbaum's delta."""
    error = abs(mpmath.mpf(estimate) - FEIGENBAUM_DELTA)
    return int(math.floor(-mpmath.log10(error / FEIGENBAUM_DELTA))) if error > 0 else 99


@dataclass
class Cascade:
    """The flips of a period-doubling cascade and the estimates of Feigenbaum's delta; ``to_dict()`` is
    ``sharpness cascade --json``."""

    model: str
    vary: str
    digits: int
    bifurcations: list
    delta: list
    delta_aitken: list
    stopped: str | None = None  # why fewer flips than asked were found (None: all were)
    superstable: list = None  # [{"period", "parameter", "distance"}] (one-dimensional maps)
    alpha: list = None
    alpha_aitken: list = None

    def to_dict(self) -> dict:
        text = lambda v: mpmath.nstr(v, self.digits)  # noqa: E731
        return {
            "model": self.model, "vary": self.vary, "digits": self.digits,
            "bifurcations": [{"parameter": float(b["parameter"]), "period": b["period"],
                              "parameter_digits": text(b["parameter"]),
                              **({"exact": str(b["exact"])} if "exact" in b else {})} for b in self.bifurcations],
            "delta": [float(d) for d in self.delta],
            "delta_digits": [text(d) for d in self.delta],
            "delta_aitken": [text(d) for d in self.delta_aitken],
            "correct_digits": [correct_digits(d) for d in self.delta],
            "correct_digits_aitken": [correct_digits(d) for d in self.delta_aitken],
            "superstable": [float(e["parameter"]) for e in self.superstable or []],
            "superstable_digits": [text(e["parameter"]) for e in self.superstable or []],
            "alpha": [float(a) for a in self.alpha or []],
            "alpha_digits": [text(a) for a in self.alpha or []],
            "alpha_aitken": [text(a) for a in self.alpha_aitken or []],
            "alpha_correct_digits": [alpha_correct_digits(a) for a in self.alpha or []],
            "alpha_correct_digits_aitken": [alpha_correct_digits(a) for a in self.alpha_aitken or []],
            "stopped": self.stopped,
        }

    def __str__(self) -> str:
        payload = self.to_dict()
        lines = [f"period {b['period']:>6} flips at {self.vary} = {b['parameter_digits'][:32]}"
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


def cascade(model, vary: str, doublings: int = 14, digits: int = 40, progress=None, **values) -> Cascade:
    r"""The period-doubling cascade of ``model`` as parameter ``vary`` increases (module docstring).

    ``model`` is an :class:`~numerics.IteratedMap` (its values are used), a :class:`~analysis.DerivedModel`, a
    name or a path; ``values`` give (or override) the other parameters (``vary`` itself need not be given).
    ``doublings`` flips are located (periods up to :math:`2^{doublings-1}`, at most :data:`MAX_DOUBLINGS`),
    each refined to ``digits`` significant digits (at most :data:`MAX_DIGITS`). ``progress(j, doublings)`` is
    called after each flip.

    >>> from numerics import cascade
    >>> flips = cascade("uv-eos", "k", doublings=3, digits=20)
    >>> [(b["period"], str(b["parameter"])[:12]) for b in flips.bifurcations]   # 1, sqrt(5) - 1, ...
    [(1, '1.0'), (2, '1.2360679774'), (4, '1.2880317544')]
    """
    from .iterated_map import IteratedMap

    doublings = to_count("doublings", doublings, 1, MAX_DOUBLINGS)
    digits = to_count("digits", digits, 15, MAX_DIGITS)
    if isinstance(model, IteratedMap):
        given = {p.name: model.values[p.symbol] for p in model.model.model.parameters}
        bound = IteratedMap(model.model, _placeholders=(vary,), **{**given, **values})
    else:
        bound = IteratedMap(model, _placeholders=(vary,), **values)
    bound.model.model.parameter(vary)
    found = locate_flips(bound.compiled, bound.values, vary, doublings, digits, progress)
    return Cascade(bound.model.name, vary, digits, found["bifurcations"], found["delta"], found["delta_aitken"],
                   found["stopped"], found["superstable"], found["alpha"], found["alpha_aitken"])


FEIGENBAUM_ALPHA = mpmath.mpf("2.502907875095892822283902873218215786381271376727149977336192056779235340")


def _aitken(sequence) -> list:
    out = []
    for i in range(len(sequence) - 2):
        denominator = (sequence[i + 2] - sequence[i + 1]) - (sequence[i + 1] - sequence[i])
        if denominator != 0:
            out.append(sequence[i + 2] - (sequence[i + 2] - sequence[i + 1]) ** 2 / denominator)
    return out


def alpha_estimates(distances) -> dict:
    r"""Ratio estimates :math:`\alpha_j = |d_j / d_{j+1}|` of Feigenbaum's :math:`\alpha` from the distances
    :math:`d_j` of the critical point to its nearest neighbour on the superstable orbit of period :math:`2^j`, and
    their acceleration by Aitken's :math:`\Delta^2` applied **twice**: the error of the ratios is a sum of two
    geometric sequences, :math:`(-1/\alpha)^j` (measured ratio of successive errors -0.3995 on ``uv-eos``) and
    then :math:`\delta^{-j}` (0.21 after one pass), and each pass removes one. Returns
    ``{"alpha", "alpha_aitken"}`` (lists; mpmath numbers if given)."""
    ratios = [abs(distances[i] / distances[i + 1]) for i in range(len(distances) - 1)]
    return {"alpha": ratios, "alpha_aitken": _aitken(_aitken(ratios))}


def alpha_correct_digits(estimate) -> int:
    """Number of significant digits of ``estimate`` that agree with Feigenbaum's alpha."""
    error = abs(mpmath.mpf(estimate) - FEIGENBAUM_ALPHA)
    return int(math.floor(-mpmath.log10(error / FEIGENBAUM_ALPHA))) if error > 0 else 99
