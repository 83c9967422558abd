r"""``xy-quartic``: the minimalist EoS example of Zhu, Wang, Wang, Zhou & Ge, *Understanding Edge-of-Stability
Training Dynamics with a Minimalist Example* (ICLR 2023): :math:`L(x, y) = (x^2 y^2 - 1)^2 / 4`, GD with step
:math:`\eta` on the state :math:`(x, y)` itself.

Its minima form the hyperbola :math:`xy = \pm 1`, along which the sharpness is :math:`2(x^2 + y^2) \ge 4`
(derived: ``minima``); GD at a large step ends just below :math:`2/\eta` (the paper's result, reproduced by
``sharpness run``), because an oscillation across the hyperbola drifts along it towards lower sharpness
(``minima``'s ``sharpness_drift`` is negative off :math:`y = \pm 1`).
"""
import sympy as sp

from .model import CoordinateModel, Model, Parameter, StateVariable
from .registry import register

eta = sp.Symbol("eta", positive=True)
x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)

PARAMETERS = (Parameter("eta", eta, "learning rate", "positive"),)
# Default start: off the minimum manifold and off the symmetric line x = y, as in the paper's figures.
STATE = (StateVariable("x", x, "first coordinate", default=sp.Rational(3, 2)),
         StateVariable("y", y, "second coordinate", default=sp.Rational(1, 5)))


def describe(parameterization: str) -> CoordinateModel:
    return CoordinateModel(loss=(x ** 2 * y ** 2 - 1) ** 2 / 4, step=eta, state=STATE)


MODEL = register(Model(
    name="xy-quartic",
    summary="L(x, y) = (x^2 y^2 - 1)^2 / 4, GD ends at sharpness just below 2/eta (Zhu et al., ICLR 2023)",
    parameters=PARAMETERS,
    state=STATE,
    parameterizations=("default",),
    describe=describe,
    reference="Zhu, Wang, Wang, Zhou, Ge, ICLR 2023, Sec. 3",
))
