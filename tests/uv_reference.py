"""An independent numpy implementation of the UV model in parameter space, written from the definitions only.

Nothing here comes from :mod:`analysis`; the tests compare the derived formulas against it.
"""
import numpy as np

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
