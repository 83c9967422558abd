r"""``two-input``: the minimalist network of Liu, Zhang, Du & Zhao (2025), *A Minimalist Example of
Edge-of-Stability and Progressive Sharpening*: width 1, two layers, linear, 2-D input,
:math:`f(\mathbf{x}) = a\,(w_1 x_1 + w_2 x_2)`, with one input direction relevant to the target and one not.

Data (our choice where the seed is silent): the two examples :math:`\mathbf{x} = (1, \pm s)` with target
:math:`y` on both, so :math:`x_1` carries the signal and :math:`x_2` is irrelevant (it averages out of the
target) with scale :math:`s`. The mean squared loss is then exactly

.. math:: L(a, w_1, w_2) = \tfrac12\,(a w_1 - y)^2 + \tfrac12\, s^2 a^2 w_2^2 ,

and GD with step :math:`\eta` runs on the state :math:`(a, w_1, w_2)`. The irrelevant weight :math:`w_2` is what
makes the sharpness grow and then stop at :math:`2/\eta`: it decays at a rate set by :math:`s^2 a^2`, while the
balance :math:`a^2 - w_1^2 - w_2^2` of the layers moves only at second order in the step. The Hessian's
characteristic polynomial is an irreducible cubic, so the sharpness is computed from the derived Hessian.
"""
import sympy as sp

from .model import CoordinateModel, Model, Parameter, StateVariable
from .registry import register

eta = sp.Symbol("eta", positive=True)
y = sp.Symbol("y", real=True)
s = sp.Symbol("s", positive=True)
a = sp.Symbol("a", real=True)
w1 = sp.Symbol("w1", real=True)
w2 = sp.Symbol("w2", real=True)

PARAMETERS = (
    Parameter("eta", eta, "learning rate", "positive"),
    Parameter("y", y, "target coefficient of the relevant input x1", "real", default=sp.Integer(1)),
    Parameter("s", s, "scale of the irrelevant input x2", "positive", default=sp.Rational(1, 20)),
)
# Default start: small relevant weights and a large irrelevant one. Gradient flow conserves a^2 - w1^2 - w2^2, so
# as w2 decays (slowly, at rate eta s^2 a^2 with the small default s) the imbalance moves into w1^2 - a^2 and the
# sharpness a^2 + w1^2 at the minimum a w1 = y grows: progressive sharpening, until 2/eta (see the README).
STATE = (
    StateVariable("a", a, "second-layer weight", default=sp.Rational(1, 10)),
    StateVariable("w1", w1, "first-layer weight on the relevant input", default=sp.Rational(1, 10)),
    StateVariable("w2", w2, "first-layer weight on the irrelevant input", default=sp.Integer(2)),
)


INPUTS = ((1, s), (1, -s))  # the two examples x = (1, +-s), both with target y


def describe(parameterization: str) -> CoordinateModel:
    # One squared error per example; the loss is their mean (mini-batch SGD draws from them).
    examples = tuple((a * (w1 * x1 + w2 * x2) - y) ** 2 / 2 for x1, x2 in INPUTS)
    return CoordinateModel(examples=examples, step=eta, state=STATE)


MODEL = register(Model(
    name="two-input",
    summary="width-1 linear net a (w . x) on 2-D inputs, one relevant and one irrelevant (Liu et al. 2025)",
    parameters=PARAMETERS,
    state=STATE,
    parameterizations=("default",),
    describe=describe,
    reference="Liu, Zhang, Du, Zhao 2025, minimalist example of EoS and progressive sharpening",
))
