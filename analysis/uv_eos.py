r"""``uv-eos``: the cubic normal form :math:`z' = (1 + k) z - k z^3` of GD on the UV model's EoS manifold.

:func:`analysis.derivations.eos.eos_map` derives from the UV model that on the invariant manifold :math:`u = v`
GD reduces, with :math:`\theta = |u| = s z`, to this map with :math:`k = \eta\kappa y`
(:math:`\kappa = x/\sqrt{n}` in SP, :math:`x` in muP). It is registered here as GD with unit step on the reduced
loss :math:`V(z) = k (z^2 - 1)^2 / 4`, since :math:`z - V'(z) = (1 + k) z - k z^3`; its sharpness is
:math:`V''(z) = k (3 z^2 - 1)` and the stability threshold is 2 (unit step). Fixed points :math:`z = \pm 1` flip
at :math:`k = 1`; the cascade accumulates near :math:`k \approx 1.3`.
"""
import sympy as sp

from .model import CoordinateModel, Model, Parameter, StateVariable
from .registry import register

Z = sp.Symbol("z", real=True)
K = sp.Symbol("k", real=True)
NORMAL_FORM = (1 + K) * Z - K * Z ** 3

# Default start: a generic point inside the invariant interval |z| < sqrt((2 + k)/k), off every fixed point.
STATE = (StateVariable("z", Z, "chart on the EoS manifold u = v: z^2 = f / y", default=sp.Rational(1, 2)),)
PARAMETERS = (Parameter("k", K, "normal-form parameter k = eta kappa y", "real"),)


def describe(parameterization: str) -> CoordinateModel:
    return CoordinateModel(loss=K * (Z ** 2 - 1) ** 2 / 4, step=sp.Integer(1), state=STATE)


MODEL = register(Model(
    name="uv-eos",
    summary="cubic normal form z -> (1+k) z - k z^3 of GD on the UV model's EoS manifold u = v",
    parameters=PARAMETERS,
    state=STATE,
    parameterizations=("default",),
    describe=describe,
    reference="Kalra, He, Barkeshli, arXiv 2311.02076, Sec. 6 (route to chaos)",
))
