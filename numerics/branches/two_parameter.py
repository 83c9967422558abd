"""Two-parameter continuation of PD, LP and NS curves (:func:`continue_curve`) with codimension-two points."""
from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np

from analysis.values import value_mapping
from analysis.errors import DomainError, UserInputError

from .derivatives import _eigenvectors, flip_coefficient, fold_coefficient, ns_coefficient
from .engine import CODIM2, MAX_POINTS, _correct, _make_point, _tangent, _trace
from ..axis import Axis
from .one_parameter import _check_domain, _interval, _Setup, continuation
from .records import Continuation, _complex_json


# ------------------------------------------------------------------------------------------ two parameters
def _directional(data, y, U, m):
    r""":math:`D(A^J y)[u]` for every column ``u`` of ``U`` (rows: the d state directions, then the m parameter
    directions), chained along the orbit: :math:`M_{i+1} = A_i M_i + B_i(v_i, g_i) + F_{xp,i}(v_i, u_p)`,
    :math:`g_{i+1} = A_i g_i + F_{p,i} u_p`, :math:`v_{i+1} = A_i v_i`."""
    d = len(y)
    v = np.asarray(y, float)
    G = U[:d].astype(float)
    Up = U[d:].astype(float)
    out = np.zeros((d, U.shape[1]))
    for A, P, H, Mx in zip(data["A"], data["P"], data["H"], data["M"]):
        out = A @ out + np.einsum("kab,a,bn->kn", H, v, G) + (np.einsum("kap,a,pn->kn", Mx, v, Up) if m else 0)
        G = A @ G + (P @ Up if m else 0)
        v = A @ v
    return out


class _CurveSystem:
    r"""The standard extended system of a PD, LP or NS curve of period-J orbits in parameters ``(i, j)``
    (Kuznetsov & Meijer 2019, Sec. 6.3): unknowns :math:`(x, v, [\kappa], \alpha, \beta)`,

    * PD: :math:`F^J(x) - x = 0,\ (A + I)v = 0,\ \langle v_0, v\rangle = 1`;
    * LP: the same with :math:`(A - I)v = 0`;
    * NS: :math:`(A^2 - 2\kappa A + I) v = 0,\ \langle v_0, v\rangle = 1,\ \langle w_0, v\rangle = 0`
      (:math:`\kappa = \cos\theta`, multipliers :math:`e^{\pm i\theta}`).

    Its Jacobian is exact: second derivatives of :math:`F^J` along the orbit from the derived tensors."""

    def __init__(self, kern, kind, period, p, indices, v0, w0=None):
        self.kern, self.kind, self.period = kern, kind, period
        self.p0 = np.array(p, float)
        self.indices = indices
        self.v0, self.w0 = np.asarray(v0, float), None if w0 is None else np.asarray(w0, float)
        self.d = kern.dimension
        self.family = False
        self.parameters_slice = slice(-2, None)  # the two parameters are the last unknowns

    def unpack(self, u):
        d = self.d
        x, v = u[:d], u[d:2 * d]
        kappa = u[2 * d] if self.kind == "NS" else None
        p = self.p0.copy()
        p[self.indices[0]], p[self.indices[1]] = u[-2], u[-1]
        return x, v, kappa, p

    def evaluate(self, u):
        d, m = self.d, self.kern.parameters
        x, v, kappa, p = self.unpack(u)
        image, A, P = self.kern.orbit(x, p, self.period)
        data = self.kern.orbit_data(x, p, self.period)
        eye = np.eye(d)
        directions = np.zeros((d + m, d + 2))
        directions[:d, :d] = eye
        directions[d + self.indices[0], d] = 1
        directions[d + self.indices[1], d + 1] = 1
        dAv = _directional(data, v, directions, m)
        if self.kind == "NS":
            Av = A @ v
            M = A @ A - 2 * kappa * A + eye
            dM = _directional(data, Av, directions, m) + A @ dAv - 2 * kappa * dAv
        else:
            M = A + eye if self.kind == "PD" else A - eye
            dM = dAv
        rows = [image - x, M @ v, [self.v0 @ v - 1]]
        extra = 1 if self.kind == "NS" else 0
        n = 2 * d + extra + 2
        J = np.zeros((2 * d + 1 + extra, n))
        J[:d, :d] = A - eye
        J[:d, -2:] = P[:, list(self.indices)]
        J[d:2 * d, :d] = dM[:, :d]
        J[d:2 * d, d:2 * d] = M
        J[d:2 * d, -2:] = dM[:, d:]
        J[2 * d, d:2 * d] = self.v0
        if self.kind == "NS":
            rows.append([self.w0 @ v])
            J[d:2 * d, 2 * d] = -2 * (A @ v)
            J[2 * d + 1, d:2 * d] = self.w0
        return np.concatenate(rows), J, A

    def tests(self, u, t, J, A):
        mu = np.linalg.eigvals(A)
        out = {}
        if self.kind == "NS":
            _, _, kappa, _ = self.unpack(u)
            root = 1j * math.sqrt(max(0.0, 1 - kappa ** 2))
            i = int(np.argmin(np.abs(mu - (kappa + root))))
            rest = [k for k in range(len(mu)) if k != i]
            j = rest[int(np.argmin(np.abs(mu[rest] - (kappa - root))))]
            others = np.delete(mu, [i, j])
            out.update({"R1": kappa - 1, "R2": kappa + 1, "R3": kappa + 0.5, "R4": kappa})
            # Beyond R1/R2 (|kappa| > 1) the curve continues as a neutral saddle: no LPNS/PDNS there.
            inside = abs(kappa) < 1
            out["LPNS"] = float(np.real(np.prod(others - 1))) if len(others) and inside else 1.0
            out["PDNS"] = float(np.real(np.prod(others + 1))) if len(others) and inside else 1.0
        else:
            target = -1.0 if self.kind == "PD" else 1.0
            others = np.delete(mu, int(np.argmin(np.abs(mu - target))))
            lp = float(np.real(np.prod(others - 1))) if len(others) else 1.0
            pd = float(np.real(np.prod(others + 1))) if len(others) else 1.0
            if self.kind == "PD":
                out["R2"], out["LPPD"] = pd, lp
            else:
                out["R1"], out["LPPD"] = lp, pd
            if len(others) >= 2:
                k = len(others)
                out["PDNS" if self.kind == "PD" else "LPNS"] = float(np.real(np.prod(
                    [others[i] * others[j] - 1 for i in range(k) for j in range(i + 1, k)])))
        x, v, _, p = self.unpack(u)
        try:
            data = self.kern.orbit_data(x, p, self.period, third=True)
            if self.kind == "PD":
                out["GPD"] = flip_coefficient(data, A)
            elif self.kind == "LP":
                out["CP"] = fold_coefficient(data, A, orient=v)
            else:
                out["CH"] = ns_coefficient(data, A)
        except np.linalg.LinAlgError:
            pass
        return out, mu


def continue_curve(model, curve: str, vary, values=None, *, parameterization=None, period: int = 1, start=None,
                   init=None, doublings: Optional[int] = None, max_points: int = MAX_POINTS, progress=None,
                   options=None, start_period: int = 1) -> Continuation:
    r"""Two-parameter continuation of the ``curve`` (``"PD"``, ``"LP"`` or ``"NS"``) of period-``period`` orbits
    in the parameters of the two intervals ``vary = [Axis.parse("P=A:B"), Axis.parse("Q=C:D")]`` (module docstring
    and :class:`_CurveSystem`).

    The starting point is found as in :func:`continuation`: one-parameter continuation (with doublings up to the
    period) along ``P`` from ``A``, ``Q`` held at its value in ``values`` (or its default), until the first
    codimension-one point of that type and period. The curve is then traced in both directions inside the box
    and its codimension-two points (:data:`CODIM2`) are located. ``start_period`` is the period of the orbit
    the one-parameter search starts from (``init`` then is a point of that orbit).

    >>> result = continue_curve("uv-eos", "PD", [Axis.parse("k=0.5:1.4"), Axis.parse("k=0.5:1.4")])  # doctest: +SKIP
    """
    curve = str(curve).upper()
    if curve not in CODIM2:
        raise UserInputError(f"unknown curve {curve!r}; expected one of: {', '.join(CODIM2)}")
    if len(vary) != 2:
        raise UserInputError(f"a curve needs exactly two intervals (the parameter plane), got {len(vary)}")
    t0 = time.perf_counter()
    (n1, a1, b1), (n2, a2, b2) = (_interval(v) for v in vary)
    if n1 == n2:
        raise UserInputError(f"a curve needs two different parameters, got {n1} twice")
    values = value_mapping(values)
    setup = _Setup(model, parameterization, values, options)
    for name, low, high in ((n1, a1, b1), (n2, a2, b2)):
        if _check_domain(setup.model, name, low, high) != "parameter":
            raise UserInputError(f"a curve varies parameters; {name} is a state variable")
    period, start_period = int(period), int(start_period)
    ratio = period // start_period if start_period >= 1 else 0
    if period < 1 or ratio < 1 or period % start_period or ratio & (ratio - 1):
        raise DomainError("period", period, f"the start period ({start_period}) times a power of two (the orbit "
                          "is reached by doublings)")
    needed = int(round(math.log2(ratio)))
    if curve == "PD" or doublings is None:
        doublings = needed
    one = continuation(setup.derived, Axis(n1, (a1, b1)), values, start=start, init=init, doublings=doublings,
                       max_points=max_points, period=start_period)
    found = next((s for s in one.special_points if s["type"] == curve and s["period"] == period), None)
    if found is None:
        raise UserInputError(f"no {curve} point of period {period} on the branch along {n1} in [{a1}, {b1}] "
                             f"(found: {', '.join(str(s['type']) + '@' + str(s['period']) for s in one.special_points) or 'none'})")
    kern = setup.kern
    names, states = setup.parameter_names, setup.state_names
    p = np.array([found["parameters"][n] for n in names])
    x = np.array([found["state"][n] for n in states])
    lo2, hi2 = min(a2, b2), max(a2, b2)
    if not lo2 <= p[names.index(n2)] <= hi2:
        raise UserInputError(f"the {curve} point found at {n2} = {p[names.index(n2)]:g} lies outside "
                             f"{n2}={a2}:{b2}; set {n2} inside its range in values")
    indices = (names.index(n1), names.index(n2))
    _, A, _ = kern.orbit(x, p, period)
    target = {"PD": -1.0, "LP": 1.0}.get(curve)
    if curve == "NS":
        values_ = np.linalg.eigvals(A)
        mu = values_[int(np.argmax(values_.imag))]
        _, q, _ = _eigenvectors(A, complex(mu))
        v0 = np.real(q)
        w0 = np.imag(q) - (np.imag(q) @ v0) / (v0 @ v0) * v0
        v = v0 / (v0 @ v0)
        u0 = np.concatenate([x, v, [mu.real], p[list(indices)]])
    else:
        _, q, _ = _eigenvectors(A, target)
        v0, w0 = np.real(q), None
        u0 = np.concatenate([x, v0 / (v0 @ v0), p[list(indices)]])
    system = _CurveSystem(kern, curve, period, p, indices, v0, w0)
    R, J, A = system.evaluate(u0)
    t = _tangent(J)
    first = _correct(system, u0, t, u0)
    if first is None:
        raise UserInputError(f"the extended system of the {curve} curve did not converge at its start")
    u, J, A, _ = first
    lo1, hi1 = min(a1, b1), max(a1, b1)
    in_box = lambda w: lo1 - 1e-12 <= w[-2] <= hi1 + 1e-12 and lo2 - 1e-12 <= w[-1] <= hi2 + 1e-12  # noqa: E731
    span = max(hi1 - lo1, hi2 - lo2)
    halves = []
    specials = []
    for sign in (+1, -1):
        t = sign * _tangent(J)
        start_point = _make_point(system, u, J, A, t)
        start_point.t = t
        points, located, why = _trace(system, start_point, span / 200, in_box, max_points, CODIM2[curve],
                                      span / 25, progress)
        halves.append(points)
        specials += located
        if why:
            one.stopped.append(f"{curve} curve ({'+' if sign > 0 else '-'} direction): {why}")
    ordered = halves[1][::-1] + halves[0][1:]
    curve_points = []
    for pt in ordered:
        xx, _, kappa, pp = system.unpack(pt.u)
        entry = {"parameters": {n1: float(pp[indices[0]]), n2: float(pp[indices[1]])},
                 "state": {n: float(v) for n, v in zip(states, xx)},
                 "multipliers": [_complex_json(m) for m in sorted(pt.mu, key=lambda z: (-abs(z), z.real))]}
        curve_points.append(entry)
    result = Continuation(setup.model.name, [n1, n2], one.branches, list(one.special_points),
                          curves=[{"type": curve, "period": period, "points": curve_points}], stopped=one.stopped)
    seen = set()
    for name, pt in specials:
        xx, _, kappa, pp = system.unpack(pt.u)
        key = (name, round(float(pp[indices[0]]), 8), round(float(pp[indices[1]]), 8))
        if key in seen:
            continue
        seen.add(key)
        entry = {"type": name, "period": period, "curve": curve, **setup.point_dict(xx, pp, pt.mu)}
        result.special_points.append(entry)
    result.seconds = time.perf_counter() - t0
    return result
