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

from .errors import DomainError

DIGITS = 50
UNIT_TOLERANCE = sp.Float(10) ** -40  # |mu| within this of 1, at 50 digits, is exactly 1


def classify(moduli, on_a_line: bool) -> str:
    """``attracting`` / ``repelling`` / ``saddle`` / ``non-hyperbolic``, with the line qualifier when it applies.

    A line of fixed points has one eigenvalue identically 1; it is qualified by what the others do (the
    transverse stability of the line).
    """
    unit = [abs(m - 1) < UNIT_TOLERANCE for m in moduli]
    inside = [m < 1 and not u for m, u in zip(moduli, unit)]
    outside = [m > 1 and not u for m, u in zip(moduli, unit)]
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


def _float(value) -> float:
    """A real SymPy number as a float; beyond float64's range, a signed infinity (never an OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, float(sp.sign(value)))


def number_json(value):
    """A real number as a JSON number, a complex one as ``{"re", "im"}``, at float precision. A magnitude beyond
    float64 becomes a signed infinity, which the JSON writer prints as ``null``."""
    value = sp.N(value, DIGITS)
    real, imaginary = (_float(part) for part in value.as_real_imag())
    if abs(imaginary) <= 1e-30 * max(1.0, abs(real)):
        return real
    return {"re": real, "im": imaginary}


@dataclass
class FixedPoint:
    """A fixed point (or the representative point of a set of them) evaluated at given parameter values.

    ``coordinates`` and ``eigenvalues`` are floats (complex eigenvalues as ``{"re", "im"}``); ``stability`` is
    the classification of :func:`classify`; ``realizable`` says whether parameters exist with this state
    (``None`` where the question does not apply); ``line`` describes a set (its free variable, closed-form
    eigenvalues along it and the inequalities for transverse attraction)."""

    label: str
    coordinates: dict
    eigenvalues: list
    stability: str
    expression: str
    realizable: Optional[bool]
    line: Optional[dict] = None

    def to_dict(self) -> dict:
        """One entry of ``sharpness fixed-points --json``."""
        entry = {"label": self.label, "coordinates": self.coordinates, "eigenvalues": self.eigenvalues,
                 "stability": self.stability, "expression": self.expression, "realizable": self.realizable}
        if self.line:
            entry["line"] = self.line
        return entry


@dataclass
class FixedPointTable:
    """The fixed points of a model at given parameter values: iterable, indexable by position or label."""

    model: str
    parameterization: str
    parameters: dict
    points: list = field(default_factory=list)

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

    def to_dict(self) -> list:
        """``sharpness fixed-points --json``: the list of :meth:`FixedPoint.to_dict`."""
        return [point.to_dict() for point in self.points]

    def __str__(self) -> str:
        lines = []
        for point in self.points:
            coords = ", ".join(f"{k} = {v:.10g}" for k, v in point.coordinates.items())
            eigs = ", ".join(f"{v:.10g}" if isinstance(v, float) else f"{v['re']:.6g}{v['im']:+.6g}j"
                             for v in point.eigenvalues)
            real = "" if point.realizable in (None, True) else "  [not realizable]"
            lines.append(f"{point.label:>4}: {coords}   eigenvalues [{eigs}]   {point.stability}{real}")
            lines.append(f"      {point.expression}")
        return "\n".join(lines)


def realizable(derivation, state_values: dict, values: dict) -> bool | None:
    r"""Whether some parameter configuration has this state (Gram models: a PSD Gram matrix exists).

    The state fixes some combinations of the Gram entries of the parameters (and, with momentum, of the
    velocities: :meth:`~analysis.model.GramModel.state_gram_matrix`); the inverse substitution leaves
    :math:`G(t) = A_0 + \sum_i t_i A_i` affine in the leftover entries :math:`t`. The state is realizable iff
    :math:`\max_t \lambda_{\min}(G(t)) \ge 0`, a concave maximisation decided by Kelley's cutting planes
    (:func:`_max_smallest_eigenvalue`), which brackets the maximum between a value attained and an upper bound
    certified by the cuts. ``True``/``False`` only when the bracket decides it at tolerance
    :math:`10^{-9}(1 + \max|s|)`; ``None`` where the question does not apply (coordinate models: every state is
    a configuration) or the bracket does not decide it. The width is not a constraint here (:math:`n` at least
    the number of vectors).
    """
    if derivation.kind != "gram":
        return None
    definitions = derivation.result("state_definitions").data
    spec = derivation.spec
    leftovers = list(definitions["leftovers"])
    entries = {**{g: g for g in leftovers}, **definitions["inverse"]}
    matrix = spec.state_gram_matrix().subs(entries).subs({**values, **state_values})
    constant = np.array(matrix.subs({g: 0 for g in leftovers}), dtype=float)
    directions = [np.array(matrix.diff(g), dtype=float) for g in leftovers]
    scale = 1.0 + max(abs(float(v)) for v in state_values.values())
    trace = sp.expand(matrix.trace())
    # PSD implies |G_ij| <= trace: a certified box where the trace is fixed by the state, else a wide one.
    bound = float(trace) if not trace.has(*leftovers) else 1e6 * scale
    if bound < -1e-9 * scale:
        return False
    low, high = _max_smallest_eigenvalue(constant, directions, max(bound, 1e-300), 1e-9 * scale)
    if low >= -1e-9 * scale:
        return True
    if high < -1e-9 * scale:
        return False
    return None


def _max_smallest_eigenvalue(constant, directions, bound: float, tolerance: float, cuts: int = 400) -> tuple:
    r"""A bracket ``(low, high)`` of :math:`\max_{|t_i| \le B} \lambda_{\min}(A_0 + \sum_i t_i A_i)`.

    :math:`\lambda_{\min}` is concave; for any unit :math:`z`, :math:`z^\top G(t) z \ge \lambda_{\min}(G(t))` is
    an affine upper bound (a cut). Kelley's method maximises the minimum of the cuts (a linear programme), evaluates
    :math:`\lambda_{\min}` there (``low`` is the best value attained) and adds the cut of its eigenvector; the LP
    optimum is ``high``. It stops once the bracket lies on one side of :math:`\pm` ``tolerance`` or is narrower."""
    from scipy.optimize import linprog

    def smallest(t):
        values, vectors = np.linalg.eigh(constant + sum(x * a for x, a in zip(t, directions)))
        return values[0], vectors[:, 0]

    if not directions:
        value = smallest([])[0]
        return value, value
    t = np.zeros(len(directions))
    low, high = -np.inf, np.inf
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
            high = min(high, -plan.fun)
            t = plan.x[:-1]
        if low >= -tolerance or high < -tolerance or high - low <= tolerance:
            break
    return low, high


def fixed_points_at(derivation, values: dict) -> FixedPointTable:
    """Every fixed point of the derived map at parameter ``values`` (``{symbol: exact number}``, as bound by
    :meth:`analysis.model.Model.bind_values`), as a :class:`FixedPointTable` of :class:`FixedPoint`.

    Fields: ``label``, ``coordinates`` (state name -> number), ``eigenvalues``, ``stability``, ``expression``
    (closed form), ``realizable``; a line of fixed points also has ``line``: its free state variable, the
    closed-form eigenvalues along it, and the inequalities for transverse attraction. Its ``coordinates`` give
    the point on the line where it loses stability (eigenvalue -1), or the free variable at 0 if there is none;
    on a set with several free coordinates the others are pinned at 1 first.
    """
    model = derivation.model
    names = {s.symbol: s.name for s in model.state}
    fixed = derivation.result("fixed_points").fixed_points
    stability = {e.label: e for e in derivation.result("stability").fixed_points}
    entries = []
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
                real_roots = [r for r in sp.solve(sp.Eq(mu, -1), first) if sp.im(r) == 0]
                if real_roots:
                    anchor = real_roots[0]
                    break
            pinned[first] = anchor
            coordinates = {s: (pinned[s] if c is None else c.subs(pinned)) for s, c in coordinates.items()}
            line = {"free": names[first] if not others else [names[s] for s in point.free],
                    "eigenvalues": [str(mu) for mu in along],
                    "attracting_if": None if info.attracting_if is None else
                    [str(sp.simplify(i.subs(values))) for i in info.attracting_if]}
        at = {**values, **coordinates}
        eigenvalues = [mu.subs(at) for mu in info.eigenvalues]
        moduli = [sp.N(sp.Abs(mu), DIGITS) for mu in eigenvalues]
        if not all(m.is_finite for m in moduli):
            raise DomainError("the parameters", ", ".join(f"{s} = {v}" for s, v in values.items()),
                              "such that the fixed points' eigenvalues are finite")
        expression = ", ".join(f"{names[s]} = {c}" for s, c in point.coordinates.items() if c is not None)
        if point.free:
            expression += f" (any {', '.join(names[s] for s in point.free)})"
        entries.append(FixedPoint(
            label=point.label,
            coordinates={names[s]: number_json(c) for s, c in coordinates.items()},
            eigenvalues=[number_json(mu) for mu in eigenvalues],
            stability=classify(moduli, bool(point.free)),
            expression=expression,
            realizable=realizable(derivation, coordinates, values),
            line=line))
    parameters = {p.name: _float(values[p.symbol]) for p in model.parameters if p.symbol in values}
    return FixedPointTable(model.name, derivation.parameterization, parameters, entries)
