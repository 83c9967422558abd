"""Pseudo-arclength continuation: the branch system of :math:`F^J(x) - x = 0`, the corrector, the tangent,
Illinois location of test-function zeros, and the stepping loop (shared by one- and two-parameter runs)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOCATE_TOLERANCE = 1e-12  # bracket width (in the continuation variable) at which a special point is accepted
NEWTON_TOLERANCE = 1e-12
MAX_POINTS = 400  # points per branch (default)
MAX_DOUBLINGS = 16
DEGENERATE = 1e-9  # a normal-form coefficient below this is reported as degenerate (round-off level)
NORMAL_FORM_TESTS = ("GPD", "CP", "CH")
ZERO_FRACTION = 1e-4  # a located normal-form zero must be this far below the step's ends (else: a pole)
BEYOND_FLIP = 40  # a period-doubled branch is followed this many points beyond its own flip
CODIM2 = {"PD": ("R2", "LPPD", "PDNS", "GPD"), "LP": ("CP", "R1", "LPPD"),
          "NS": ("R1", "R2", "R3", "R4", "CH", "LPNS", "PDNS")}


def flip_criticality(b) -> str:
    """The criticality of a flip whose normal-form coefficient is ``b`` (:func:`.derivatives.flip_coefficient`,
    MatContM's ``nf_PDm``, normal form :math:`\\xi \\mapsto -(1 + \\alpha)\\xi + b\\xi^3`): ``supercritical``
    (b > 0: the period-2J orbit exists where the period-J orbit has lost stability, and attracts in the critical
    direction), ``subcritical`` (b < 0: it exists where the period-J orbit is still stable, and repels in that
    direction), ``degenerate`` (|b| below :data:`DEGENERATE`, round-off level, or not finite: undecided)."""
    return "degenerate" if not abs(b) >= DEGENERATE else "supercritical" if b > 0 else "subcritical"


# --------------------------------------------------------------------------------------- one-parameter engine
class _OrbitSystem:
    """:math:`F^J(x, p) - x = 0` in the unknowns ``u`` = (the state coordinates not held, the continuation
    variable); the continuation variable is parameter ``index`` (``kind = "parameter"``) or state coordinate
    ``index`` (``kind = "state"``, a family traced along itself)."""

    def __init__(self, kern, period, x, p, kind, index, held=()):
        self.kern, self.period = kern, period
        self.x0, self.p0 = np.array(x, float), np.array(p, float)
        self.kind, self.index = kind, index
        d = kern.dimension
        self.held = set(held)
        self.free_states = [i for i in range(d) if i not in self.held and not (kind == "state" and i == index)]
        self.family = bool(held) or kind == "state"

    def unpack(self, u):
        x, p = self.x0.copy(), self.p0.copy()
        x[self.free_states] = u[:-1]
        if self.kind == "parameter":
            p[self.index] = u[-1]
        else:
            x[self.index] = u[-1]
        return x, p

    def pack(self, x, p):
        c = p[self.index] if self.kind == "parameter" else x[self.index]
        return np.concatenate([np.asarray(x, float)[self.free_states], [c]])

    def evaluate(self, u):
        x, p = self.unpack(u)
        image, A, P = self.kern.orbit(x, p, self.period)
        R = image - x
        d = len(x)
        G = A - np.eye(d)
        last = P[:, self.index] if self.kind == "parameter" else G[:, self.index]
        J = np.column_stack([G[:, self.free_states], last])
        return R, J, A

    def tests(self, u, t, J, A):
        mu = np.linalg.eigvals(A)
        d = len(mu)
        out = {"PD": float(np.real(np.prod(mu + 1)))}
        if d >= 2:
            out["NS"] = float(np.real(np.prod([mu[i] * mu[j] - 1 for i in range(d) for j in range(i + 1, d)])))
        if not self.family:
            out["LP"] = float(t[-1])
            out["BP"] = float(np.linalg.det(np.vstack([J, t])))
        return out, mu


def _tangent(J, previous=None):
    _, _, vt = np.linalg.svd(J)
    t = vt[-1]
    if previous is not None and np.dot(t, previous) < 0:
        t = -t
    return t


def _correct(system, guess, t, anchor, tol=NEWTON_TOLERANCE, iterations=12):
    """Newton (Gauss-Newton for rank-deficient families) on :math:`G(u) = 0`, :math:`\\langle t, u - \\text{guess}
    \\rangle = 0`; returns ``(u, J, A, iterations)`` or ``None``."""
    u = guess.copy()
    for it in range(1, iterations + 1):
        R, J, A = system.evaluate(u)
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(J))):
            return None
        system_matrix = np.vstack([J, t])
        rhs = -np.concatenate([R, [np.dot(t, u - anchor)]])
        if system_matrix.shape[0] == system_matrix.shape[1]:
            try:
                du = np.linalg.solve(system_matrix, rhs)
            except np.linalg.LinAlgError:
                du = np.linalg.lstsq(system_matrix, rhs, rcond=None)[0]
        else:
            du = np.linalg.lstsq(system_matrix, rhs, rcond=None)[0]
        u = u + du
        if not np.all(np.isfinite(u)):
            return None
        if np.max(np.abs(du)) <= tol * (1 + np.max(np.abs(u))):
            R, J, A = system.evaluate(u)
            if np.max(np.abs(R)) > 1e-7 * (1 + np.max(np.abs(u))):
                return None
            return u, J, A, it
    return None


@dataclass
class _Point:
    u: np.ndarray
    t: np.ndarray
    J: np.ndarray
    A: np.ndarray
    tests: dict
    mu: np.ndarray


def _make_point(system, u, J, A, t_prev):
    t = _tangent(J, t_prev)
    tests, mu = system.tests(u, t, J, A)
    return _Point(u, t, J, A, tests, mu)


def _locate(system, a: _Point, h, name, tolerance=LOCATE_TOLERANCE):
    """Illinois regula falsi for test function ``name`` on the arclength ``s`` in ``[0, h]`` from ``a``."""
    def at(s):
        result = _correct(system, a.u + s * a.t, a.t, a.u + s * a.t)
        if result is None:
            return None
        u, J, A, _ = result
        return _make_point(system, u, J, A, a.t)

    lo, flo = 0.0, a.tests[name]
    b = at(h)
    if b is None:
        return None
    hi, fhi = h, b.tests[name]
    best = b
    side = 0
    for _ in range(200):
        s = hi - fhi * (hi - lo) / (fhi - flo) if fhi != flo else 0.5 * (lo + hi)
        if not (min(lo, hi) < s < max(lo, hi)):
            s = 0.5 * (lo + hi)
        point = at(s)
        if point is None:
            return best
        fs = point.tests[name]
        best = point
        if fs == 0:
            return point
        if np.sign(fs) == np.sign(fhi):
            hi, fhi = s, fs
            if side == +1:
                flo /= 2
            side = +1
        else:
            lo, flo = s, fs
            if side == -1:
                fhi /= 2
            side = -1
        # The bracket's width in the parameters (the last one or two unknowns): arclength times their tangent.
        speed = float(np.linalg.norm(a.t[getattr(system, "parameters_slice", slice(-1, None))]))
        if abs(hi - lo) * max(speed, 1e-300) < tolerance or abs(hi - lo) < 1e-15 * (1 + abs(h)):
            break
    return best


def _is_zero(located: _Point, a: _Point, b: _Point, name) -> bool:
    """Whether a located sign change of a normal-form coefficient is a zero rather than a pole. The coefficients
    are normalised by ``<p, q> = 1``, which fails where the critical eigenvalue becomes double (a Jordan block:
    R1 on LP curves, R2 on PD curves) or where ``(I - A)^{-1}`` is singular (LPPD on PD curves): there they
    change sign through infinity. At a zero the located value is far below both ends of the bracketing step."""
    value = located.tests.get(name)
    ends = max(abs(a.tests[name]), abs(b.tests[name]))
    return value is not None and bool(np.isfinite(value)) and abs(value) <= max(ZERO_FRACTION * ends, DEGENERATE)


def genuine_special(name, point: _Point) -> bool:
    """Whether a located sign change of test function ``name`` is the special point it tests for."""
    mu = point.mu
    if name == "PD":
        # det(A + I) changes sign only where a real multiplier crosses -1 (a complex pair contributes
        # |mu + 1|^2 > 0); a multiplier far from -1 at the located point means the step jumped branches.
        return bool(np.min(np.abs(mu + 1)) <= 1e-3)
    if name == "BP":
        # G_u loses rank at a branch point, so the bordered matrix [G_u; t] is singular there (else: a jump between
        # branches). Bordered, because for a 1-D map G_u is one row and vanishes entirely at a branch point. The
        # corrector is singular at a branch point too, which limits its location (to ~1e-5 in the parameter on
        # x -> x - eta (x - x^3), where the smallest singular value is then 3e-5): hence 1e-4, not round-off level.
        singular = np.linalg.svd(np.vstack([point.J, point.t]), compute_uv=False)
        return bool(singular[-1] <= 1e-4 * singular[0])
    if name == "NS":
        pair = [m for m in mu if abs(m.imag) > 1e-9]
        # else a neutral saddle (real multipliers with product 1), not a Neimark-Sacker point
        return bool(pair) and min(abs(abs(m) - 1) for m in pair) <= 1e-4
    return True


def _trace(system, start: _Point, h0, in_range, max_points, names, h_max, progress=None, beyond_flip=None):
    """Pseudo-arclength continuation from ``start`` (tangent oriented); returns ``(points, specials, why)``
    where ``specials`` are ``(name, point)`` located between consecutive points. With ``beyond_flip`` the branch
    stops that many points after its first PD."""
    points, specials = [start], []
    flip_at = None
    h = h0
    current = start
    why = None
    while len(points) < max_points:
        guess = current.u + h * current.t
        result = _correct(system, guess, current.t, guess)
        if result is None:
            h /= 2
            if h < 1e-13 * (1 + np.max(np.abs(current.u))):
                why = "step size underflow (the branch turns or ends)"
                break
            continue
        u, J, A, iterations = result
        new = _make_point(system, u, J, A, current.t)
        if np.dot(new.t, current.t) < 0.5:  # too large a turn: refine
            h /= 2
            continue
        for name in names:
            if name in NORMAL_FORM_TESTS and max(abs(current.tests.get(name, 0)), abs(new.tests.get(name, 0))) \
                    < DEGENERATE:
                continue  # a coefficient at round-off along the whole step (e.g. an area-preserving map): no sign
            if name in current.tests and name in new.tests and current.tests[name] * new.tests[name] < 0:
                located = _locate(system, current, h, name)
                if located is not None and name in NORMAL_FORM_TESTS and not _is_zero(located, current, new, name):
                    continue  # the coefficient changed sign through a pole (e.g. <p, q> -> 0 at R1/R2), not a zero
                if located is not None:
                    specials.append((name, located))
                    if name == "PD" and flip_at is None:
                        flip_at = len(points)
        if beyond_flip is not None and flip_at is not None and len(points) - flip_at >= beyond_flip:
            why = f"followed to {beyond_flip} points beyond its flip"
            break
        if not in_range(new.u):
            why = None
            break
        points.append(new)
        current = new
        if progress:
            progress()
        h = min(h * (1.6 if iterations <= 3 else 1.0 if iterations <= 6 else 0.5), h_max)
    else:
        why = f"maximum of {max_points} points reached"
    return points, specials, why
