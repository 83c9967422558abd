"""An independent numpy implementation of the UV model in parameter space, written from the definitions only.

Nothing here comes from :mod:`analysis`; the tests compare the derived formulas against it.
"""
import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

OUTPUT_SCALE = {"sp": lambda n: 1 / np.sqrt(n), "mup": lambda n: 1 / n}
LR_SCALE = {"sp": lambda n: 1.0, "mup": lambda n: float(n)}


def output(u, v, x, parameterization):
    return x * (u @ v) * OUTPUT_SCALE[parameterization](len(u))


def ntk(u, v, x, parameterization):
    n = len(u)
    c = x * OUTPUT_SCALE[parameterization](n)
    return LR_SCALE[parameterization](n) * c ** 2 * (u @ u + v @ v)


def gd_step(u, v, x, y, eta, parameterization):
    """u' = u - eta s dL/du, v' = v - eta s dL/dv with L = (f - y)^2 / 2, f = c x u.v."""
    n = len(u)
    c = x * OUTPUT_SCALE[parameterization](n)
    residual = c * (u @ v) - y
    step = eta * LR_SCALE[parameterization](n)
    return u - step * residual * c * v, v - step * residual * c * u


def hessian(u, v, x, y, parameterization):
    """The explicit 2n x 2n Hessian of L in the metric of the learning rates, s (J J^T + r d^2f)."""
    n = len(u)
    c = x * OUTPUT_SCALE[parameterization](n)
    residual = c * (u @ v) - y
    jac = c * np.concatenate([v, u])
    second = np.zeros((2 * n, 2 * n))
    second[:n, n:] = second[n:, :n] = c * np.eye(n)
    return LR_SCALE[parameterization](n) * (np.outer(jac, jac) + residual * second)


class UVNetwork:
    r"""The UV network in parameter space: :math:`f = c\, u\cdot v`, :math:`c = x/\sqrt{n}` (SP) or :math:`x/n`
    (muP), :math:`L = (f - y)^2/2`, learning-rate scale :math:`s` (1 or :math:`n`)."""

    def __init__(self, u, v, x, y, parameterization):
        self.u, self.v = np.array(u, dtype=float), np.array(v, dtype=float)
        self.n = len(self.u)
        self.x, self.y = float(x), float(y)
        self.c = self.x * OUTPUT_SCALE[parameterization](self.n)
        self.s = LR_SCALE[parameterization](self.n)

    @property
    def output(self):
        return self.c * (self.u @ self.v)

    @property
    def ntk(self):
        r""":math:`s\,|\nabla_\theta f|^2 = s\,c^2 (|u|^2 + |v|^2)`."""
        return self.s * self.c ** 2 * (self.u @ self.u + self.v @ self.v)

    def step(self, eta):
        r = self.output - self.y
        grad_u, grad_v = r * self.c * self.v, r * self.c * self.u
        self.u, self.v = self.u - eta * self.s * grad_u, self.v - eta * self.s * grad_v

    def hvp(self, p):
        r""":math:`s\,(\nabla f \nabla f^\top + r\,\nabla^2 f)\,p` with :math:`\nabla^2 f = c\,[[0, I], [I, 0]]`."""
        n = self.n
        pu, pv = p[:n], p[n:]
        r = self.output - self.y
        along = self.c ** 2 * (self.v @ pu + self.u @ pv)
        return self.s * np.concatenate([along * self.v + r * self.c * pv, along * self.u + r * self.c * pu])

    def sharpness(self):
        size = 2 * self.n
        if size <= 16:
            dense = np.column_stack([self.hvp(e) for e in np.eye(size)])
            return float(np.linalg.eigvalsh((dense + dense.T) / 2)[-1])
        operator = LinearOperator((size, size), matvec=self.hvp, dtype=float)
        start = np.concatenate([self.v, self.u])  # the gradient direction: close to the top eigenvector
        return float(eigsh(operator, k=1, which="LA", v0=start, tol=1e-14, return_eigenvectors=False)[0])


def standard_init(width: int, seed: int):
    """u, v ~ N(0, I_n), drawn in that order from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(width), rng.standard_normal(width)
