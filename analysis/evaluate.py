"""Numbers from derived closed forms: fixed points, eigenvalues and their classification at given parameters.

Evaluation is exact where SymPy can (rational inputs) and otherwise at 50 significant digits, so that a
modulus of exactly 1 (a line of fixed points, a bifurcation point) is recognised as such, not as 1 - 1e-16.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import sympy as sp

from .derivations.common import roman
from .derivations.spectrum import solve_multiplier
from .errors import DomainError

DIGITS = 50
UNIT_TOLERANCE = sp.Float(10) ** -40  # |mu| within this of 1, at 50 digits, is exactly 1


def classify(moduli, on_a_line: bool) -> str:
    r"""``attracting`` / ``repelling`` / ``saddle`` / ``non-hyperbolic``, with the line qualifier when it applies.

    ``moduli`` are the moduli :math:`|\mu_i|` of the multipliers (real numbers: complex multipliers are
    classified by their moduli only, never compared themselves). A line of fixed points has one eigenvalue
    identically 1; it is qualified by what the others do (the transverse stability of the line).
    """
    moduli = [sp.Float(m, DIGITS) if not isinstance(m, sp.Basic) else m for m in moduli]
    unit = [abs(m - 1) < UNIT_TOLERANCE for m in moduli]
    inside = [bool(m < 1) and not u for m, u in zip(moduli, unit)]
    outside = [bool(m > 1) and not u for m, u in zip(moduli, unit)]
    if on_a_line:
        rest = [(i, o) for i, o, u in zip(inside, outside, unit) if not u] or [(False, False)]
        if len(rest) < len(moduli) - 1 or any(not i and not o for i, o in rest):
            return "non-hyperbolic (line of fixed points, marginal)"
        if all(i for i, _ in rest):
            return "non-hyperbolic (line of fixed points, transversally attracting)"
        if all(o for _, o in rest):
            return "non-hyperbolic (line of fixed points, transversally repelling)"
        return "non-hyperbolic (line of fixed points, transversally saddle)"
    if any(unit):
        return "non-hyperbolic"
    if all(inside):
        return "attracting"
    if all(outside):
        return "repelling"
    return "saddle"


def multiplier_parts(value) -> tuple:
    """``(real part, imaginary part, modulus)`` of a multiplier at :data:`DIGITS` digits, as real SymPy Floats
    (``sp.N(Abs(mu))`` can keep a ``0.e-57*I`` that refuses comparison; this never does)."""
    real, imaginary = (sp.Float(part, DIGITS) for part in sp.N(value, DIGITS).as_real_imag())
    return real, imaginary, sp.sqrt(real ** 2 + imaginary ** 2)


def is_non_real(imaginary, modulus) -> bool:
    """Whether a multiplier has a nonzero imaginary part at :data:`DIGITS` digits (relative to its modulus)."""
    return abs(imaginary) > sp.Float(10) ** -30 * max(1, modulus)


def _float(value) -> float:
    """A real SymPy number as a float; beyond float64's range, a signed infinity (never an OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, float(sp.sign(value)))


def number_json(value):
    r"""A real number as a JSON number, a complex one as ``{"re", "im", "modulus", "argument"}`` (the argument in
    radians, in :math:`(-\pi, \pi]`), at float precision. A magnitude beyond float64 becomes a signed infinity,
    which the JSON writer prints as ``null``."""
    real, imaginary, modulus = multiplier_parts(value)
    if not is_non_real(imaginary, modulus):
        return _float(real)
    return {"re": _float(real), "im": _float(imaginary), "modulus": _float(modulus),
            "argument": _float(sp.atan2(imaginary, real))}


def number_text(value) -> str:
    """A number of :func:`number_json` as text: 10 significant digits, a complex one as ``re+imj`` (6 digits)."""
    if isinstance(value, dict):
        return f"{value['re']:.6g}{value['im']:+.6g}j"
    return f"{value:.10g}"


@dataclass
class FixedPoint:
    r"""A fixed point (or the representative point of a set of them) evaluated at given parameter values.

    ``coordinates`` and ``eigenvalues`` are floats (complex eigenvalues as ``{"re", "im", "modulus",
    "argument"}``); ``stability`` is the classification of :func:`classify` by the moduli; ``focus`` is ``True``
    where some multiplier is not real: a complex-conjugate pair :math:`r e^{\pm i\theta}` turns the
    linearised orbit by :math:`\theta` per step in its plane, so nearby orbits spiral into (:math:`r < 1`) or
    out of (:math:`r > 1`) the point (a focus, as for flows); ``realizable`` says whether parameters exist with
    this state (``None`` where the question does not apply); ``line`` describes a set (its free variable,
    closed-form eigenvalues along it and the inequalities for transverse attraction); ``exact`` is ``False`` for
    a point found by a numeric search (its coordinates are verified at 50 digits, not closed forms);
    ``closed_form`` is ``False`` for a point that the derivation's closed forms in the parameters do not give
    (found by the solve at these values only: its flips cannot be solved for a parameter symbolically)."""

    label: str
    coordinates: dict
    eigenvalues: list
    stability: str
    expression: str
    realizable: Optional[bool]
    line: Optional[dict] = None
    focus: bool = False
    exact: bool = True
    closed_form: bool = True
    mean_square: Optional[object] = None  # mini-batch SGD: analysis.stochastic.MeanSquareStability

    def to_dict(self) -> dict:
        """One entry of ``fixed_points`` in ``sharpness fixed-points --json`` (under ``--optimizer sgd`` with
        ``mean_square_threshold``: :meth:`analysis.stochastic.MeanSquareStability.to_dict`)."""
        entry = {"label": self.label, "coordinates": self.coordinates, "eigenvalues": self.eigenvalues,
                 "stability": self.stability, "focus": self.focus, "expression": self.expression,
                 "exact": self.exact, "closed_form": self.closed_form, "realizable": self.realizable}
        if self.line:
            entry["line"] = self.line
        if self.mean_square is not None:
            entry["mean_square_threshold"] = self.mean_square.to_dict()
        return entry


@dataclass
class FixedPointTable:
    """The fixed points of a model at given parameter values: iterable, indexable by position or label.

    ``complete`` says whether the list holds every real fixed point (decided by exact elimination,
    :func:`analysis.polynomial_systems.real_solutions`), ``method`` how they were found, ``reason`` why the list
    is not complete or why it is empty; ``non_real`` counts the solutions of :math:`F(s) = s` with nonzero
    imaginary part that were left out (``None`` where not counted)."""

    model: str
    parameterization: str
    parameters: dict
    points: list = field(default_factory=list)
    complete: bool = True
    method: str = ""
    reason: Optional[str] = None
    non_real: Optional[int] = None

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, key):
        if isinstance(key, str):
            for point in self.points:
                if point.label == key:
                    return point
            raise KeyError(f"no fixed point labelled {key!r}; labels: {', '.join(p.label for p in self.points)}")
        return self.points[key]

    def to_dict(self) -> dict:
        """``sharpness fixed-points --json``: ``{"complete", "method", "reason", "non_real", "fixed_points"}``,
        the last a list of :meth:`FixedPoint.to_dict`."""
        return {"complete": self.complete, "method": self.method, "reason": self.reason, "non_real": self.non_real,
                "fixed_points": [point.to_dict() for point in self.points]}

    @property
    def summary(self) -> str:
        """One line: whether the list is complete, how it was found, and why it is not (or why it is empty)."""
        method = self.method.split(":")[0]
        if self.complete:
            text = f"complete ({method})"
            if self.non_real:
                text += f"; {self.non_real} solution(s) with nonzero imaginary part left out"
        else:
            text = f"not complete ({method})"
        return text + (f": {self.reason}" if self.reason else "")

    def __str__(self) -> str:
        lines = []
        for point in self.points:
            coords = ", ".join(f"{k} = {number_text(v)}" for k, v in point.coordinates.items())
            eigs = ", ".join(number_text(v) for v in point.eigenvalues)
            moduli = ""
            if point.focus:
                moduli = "   |mu| [" + ", ".join(f"{v['modulus']:.6g}" if isinstance(v, dict) else f"{abs(v):.6g}"
                                               for v in point.eigenvalues) + "]"
            real = "" if point.realizable in (None, True) else "  [not realizable]"
            stability = point.stability + (" (focus)" if point.focus else "")
            lines.append(f"{point.label:>4}: {coords}   eigenvalues [{eigs}]{moduli}   {stability}{real}")
            lines.append(f"      {point.expression}")
            if point.mean_square is not None:
                lines.append(f"      {point.mean_square}")
        lines.append(self.summary)
        return "\n".join(lines)


def realizable(derivation, state_values: dict, values: dict) -> bool | None:
    r"""Whether some parameter configuration has this state (Gram models: a PSD Gram matrix exists).

    The state fixes some combinations of the Gram entries of the parameters (and, with momentum, of the
    velocities: :meth:`~analysis.model.GramModel.state_gram_matrix`); the inverse substitution leaves
    :math:`G(t) = A_0(s) + \sum_i t_i A_i` affine in the leftover entries :math:`t`. The state is realizable iff
    :math:`\max_t \lambda_{\min}(G(t)) \ge 0`, a concave maximisation over the box :math:`|t_i| \le B`, bracketed
    between a value attained and a certified upper bound. A ternary search along one :math:`t_i` at a time
    (:func:`_coordinate_ascent`) gives the value; for one leftover entry it is exact and the upper bound is the
    Lipschitz bound :math:`\|A_1\|_2` times the final interval; for several, where the ascent has not shown the
    state realizable, Kelley's cutting planes (:func:`_max_smallest_eigenvalue`) continue from it and certify
    the upper bound; a zero sum of diagonal entries forces their rows to zero first (:func:`_decide_psd`).
    Where the state fixes the trace, :math:`G` is divided by it and :math:`B = 1` (PSD implies
    :math:`|G_{ij}| \le \operatorname{tr} G`), the tolerance :math:`10^{-9}` relative to it; otherwise the box is
    wide and unproven, so the answer is never ``False``. ``True``/``False`` only when the bracket decides it;
    ``None`` where the question does not apply (coordinate models: every state is a configuration), where the
    bracket does not decide it, or instead of ``True`` where the width is below the number of vectors (rank is
    not checked).
    """
    key = (derivation.cache_key, tuple(state_values.items()), tuple(values.items()))
    if key not in _VERDICTS:  # symbolic work and a search, tens of ms: once per state and values in a process
        if len(_VERDICTS) >= 4096:
            _VERDICTS.clear()
        decided = realizable_states(derivation, {s: [v] for s, v in state_values.items()}, values)
        _VERDICTS[key] = None if decided is None else decided[0]
    return _VERDICTS[key]


_VERDICTS: dict = {}  # realizable(): (derivation's cache key, state, values) -> the verdict


def realizable_states(derivation, states: dict, values: dict):
    """:func:`realizable` for many states at once (``{state symbol: sequence of values}``, all of one length): an
    object array of ``True``/``False``/``None``, or ``None`` for a coordinate model. The symbolic work is done once
    for all states; one leftover entry is decided for all states together."""
    if derivation.kind != "gram":
        return None
    definitions = derivation.result("state_definitions")
    spec = derivation.spec
    leftovers = list(definitions.leftovers)
    symbols = list(states)
    entries = {**{g: g for g in leftovers}, **definitions.inverse}
    matrix = spec.state_gram_matrix().subs(entries).subs(values)
    columns = [np.asarray(states[s], dtype=float).ravel() for s in symbols]
    count = columns[0].size if columns else 1
    constant = sp.lambdify(symbols, matrix.subs({g: 0 for g in leftovers}), "numpy")
    base = np.stack([np.broadcast_to(np.asarray(constant(*row), dtype=float), matrix.shape)
                     for row in zip(*columns)]) if columns else np.array(matrix, dtype=float)[None]
    directions = [np.array(matrix.diff(g), dtype=float) for g in leftovers]
    trace = sp.expand(matrix.trace())
    tolerance = 1e-9 * (1.0 + (np.max(np.abs(np.stack(columns)), axis=0) if columns else np.zeros(1)))
    if trace.has(*leftovers):  # no certified box: a wide one, absolute tolerance; a False there is no proof
        decided = _decide_psd(base, directions, 1e6 * tolerance / 1e-9, tolerance)
        decided[decided == False] = None  # noqa: E712 - object array
    else:
        # PSD implies |G_ij| <= tr G: with G / tr G the box is |t_i| <= 1 and the tolerance relative to the trace
        total = np.broadcast_to(np.asarray(sp.lambdify(symbols, trace, "numpy")(*columns), dtype=float), (count,))
        norm = np.where(np.abs(total) > tolerance, np.abs(total), 1.0)
        # (G / tr G = A_0 / tr G + sum_i (t_i / tr G) A_i: the same directions, leftovers in units of the trace)
        # (a negative trace is refused there: the sum over all diagonal entries is a fixed group)
        decided = _decide_psd(base / norm[:, None, None], directions, np.abs(total) / norm, np.full(count, 1e-9))
    width = values.get(spec.width)
    if width is not None and sp.sympify(width).is_number and float(width) < len(spec.all_vectors):
        # n vectors of R^width: rank <= width is not checked, so a PSD completion does not prove realizable
        decided[decided == True] = None  # noqa: E712 - object array
    return decided


def _decide_psd(base, directions, bound, tolerance):
    r"""For each state, whether some :math:`|t_i| \le B` makes :math:`A_0 + \sum_i t_i A_i` PSD
    (``True``/``False``/``None``).

    Face reduction first: a set :math:`S` of diagonal entries whose sum the state fixes (the directions do not
    change it) must have a sum :math:`\ge 0`, and a zero sum forces the rows and columns :math:`S` to zero (the
    velocity block of a state at rest, where :math:`\lambda_{\min}` would peak at exactly 0, which no numerical
    ascent reaches from below). Those entries give linear equations in :math:`t`; an inconsistent system is
    ``False``, else :math:`t = t_0 + N z` and the reduced problem on the other rows is bracketed by
    :func:`_bracket`."""
    import itertools

    count, k = base.shape[0], base.shape[1]
    stack = np.array(directions).reshape(len(directions), k, k)
    bound = np.broadcast_to(np.asarray(bound, dtype=float), (count,))
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=float), (count,))
    decided = np.full(count, None, dtype=object)
    forced = np.zeros((count, k), dtype=bool)
    for size in range(1, k + 1):
        for group in itertools.combinations(range(k), size):
            group = list(group)
            if np.any(np.abs(stack[:, group, group].sum(axis=1)) > 1e-12 * max(1.0, np.abs(stack).max(initial=0.0))):
                continue  # the free entries change this sum
            total = base[:, group, group].sum(axis=1)
            decided[total < -tolerance] = False
            # Only an (exactly) zero sum forces the rows to zero: a sum delta > 0 allows off-diagonal entries up to
            # sqrt(delta), far above the tolerance (such states go to the bracket below).
            forced[:, group] |= (np.abs(total) <= 1e-6 * tolerance)[:, None]
    open_lanes = np.array([d is None for d in decided])
    for pattern in {tuple(row) for row in forced[open_lanes]}:
        lanes = np.flatnonzero(open_lanes & np.all(forced == pattern, axis=1))
        zero = [i for i in range(k) if pattern[i]]
        rest = [i for i in range(k) if not pattern[i]]
        local = base[lanes]
        directions_local = stack
        box = bound[lanes]
        if zero:
            pairs = [(a, b) for a in zero for b in range(k)]
            system = np.array([[d[a, b] for d in stack] for a, b in pairs]).reshape(len(pairs), len(stack))
            rhs = -np.array([local[:, a, b] for a, b in pairs]).T  # lanes x equations
            solution = (np.linalg.pinv(system) @ rhs.T).T if len(stack) else np.zeros((len(lanes), 0))
            residual = np.abs(solution @ system.T - rhs).max(axis=1) if pairs else np.zeros(len(lanes))
            inconsistent = residual > tolerance[lanes]
            decided[lanes[inconsistent]] = False
            keep = ~inconsistent
            lanes, local, solution, box = lanes[keep], local[keep], solution[keep], box[keep]
            if not rest:
                decided[lanes] = True
                continue
            _, singular, right = np.linalg.svd(system) if len(stack) else (None, np.zeros(0), np.zeros((0, 0)))
            null = right[np.sum(singular > 1e-12 * max(singular.max(initial=0), 1)):].T  # columns span ker
            local = (local + np.einsum("ni,ijk->njk", solution, stack))[:, rest][:, :, rest]
            directions_local = np.einsum("im,ijk->mjk", null, stack)[:, rest][:, :, rest]
            # t = t_0 + N z with N orthonormal: |z|_inf <= |N^T (t - t_0)|_2 <= sqrt(m) B + |t_0|_2
            box = np.sqrt(len(stack)) * box + np.linalg.norm(solution, axis=1)
        if not len(lanes):
            continue
        low, high = _bracket(local, list(directions_local), box, tolerance[lanes])
        decided[lanes[high < -tolerance[lanes]]] = False
        decided[lanes[low >= -tolerance[lanes]]] = True
    return decided


def _bracket(base, directions, bound, tolerance) -> tuple:
    r"""``(low, high)``: a value attained and a certified upper bound of :math:`\max_{|t_i| \le B}
    \lambda_{\min}(A_0 + \sum_i t_i A_i)` for each state: :func:`_coordinate_ascent`, then for one direction the
    Lipschitz bound and for several Kelley's cutting planes (:func:`_max_smallest_eigenvalue`) where undecided."""
    start, low, width = _coordinate_ascent(base, directions, bound)
    if len(directions) <= 1:  # 1-D: the ternary search is exact up to the Lipschitz bound of lambda_min
        return low, low + (np.linalg.norm(directions[0], 2) * width if directions else 0.0)
    high = np.full(len(low), np.inf)
    for i in np.flatnonzero(low < -tolerance):
        low[i], high[i] = _max_smallest_eigenvalue(base[i], directions, bound[i], tolerance[i], start[i], low[i])
    return low, high


def _coordinate_ascent(base, directions, bound, sweeps: int = 4, iterations: int = 100) -> tuple:
    r"""Ascent of :math:`\lambda_{\min}(A_0 + \sum_i t_i A_i)` over :math:`|t_i| \le B` for a stack of
    :math:`A_0` and bounds at once, by ternary search along one :math:`t_i` at a time (exact for one leftover; a
    start and a lower bound for several, where a kink of the concave function can stop it short).
    Returns ``(t, value attained, final width of the last search)``."""
    count, m = base.shape[0], len(directions)
    t = np.zeros((count, m))

    def smallest(point):
        shift = np.einsum("ni,ijk->njk", point, np.array(directions)) if m else 0.0
        return np.linalg.eigvalsh(base + shift)[:, 0]

    width = np.zeros(count)
    for _ in range(sweeps if m > 1 else 1):
        for i in range(m):
            lower, upper = -bound.copy(), bound.copy()
            for _ in range(iterations):
                a, b = lower + (upper - lower) / 3, upper - (upper - lower) / 3
                at_a, at_b = t.copy(), t.copy()
                at_a[:, i], at_b[:, i] = a, b
                left = smallest(at_a) < smallest(at_b)
                lower, upper = np.where(left, a, lower), np.where(left, upper, b)
            t[:, i] = (lower + upper) / 2
            width = upper - lower
    return t, smallest(t), width


def _max_smallest_eigenvalue(constant, directions, bound: float, tolerance: float, start, attained,
                             cuts: int = 400) -> tuple:
    r"""A bracket ``(low, high)`` of :math:`\max_{|t_i| \le B} \lambda_{\min}(A_0 + \sum_i t_i A_i)`.

    :math:`\lambda_{\min}` is concave; for any unit :math:`z`, :math:`z^\top G(t) z \ge \lambda_{\min}(G(t))` is
    an affine upper bound (a cut). Kelley's method maximises the minimum of the cuts (a linear programme), evaluates
    :math:`\lambda_{\min}` there (``low`` is the best value attained) and adds the cut of its eigenvector; ``high``
    is the LP optimum's bound from its dual multipliers (weak duality, so it holds whatever the LP solver's
    tolerances). It starts at ``start``, where :math:`\lambda_{\min}` = ``attained``, and stops once the
    bracket lies on one side of :math:`\pm` ``tolerance`` or is narrower."""
    from scipy.optimize import linprog

    def smallest(t):
        values, vectors = np.linalg.eigh(constant + sum(x * a for x, a in zip(t, directions)))
        return values[0], vectors[:, 0]

    t = np.array(start, dtype=float)
    low, high = attained, np.inf
    rows, offsets = [], []
    for _ in range(cuts):
        value, z = smallest(t)
        low = max(low, value)
        # cut: s <= z^T A_0 z + sum_i t_i z^T A_i z, written -(z^T A_i z) t_i + s <= z^T A_0 z
        rows.append([-(z @ a @ z) for a in directions] + [1.0])
        offsets.append(z @ constant @ z)
        plan = linprog(np.r_[np.zeros(len(directions)), -1.0], A_ub=np.array(rows), b_ub=np.array(offsets),
                       bounds=[(-bound, bound)] * len(directions) + [(None, None)], method="highs")
        if plan.status == 0:
            # The bound from the duals y (y >= 0, sum 1), valid for any such y whatever the solver's tolerances:
            # max_t min_j (c_j + g_j t) <= sum_j y_j c_j + B |sum_j y_j g_j|_1.
            weights = np.clip(-plan.ineqlin.marginals, 0, None)
            if weights.sum() > 0:
                weights = weights / weights.sum()
                slopes = -np.array(rows)[:, :-1]
                high = min(high, weights @ np.array(offsets) + bound * np.abs(weights @ slopes).sum())
            t = plan.x[:-1]
        if low >= -tolerance or high < -tolerance or high - low <= tolerance:
            break
    return low, high


def fixed_points_at(derivation, values: dict) -> FixedPointTable:
    """Every real fixed point of the derived map at parameter ``values`` (``{symbol: exact number}``, as bound by
    :meth:`analysis.model.Model.bind_values`), as a :class:`FixedPointTable` of :class:`FixedPoint`.

    Two routes meet here. The closed forms of the ``fixed_points`` derivation (with the parameters free) are
    evaluated at ``values``; a closed form with a nonzero imaginary part there is no fixed point of the real map
    and is left out. Independently, :func:`analysis.polynomial_systems.real_solutions` finds every real solution
    of :math:`F(s) = s` at ``values`` off the derived sets (exact elimination, or a numeric search that says it
    is not complete). A point of that solve that no closed form gives is added, labelled after the closed forms,
    with its exact (``CRootOf``) coordinates and the Jacobian's eigenvalues evaluated there at 50 digits.

    Fields: ``label``, ``coordinates`` (state name -> number), ``eigenvalues``, ``stability``, ``focus``,
    ``expression`` (closed form), ``exact``, ``realizable``; a line of fixed points also has ``line``: its free
    state variable, the closed-form eigenvalues along it, and the inequalities for transverse attraction. Its
    ``coordinates`` give the point on the line where it loses stability (eigenvalue -1), or the free variable at
    0 if there is none; on a set with several free coordinates the others are pinned at 1 first. The table's
    ``complete``, ``method``, ``reason`` and ``non_real`` say what the list is.
    """
    from .polynomial_systems import real_solutions

    model = derivation.model
    if derivation.spec.optimizer == "adam":
        return FixedPointTable(model.name, derivation.parameterization,
                               {p.name: _float(values[p.symbol]) for p in model.parameters if p.symbol in values},
                               [], True, "the map's counter moves: t' = t + 1",
                               "Adam has no fixed points (its step counter t moves); its threshold on the "
                               "preconditioned sharpness is (2 + 2 beta1)/((1 - beta1) eta)", 0)
    names = {s.symbol: s.name for s in model.state}
    states = [s.symbol for s in model.state]
    fixed = derivation.result("fixed_points").solutions
    stability = {e.label: e for e in derivation.result("stability").points}
    mapping = derivation.result("function_map").images
    equations = [(mapping[s] - s).subs(values) for s in states]
    sets = [[sp.numer(sp.together((s - c).subs(values))) for s, c in point.coordinates.items() if c is not None]
            for point in fixed if point.free]
    solved = real_solutions(equations, states, sets)
    unmatched = list(solved.points)
    entries, exact_points = [], []
    for point in fixed:
        info = stability[point.label]
        coordinates = {s: (c.subs(values) if c is not None else None) for s, c in point.coordinates.items()}
        line = None
        if point.free:
            # A set of fixed points is reported at one of its points: the other free coordinates at 1, the first
            # where a transverse eigenvalue is -1 (where the set loses stability), else at the first of 0, 1, 2, ...
            # where the set and its eigenvalues are finite (on a hyperbola theta_1 = y/theta_2, 0 is not a point).
            first, *others = point.free
            pinned = {s: sp.Integer(1) for s in others}
            along = [sp.factor(mu.subs(values).subs(pinned)) for mu in info.eigenvalues]
            anchor = next((sp.Integer(a) for a in range(5)
                           if all(sp.N(e.subs(values).subs(pinned).subs(first, a)).is_finite
                                  for e in [*along, *(c for c in coordinates.values() if c is not None)])),
                          sp.Integer(0))
            for mu in along:
                real_roots = [r for r in solve_multiplier(mu, -1, first) if sp.im(r) == 0]
                if real_roots:
                    anchor = real_roots[0]
                    break
            pinned[first] = anchor
            coordinates = {s: (pinned[s] if c is None else c.subs(pinned)) for s, c in coordinates.items()}
            line = {"free": names[first] if not others else [names[s] for s in point.free],
                    "eigenvalues": [str(mu) for mu in along],
                    "attracting_if": None if info.attracting_if is None else
                    [str(sp.simplify(i.subs(values))) for i in info.attracting_if]}
        else:
            parts = [multiplier_parts(c) for c in coordinates.values()]
            if not all(m.is_finite for _, _, m in parts):
                continue  # the closed form has no value here (a pole of it): the solve below has the point if any
            if any(is_non_real(im, m) for _, im, m in parts):
                continue  # not a point of the real map at these values
            match = _nearest(unmatched, coordinates)
            if match is not None:
                unmatched.remove(match)
        at = {**values, **coordinates}
        eigenvalues = [mu.subs(at) for mu in info.eigenvalues]
        expression = ", ".join(f"{names[s]} = {c}" for s, c in point.coordinates.items() if c is not None)
        if point.free:
            expression += f" (any {', '.join(names[s] for s in point.free)})"
        entries.append(_evaluated(derivation, point.label, coordinates, eigenvalues, expression, values, names,
                                  bool(point.free), line))
        exact_points.append(coordinates)
    jacobian = derivation.result("jacobian").matrix
    for index, coordinates in enumerate(unmatched):
        eigenvalues = _numeric_eigenvalues(jacobian.subs(values).subs(coordinates))
        expression = ", ".join(f"{names[s]} = {c}" for s, c in coordinates.items()) if solved.complete else \
            "found by the numeric search (no closed form)"
        entries.append(_evaluated(derivation, roman(len(fixed) + index + 1), coordinates, eigenvalues, expression,
                                  values, names, False, None, exact=solved.complete, closed_form=False))
        exact_points.append(coordinates)
    if getattr(derivation.spec, "batch_size", None) is not None:  # mini-batch SGD: mean-square stability at each point
        from .derivations.common import control_parameter
        from .derivations.graph import Context
        from .stochastic import mean_square_at

        step = control_parameter(Context(model, derivation.parameterization, derivation.spec, {}))
        for entry, coordinates in zip(entries, exact_points):
            entry.mean_square = mean_square_at(derivation.spec, values, coordinates, step)
    parameters = {p.name: _float(values[p.symbol]) for p in model.parameters if p.symbol in values}
    # A complete, non-empty list needs no reason; an empty one always has one (the solve's, or this).
    reason = solved.reason if not solved.complete or not entries else None
    if not entries and reason is None:
        reason = "every real solution lies on a set that has no real point here"
    return FixedPointTable(model.name, derivation.parameterization, parameters, entries, solved.complete,
                           solved.method, reason, solved.non_real)


def _nearest(points: list, coordinates: dict):
    """The point of ``points`` equal to ``coordinates`` at 30 digits, or ``None``."""
    for point in points:
        if all(abs(sp.N(point[s] - c, DIGITS)) < sp.Float(10) ** -30 * (1 + abs(sp.N(c, 15)))
               for s, c in coordinates.items()):
            return point
    return None


def _numeric_eigenvalues(matrix) -> list:
    """Eigenvalues of a matrix of exact numbers at :data:`DIGITS` digits (``mpmath.eig``), as SymPy numbers."""
    import mpmath

    with mpmath.workdps(DIGITS + 10):
        entries = mpmath.matrix([[mpmath.mpmathify(sp.N(e, DIGITS + 10)) for e in row] for row in matrix.tolist()])
        # (mpmath.eig of a 1 x 1 matrix returns the eigenvectors too, whatever left and right say)
        values = [entries[0, 0]] if matrix.shape == (1, 1) else mpmath.eig(entries, left=False, right=False)
        return [sp.Float(v.real, DIGITS) + sp.I * sp.Float(v.imag, DIGITS) if isinstance(v, mpmath.mpc)
                else sp.Float(v, DIGITS) for v in values]


def _evaluated(derivation, label, coordinates, eigenvalues, expression, values, names, on_a_set, line,
               exact=True, closed_form=True) -> FixedPoint:
    """The :class:`FixedPoint` of a point with exact ``coordinates`` and ``eigenvalues`` at the parameters."""
    parts = [multiplier_parts(mu) for mu in eigenvalues]
    if not all(m.is_finite for _, _, m in parts):
        raise DomainError("the parameters", ", ".join(f"{s} = {v}" for s, v in values.items()),
                          "such that the fixed points' eigenvalues are finite")
    return FixedPoint(
        label=label,
        coordinates={names[s]: number_json(c) for s, c in coordinates.items()},
        eigenvalues=[number_json(mu) for mu in eigenvalues],
        stability=classify([m for _, _, m in parts], on_a_set),
        expression=expression,
        realizable=realizable(derivation, coordinates, values),
        line=line,
        focus=any(is_non_real(im, m) for _, im, m in parts),
        exact=exact,
        closed_form=closed_form)
