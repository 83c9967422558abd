r"""Vector calculus for :math:`O(n)`-invariant functions of vectors :math:`w_1..w_k \in \mathbb{R}^n`.

A scalar :math:`\phi(G)` of the Gram matrix :math:`G_{ij} = w_i\cdot w_j` has gradient

.. math:: \nabla_{w_i}\phi = \sum_j C_{ij}\, w_j, \qquad
          C_{ij} = \frac{\partial\phi}{\partial G_{ij}}\ (i \ne j), \quad C_{ii} = 2\frac{\partial\phi}{\partial G_{ii}},

(with one symbol for :math:`G_{ij} = G_{ji}`), so every gradient stays in :math:`\operatorname{span}\{w_j\}` and
vector expressions are coefficient rows in that span; inner products are :math:`a^\top G\, b`. This is what makes
the function-space map exact at every width :math:`n`.
"""
from __future__ import annotations

import sympy as sp


def gradient_coefficients(model, scalar: sp.Expr) -> sp.Matrix:
    r"""The symmetric matrix :math:`C` with :math:`\nabla_{w_i}\phi = \sum_j C_{ij} w_j` (module docstring)."""
    k = model.k

    def entry(i, j):
        derivative = sp.diff(scalar, model.gram_symbol(i, j))
        return 2 * derivative if i == j else derivative

    return sp.Matrix(k, k, entry)


def squared_gradient_norm(model, scalar: sp.Expr) -> sp.Expr:
    r""":math:`\sum_i |\nabla_{w_i}\phi|^2 = \operatorname{tr}(C\,G\,C^\top)`."""
    coefficients = gradient_coefficients(model, scalar)
    return sp.expand((coefficients * model.gram_matrix() * coefficients.T).trace())


def gd_coefficients(model) -> sp.Matrix:
    r"""Rows :math:`A` of the GD step :math:`w_i' = \sum_j A_{ij} w_j`, :math:`A = I - \eta s\, C_L`."""
    return sp.eye(model.k) - model.step * model.lr_scale * gradient_coefficients(model, model.loss)


def complement_hessian(model) -> sp.Matrix:
    r"""The Hessian block on perturbations orthogonal to :math:`\operatorname{span}\{w_j\}`.

    For :math:`\delta w_i = t_i e` with :math:`e \perp w_j` for all j, :math:`\delta G_{ij} = t_i t_j` to second
    order, so :math:`\delta^2 L = t^\top C_L t`: the block is :math:`s\, C_L`, repeated :math:`n - k` times
    (once per unit vector orthogonal to the span).
    """
    return model.lr_scale * gradient_coefficients(model, model.loss)


def span_hessian(model):
    r"""The :math:`k^2 \times k^2` Hessian of :math:`s L(W W^\top)` over :math:`W \in \mathbb{R}^{k\times k}`.

    Returns ``(hessian, cholesky)``: the Hessian is evaluated at the lower-triangular :math:`W = \ell` with
    :math:`\ell\ell^\top = G` (symbols ``cholesky``), which by :math:`O(n)` invariance represents every
    configuration; its characteristic polynomial is an :math:`O(k)` invariant, hence a function of :math:`G`.
    """
    k = model.k
    entries = sp.Matrix(k, k, lambda i, j: sp.Symbol(f"w_{i}{j}", real=True))
    gram_of_entries = entries * entries.T
    loss = model.loss.subs({model.gram_symbol(i, j): gram_of_entries[i, j]
                            for i in range(k) for j in range(i, k)}, simultaneous=True)
    flat = list(entries)
    hessian = model.lr_scale * sp.hessian(loss, flat)
    cholesky = sp.Matrix(k, k, lambda i, j: sp.Symbol(f"l_{i}{j}", positive=(i == j), real=True) if j <= i else 0)
    at_cholesky = {entries[i, j]: cholesky[i, j] for i in range(k) for j in range(k)}
    return hessian.subs(at_cholesky), cholesky


def cholesky_in_gram(model, cholesky: sp.Matrix) -> dict:
    """Substitution of the Cholesky symbols by their expressions in the Gram symbols."""
    factor = model.gram_matrix().cholesky(hermitian=False)
    k = model.k
    return {cholesky[i, j]: factor[i, j] for i in range(k) for j in range(i + 1)}


def directional_derivatives(model, scalar: sp.Expr) -> tuple:
    r"""First and second derivatives of :math:`\phi(G)` along the velocities :math:`p_i` (momentum models):
    :math:`D\phi[p]` and :math:`D^2\phi[p, p]`, in the entries of the Gram matrix of parameters and velocities.

    Moving :math:`w_i \to w_i + t\,p_i` changes :math:`G_{ij}` to
    :math:`G_{ij} + t\,(w_i\cdot p_j + p_i\cdot w_j) + t^2\,p_i\cdot p_j`; the two derivatives are the
    coefficients of :math:`t` and :math:`2 t^2` of :math:`\phi` along that line (exact for any :math:`\phi`:
    its Taylor coefficients at :math:`t = 0`).
    """
    k = model.k
    t = sp.Symbol("_t")
    moved = {model.gram_symbol(i, j): model.gram_symbol(i, j)
             + t * (model.gram_symbol(i, k + j) + model.gram_symbol(k + i, j)) + t ** 2 * model.gram_symbol(k + i, k + j)
             for i in range(k) for j in range(i, k)}
    along = scalar.subs(moved, simultaneous=True)
    first = sp.expand(sp.diff(along, t).subs(t, 0))
    second = sp.expand(sp.diff(along, t, 2).subs(t, 0))
    return first, second


def momentum_coefficients(model) -> sp.Matrix:
    r"""Rows :math:`M` of one momentum step on the :math:`2k` vectors :math:`(w, p)`: :math:`(w, p)' = M (w, p)`.

    With :math:`\nabla_{w_i} L = \sum_j C_{ij} w_j` (:func:`gradient_coefficients`) the optimizer
    (:func:`analysis.optimizers.update`, step :math:`\eta s`) gives

    .. math:: p' = \beta p + C w, \qquad w' = w - \eta s\,(c_g\, C w + c_v\, p),

    so :math:`M = \begin{pmatrix} I - \eta s c_g C & -\eta s c_v I \\ C & \beta I \end{pmatrix}` and the Gram
    matrix of all vectors maps to :math:`M G M^\top` at every width.
    """
    from .optimizers import update

    k = model.k
    coefficients = gradient_coefficients(model, model.loss)
    identity = sp.eye(2 * k)
    theta = [identity[i, :] for i in range(k)]
    velocity = [identity[k + i, :] for i in range(k)]
    gradient = [sum((coefficients[i, j] * theta[j] for j in range(k)), sp.zeros(1, 2 * k)) for i in range(k)]
    new_theta, new_velocity = update(model.optimizer, theta, velocity, gradient, model.step * model.lr_scale,
                                     model.momentum)
    return sp.Matrix.vstack(*new_theta, *new_velocity).applyfunc(sp.expand)
