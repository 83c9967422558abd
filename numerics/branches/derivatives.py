"""Compiled derivatives of a model's map (its derived map, Jacobian and derivative tensors) and the
multilinear forms of :math:`F^J` chained along an orbit: the flip, fold and Neimark-Sacker coefficients."""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
import sympy as sp

from analysis.derivations.normal_form import derivative_tensors

from ..compile import _generated, _scalar_source


# ---------------------------------------------------------------------------------------------------- kernels
def _function(name, arguments, expressions, rename):
    """A Python function of ``arguments`` returning ``expressions`` (the code generator of :mod:`numerics.compile`)."""
    source = _scalar_source(name, arguments, [sp.sympify(e).xreplace(rename) for e in expressions])
    return _generated(source, name, {"math": math}, f"continuation {name}")


class Kernels:
    """Compiled derivatives of one model's map: its derived map and ``jacobian``, and the derivative tensors of
    the map (:func:`analysis.derivations.normal_form.derivative_tensors`); the closed-form flip coefficients of the
    ``normal_form`` result (:attr:`flips`) are derived only when a period-doubling point asks for them.

    ``orbit(x, p, J)`` (numba) returns :math:`F^J(x)`, :math:`D_xF^J` and :math:`D_pF^J` (d x m);
    ``orbit_data(x, p, J)`` the one-step tensors along the orbit for the normal forms and extended systems.
    Argument order: state variables, then parameters (model order), as in :mod:`numerics.compile`.
    """

    def __init__(self, compiled):
        self.compiled = compiled
        d = self.dimension = compiled.dimension
        m = self.parameters = len(compiled.parameter_symbols)
        hessian, third, parameter_jacobian, mixed = derivative_tensors(
            compiled.map_exprs, compiled.state_symbols, compiled.parameter_symbols)
        names, rename = compiled._argument_names, compiled._rename
        flat = lambda nested: list(np.array(nested, dtype=object).reshape(-1))  # noqa: E731
        self.map_py = _function("cmap", names, compiled.map_exprs, rename)
        self.jacobian_py = _function("cjac", names, list(compiled.jacobian_expr), rename)
        self.pjac_py = _function("cpjac", names, flat(parameter_jacobian) if m else [0], rename)
        self.hessian_py = _function("chess", names, flat(hessian), rename)
        self.third_py = _function("cthird", names, flat(third), rename)
        self.mixed_py = _function("cmixed", names, flat(mixed) if m else [0], rename)
        state = ", ".join(f"s{i}" for i in range(d))
        params = ", ".join(f"p[{j}]" for j in range(m))
        source = f"""
def orbit(x, p, period):
    d = {d}
    m = {m}
    {state}, = {', '.join(f'x[{i}]' for i in range(d))},
    A = np.eye(d)
    P = np.zeros((d, m))
    J = np.empty((d, d))
    Q = np.empty((d, m))
    for t in range(period):
        jf = jac({state}, {params})
        pf = pjac({state}, {params})
        for a in range(d):
            for b in range(d):
                J[a, b] = jf[a * d + b]
            for b in range(m):
                Q[a, b] = pf[a * m + b]
        A = J @ A
        P = J @ P + Q
        {state}, = step({state}, {params})
    return np.array([{state}]), A, P
"""
        namespace = {"np": np, "step": numba.njit(inline="always")(self.map_py),
                     "jac": numba.njit(inline="always")(self.jacobian_py),
                     "pjac": numba.njit(inline="always")(self.pjac_py)}
        exec(compile(source, "<sharpness-continuation orbit>", "exec"), namespace)  # noqa: S102
        self.orbit = numba.njit(nogil=True)(namespace["orbit"])

    @functools.cached_property
    def flips(self) -> list:
        """The closed-form flip coefficients of the model's fixed points (the ``normal_form`` result's
        ``flip_coefficients``), derived on first use."""
        return self.compiled.derivation.result("normal_form").flip_coefficients

    def orbit_data(self, x, p, period, third=False):
        """Lists along the orbit: states, :math:`A_i`, :math:`F_p` (d x m), Hessians (d x d x d), mixed
        (d x d x m) and, if ``third``, third derivatives (d x d x d x d)."""
        d, m = self.dimension, self.parameters
        data = {"x": [], "A": [], "P": [], "H": [], "M": [], "T": []}
        state = [float(v) for v in x]
        params = [float(v) for v in p]
        for _ in range(period):
            args = (*state, *params)
            data["x"].append(np.array(state))
            data["A"].append(np.array(self.jacobian_py(*args), float).reshape(d, d))
            data["P"].append(np.array(self.pjac_py(*args), float).reshape(d, m) if m else np.zeros((d, 0)))
            data["H"].append(np.array(self.hessian_py(*args), float).reshape(d, d, d))
            data["M"].append(np.array(self.mixed_py(*args), float).reshape(d, d, m) if m else np.zeros((d, d, 0)))
            if third:
                data["T"].append(np.array(self.third_py(*args), float).reshape(d, d, d, d))
            state = list(self.map_py(*args))
        return data


@functools.lru_cache(maxsize=None)
def _kernels_for(key):
    return Kernels(_REGISTRY[key])


_REGISTRY: dict = {}


def kernels(compiled) -> Kernels:
    """The :class:`Kernels` of a compiled model (built once per process and model)."""
    key = compiled.derivation.cache_key
    _REGISTRY[key] = compiled
    return _kernels_for(key)


# What the small parameter of each normal form measures (the JSON carries it beside the coefficient): the
# coefficients depend on the scale of the critical eigenvector q, fixed here as |q| = 1 (Euclidean, in the state
# coordinates) with the adjoint vector p normalised by <p, q> = 1 (Kuznetsov & Meijer 2019, Sec. 4.4-4.5).
NORMALISATION = {
    "PD": "u -> -u + b u^3 on the centre manifold x = x* + u q + O(u^2), |q| = 1 (Euclidean, state coordinates), "
          "<p, q> = 1",
    "LP": "u -> u + a u^2 on the centre manifold x = x* + u q + O(u^2), |q| = 1 (Euclidean, state coordinates), "
          "<p, q> = 1",
    "NS": "d = Re(exp(-i theta) c) of w -> mu w + c w |w|^2, mu = exp(i theta), on "
          "x = x* + w q + conj(w q) + O(|w|^2), <q, q> = 1, <p, q> = 1",
}


# ---------------------------------------------------------------------------------------- multilinear forms
def _B(H, a, b):
    return np.einsum("kij,i,j->k", H, a, b)


def _chain_forms(data, q):
    r""":math:`B^J(q, q)` and :math:`C^J(q, q, q)` of the period-J map chained along the orbit (module
    docstring). Works for complex vectors."""
    v = np.asarray(q)
    w = np.zeros_like(v)
    c = np.zeros_like(v)
    for A, H, T in zip(data["A"], data["H"], data["T"]):
        c = A @ c + 3 * _B(H, v, w) + np.einsum("kijl,i,j,l->k", T, v, v, v)
        w = A @ w + _B(H, v, v)
        v = A @ v
    return w, c


def _mixed_form(data, v, r):
    r""":math:`B^J(v, r)` for possibly complex ``v`` and ``r``."""
    m = np.zeros(len(v), dtype=np.result_type(v, r))
    for A, H in zip(data["A"], data["H"]):
        m = A @ m + _B(H, v, r)
        v, r = A @ v, A @ r
    return m


def _third_form(data, a, b, c):
    r""":math:`C^J(a, b, c)` chained (polarised chain rule for three distinct directions)."""
    dtype = np.result_type(a, b, c)
    ab = np.zeros(len(a), dtype)
    ac = np.zeros(len(a), dtype)
    bc = np.zeros(len(a), dtype)
    out = np.zeros(len(a), dtype)
    for A, H, T in zip(data["A"], data["H"], data["T"]):
        out = (A @ out + _B(H, a, bc) + _B(H, b, ac) + _B(H, c, ab)
               + np.einsum("kijl,i,j,l->k", T, a, b, c))
        ab, ac, bc = A @ ab + _B(H, a, b), A @ ac + _B(H, a, c), A @ bc + _B(H, b, c)
        a, b, c = A @ a, A @ b, A @ c
    return out


def _eigenvectors(A, target):
    """Right ``q`` and left ``p`` eigenvectors for the eigenvalue of ``A`` nearest ``target``, with
    ``<q, q> = 1`` and ``<p, q> = 1`` (``p`` conjugated: ``<p, x> = p^H x``)."""
    values, right = np.linalg.eig(A)
    i = int(np.argmin(np.abs(values - target)))
    q = right[:, i]
    q = q / np.linalg.norm(q)
    lvalues, left = np.linalg.eig(A.conj().T)
    j = int(np.argmin(np.abs(lvalues - np.conj(values[i]))))
    p = left[:, j]
    with np.errstate(divide="ignore", invalid="ignore"):  # <p, q> = 0 at a Jordan block (R1, R2): inf/nan,
        p = p / np.conj(np.vdot(p, q))                  # which the curve tests treat as a pole
    if abs(target.imag if isinstance(target, complex) else 0) == 0 and abs(values[i].imag) < 1e-12:
        q, p = q.real, p.real
    return values[i], q, p


def flip_coefficient(data, A) -> float:
    r"""The flip coefficient :math:`b = \langle p, C(q,q,q) + 3B(q,(I-A)^{-1}B(q,q))\rangle/6` of the period-J
    map whose orbit data (with third derivatives) is ``data`` and whose Jacobian is ``A``."""
    _, q, p = _eigenvectors(A, -1.0)
    w, c = _chain_forms(data, q)
    r = np.linalg.solve(np.eye(len(q)) - A, w)
    return float(np.real(np.vdot(p, c + 3 * _mixed_form(data, q, r)))) / 6


def fold_coefficient(data, A, orient=None) -> float:
    r"""The fold coefficient :math:`a = \tfrac12\langle p, B(q, q)\rangle` (:math:`A q = q`), zero at a cusp.

    :math:`a` is odd in :math:`q` (:math:`q \to -q` forces :math:`p \to -p`); ``orient`` (e.g. the continued
    null vector of an LP curve) fixes the sign of :math:`q` by :math:`\langle q, \text{orient}\rangle > 0`, so
    that the sign of :math:`a` along a curve does not follow the arbitrary sign of ``numpy.linalg.eig``."""
    _, q, p = _eigenvectors(A, 1.0)
    if orient is not None and np.real(np.vdot(q, orient)) < 0:
        q, p = -q, -p
    return float(np.real(np.vdot(p, _mixed_form(data, q, q)))) / 2


def ns_coefficient(data, A) -> float:
    r"""The Neimark-Sacker (first Lyapunov) coefficient
    :math:`d = \tfrac12\mathrm{Re}\,e^{-i\theta}\langle p, C(q,q,\bar q) + 2B(q,(I-A)^{-1}B(q,\bar q))
    + B(\bar q,(e^{2i\theta}I-A)^{-1}B(q,q))\rangle` (Kuznetsov & Meijer 2019, Sec. 4.5); :math:`d < 0`
    supercritical."""
    values = np.linalg.eigvals(A)
    upper = [v for v in values if v.imag > 1e-12]
    if not upper:
        return float("nan")
    mu = upper[int(np.argmin([abs(abs(v) - 1) for v in upper]))]
    _, q, p = _eigenvectors(A, complex(mu))
    qb = np.conj(q)
    eye = np.eye(len(q))
    bqq = _mixed_form(data, q, q)
    bqqb = _mixed_form(data, q, qb)
    term = (_third_form(data, q, q, qb) + 2 * _mixed_form(data, q, np.linalg.solve(eye - A, bqqb))
            + _mixed_form(data, qb, np.linalg.solve(mu ** 2 * eye - A, bqq)))
    return float(np.real(np.conj(mu) / abs(mu) * np.vdot(p, term))) / 2
