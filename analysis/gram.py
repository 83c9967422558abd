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
