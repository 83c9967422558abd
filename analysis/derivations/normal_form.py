r"""Derivative tensors of the map and the flip normal-form coefficient of its fixed points in closed form.

Conventions (Kuznetsov & Meijer, *Numerical Bifurcation Analysis of Maps*, CUP 2019, Sec. 4.4 and 6.2;
Govaerts, Khoshsiar Ghaziani, Kuznetsov & Meijer, SIAM J. Appl. Dyn. Syst. 6 (2007), MatContM ``nf_PDm.m``).
Write the map near a fixed point :math:`x_0` as

.. math:: F(x_0 + \xi) = x_0 + A\xi + \tfrac12 B(\xi, \xi) + \tfrac16 C(\xi, \xi, \xi) + O(|\xi|^4),

with :math:`B_k(a, b) = \sum_{ij} \partial^2 F_k/\partial x_i \partial x_j\, a_i b_j` and
:math:`C_k(a, b, c) = \sum_{ijl} \partial^3 F_k/\partial x_i\partial x_j\partial x_l\, a_i b_j c_l`. At a flip
(:math:`A q = -q`, :math:`A^T p = -p`, :math:`\langle q, q\rangle = 1`, :math:`\langle p, q\rangle = 1`) the map
restricted to the centre manifold is :math:`u \mapsto -u + b\,u^3 + O(u^4)` with

.. math:: b = \tfrac16 \langle p, C(q, q, q) + 3 B(q, (I - A)^{-1} B(q, q)) \rangle .

:math:`b > 0`: **supercritical** (the second iterate :math:`u \mapsto u - 2 b u^3` attracts, a stable period-2
orbit is born on the unstable side); :math:`b < 0`: subcritical. Rescaling :math:`q \to s q`,
:math:`p \to p/s` multiplies the unnormalised value by :math:`s^2`, so the closed form below divides by
:math:`\langle q, q\rangle` instead of taking a square root.

For GD with step :math:`\eta` on a one-dimensional loss, :math:`F = x - \eta L'`, the flip of a critical point is at
:math:`\eta L'' = 2` and :math:`b = (3 L'''^2 - L'' L'''')/(3 L''^2)`: supercritical exactly for a
*sub-quadratic* loss, :math:`3L'''^2 > L'' L''''` (arXiv 2311.02076, Sec. 6).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .common import tex
from .graph import COORDINATE, Context, Equation, kind_of, node
from .results import NormalForm


@dataclass(frozen=True)
class FlipCoefficient:
    r"""The flip normal-form coefficient :math:`b` of fixed point ``label`` on its flip surface
    ``parameter = value``: ``coefficient`` is an expression in the other parameters, ``state`` the fixed point
    there. :math:`b > 0` supercritical."""

    label: str
    parameter: sp.Symbol
    value: sp.Expr
    coefficient: sp.Expr
    state: dict

MAX_CLOSED_FORM_DIMENSION = 3  # symbolic eigenvectors and (I - A)^{-1} are attempted up to this many coordinates


def derivative_tensors(F, states, parameters):
    r"""The derivative tensors of the map ``F`` (its images of ``states``): :math:`\partial^2 F_k/\partial x_i
    \partial x_j` as ``[k][i][j]``, the third derivatives as ``[k][i][j][l]``, :math:`\partial F_k/\partial p_a` as
    ``[k][a]`` and :math:`\partial^2 F_k/\partial x_i \partial p_a` as ``[k][i][a]`` (the fields of
    :class:`~analysis.derivations.results.NormalForm`). Continuation compiles them without the rest of the
    ``normal_form`` result, whose closed-form flip coefficients need the fixed points' stability boundaries
    (solving those can take a minute on a user's model; only period-doubling points read them)."""
    hessian = [[[sp.diff(f, a, b) for b in states] for a in states] for f in F]
    third = [[[[sp.diff(h, c) for c in states] for h in row] for row in block] for block in hessian]
    parameter_jacobian = [[sp.diff(f, p) for p in parameters] for f in F]
    mixed = [[[sp.diff(f, a, p) for p in parameters] for a in states] for f in F]
    return hessian, third, parameter_jacobian, mixed


def _B(hessian, a, b):
    d = len(a)
    return sp.Matrix([sum(hessian[k][i][j] * a[i] * b[j] for i in range(d) for j in range(d)) for k in range(d)])


def _C(third, a, b, c):
    d = len(a)
    return sp.Matrix([sum(third[k][i][j][m] * a[i] * b[j] * c[m] for i in range(d) for j in range(d)
                          for m in range(d)) for k in range(d)])


def _simplify(expr):
    from .common import through_radicals

    return through_radicals(sp.factor, sp.cancel(sp.together(expr)))


L2, L3, L4 = sp.symbols("L_2 L_3 L_4")  # L'', L''', L'''' at the critical point


def one_dimensional_flip_coefficient() -> sp.Expr:
    r""":math:`b` of GD :math:`x' = x - \eta L'(x)` (learning-rate scale included in :math:`\eta`) at a flip of a
    critical point of a one-dimensional loss, :math:`\eta L'' = 2`, in :math:`L_k = L^{(k)}`:
    :math:`F'' = -\eta L'''`, :math:`F''' = -\eta L''''`, :math:`b = F'''/6 + F''^2/4` (:math:`q = p = 1`,
    :math:`(I - A)^{-1} = 1/2`), i.e. :math:`(3L'''^2 - L''L'''')/(3L''^2)`."""
    step, x = sp.Symbol("eta", positive=True), sp.Symbol("x")
    loss = sp.Function("L")
    F = x - step * sp.diff(loss(x), x)
    derivatives = {sp.diff(loss(x), x, k): symbol for k, symbol in ((4, L4), (3, L3), (2, L2))}
    second, third = (sp.diff(F, x, k).subs(derivatives) for k in (2, 3))
    A = sp.Matrix([[-1]])
    value = flip_coefficient(A, [[[second]]], [[[[third]]]])
    return sp.factor(value.subs(step, 2 / L2))


def flip_coefficient(A, hessian, third):
    r"""The closed-form :math:`b` (module docstring) of a flip with Jacobian ``A`` (for which -1 is an eigenvalue)
    and the second and third derivative tensors at the fixed point; ``None`` if the kernel of :math:`A + I` is not
    one-dimensional or :math:`I - A` is singular (a fold-flip or a set of fixed points)."""
    d = A.rows
    kernel = (A + sp.eye(d)).applyfunc(sp.cancel).nullspace(simplify=True)
    left = (A + sp.eye(d)).T.applyfunc(sp.cancel).nullspace(simplify=True)
    if len(kernel) != 1 or len(left) != 1:
        return None
    q, p = kernel[0], left[0]
    pq = sp.cancel((p.T * q)[0])
    if pq == 0:
        return None
    p = p / pq
    M = (sp.eye(d) - A).applyfunc(sp.cancel)
    if sp.cancel(M.det()) == 0:
        return None
    r = M.LUsolve(_B(hessian, q, q)).applyfunc(sp.cancel)
    value = (p.T * (_C(third, q, q, q) + 3 * _B(hessian, q, r)))[0] / 6 / (q.T * q)[0]
    return _simplify(value)


@node("normal_form", "Derivative tensors and the flip normal-form coefficient in closed form",
      ("function_map", "fixed_points", "stability"))
def normal_form(ctx: Context) -> NormalForm:
    r"""Second and third state derivatives (``second_derivatives[k][i][j]``, ``third_derivatives[k][i][j][l]``),
    the parameter Jacobian ``parameter_jacobian[k][a]`` and the mixed derivatives ``mixed_derivatives[k][i][a]`` of
    the map (compiled by
    :mod:`numerics.branches` for the normal forms of period-J orbits and the extended systems of two-parameter
    continuation), and at every isolated fixed point that flips, the coefficient :math:`b` of the flip normal form
    (module docstring) as an expression in the parameters, on the flip surface solved for the control parameter
    (``flip_coefficients``: :class:`FlipCoefficient`); for a one-dimensional coordinate model also the general
    formula in the loss derivatives (``one_dimensional_coefficient``, :func:`one_dimensional_flip_coefficient`)."""
    mapping = ctx["function_map"].images
    states = ctx.state_symbols
    parameters = [p.symbol for p in ctx.model.parameters]
    F = [mapping[s] for s in states]
    hessian, third, parameter_jacobian, mixed = derivative_tensors(F, states, parameters)
    fixed = {p.label: p for p in ctx["fixed_points"].solutions}
    flips, equations, skipped = [], [], []
    jacobian = sp.Matrix(F).jacobian(states)
    for entry in ctx["stability"].points:
        point = fixed[entry.label]
        if entry.kind != "point" or len(states) > MAX_CLOSED_FORM_DIMENSION:
            continue
        for boundary in entry.boundaries:
            if boundary.kind != "flip":
                continue
            at = {**{s: c for s, c in point.coordinates.items()}}
            at = {s: c.subs(boundary.parameter, boundary.value) for s, c in at.items()}
            on_flip = {boundary.parameter: boundary.value}

            def here(expr):
                return sp.sympify(expr).subs(on_flip).subs(at, simultaneous=True)

            A = jacobian.applyfunc(here)
            H = [[[here(e) for e in row] for row in block] for block in hessian]
            T = [[[[here(e) for e in r] for r in row] for row in block] for block in third]
            try:
                value = flip_coefficient(A, H, T)
            except (NotImplementedError, ZeroDivisionError, TypeError, ValueError):
                value = None
            if value is None or value.has(sp.nan, sp.zoo):
                skipped.append(entry.label)
                continue
            index = sum(1 for f in flips if f.label == entry.label)
            record = FlipCoefficient(entry.label, boundary.parameter, boundary.value, value,
                                     {s: c for s, c in at.items()})
            flips.append(record)
            equations.append(Equation(f"flip-b-{entry.label}-{index}",
                                      rf"b_{{\mathrm{{{entry.label}}}}}\big|_{{{tex(boundary.parameter)} = "
                                      rf"{tex(boundary.parameter)}_{{\mathrm{{flip}}}}}}", value))
    if kind_of(ctx.spec) == COORDINATE and len(states) == 1:
        general = one_dimensional_flip_coefficient()
        equations.append(Equation("flip-b-1d", r"b\big|_{\eta L'' = 2}", general))
    else:
        general = None
    notes = ("b > 0: supercritical flip (a stable period-2 orbit is born), b < 0: subcritical "
             "(MatContM convention, <q, q> = 1, <p, q> = 1).")
    if skipped:
        notes += f" No closed form at: {', '.join(sorted(set(skipped)))}."
    return NormalForm(hessian, third, parameter_jacobian, mixed, flips, general, equations=equations, notes=notes)
