"""A model of your own: a two-weight linear network a*b fitting a target y, with weight decay.

    L(a, b) = (a b - y)^2 / 2 + wd (a^2 + b^2) / 2,    GD with step eta on (a, b).

Use it wherever a command or ``load_model`` takes a model name:

    sharpness fixed-points examples/my_model.py --set eta=0.5
    sharpness run examples/my_model.py --set eta=0.5 --steps 500
    python -c "from analysis import load_model; print(load_model('examples/my_model.py').sharpness)"

The file only has to define ``MODEL``; everything else (map, sharpness, fixed points, stability, kernels) is
derived from it and cached under a hash of this description.
"""
import sympy as sp

from analysis import CoordinateModel, Model, Parameter, StateVariable

# Symbols carry the assumptions the derivations may use: a learning rate is positive, weights are real.
eta = sp.Symbol("eta", positive=True)
y = sp.Symbol("y", real=True)
wd = sp.Symbol("wd", positive=True)
a, b = sp.symbols("a b", real=True)

# The parameters a user sets with --set NAME=VALUE (Python: keyword arguments). The domain is checked on input
# ("positive", "real" or "positive_integer"); a parameter with a default may be left out.
PARAMETERS = (
    Parameter("eta", eta, "learning rate", "positive"),
    Parameter("y", y, "target", "real", default=sp.Integer(1)),
    Parameter("wd", wd, "weight-decay coefficient", "positive", default=sp.Rational(1, 10)),
)

# The state the GD map acts on (here the weights themselves), with the initial value used when --init does not
# give one. (Plain symbols, state=(a, b), work too; then every run must give --init a=... --init b=....)
STATE = (
    StateVariable("a", a, "first weight", default=sp.Rational(1, 2)),
    StateVariable("b", b, "second weight", default=sp.Rational(3, 2)),
)


def describe(parameterization: str) -> CoordinateModel:
    """The loss over the state's coordinates and the GD step (one description per parameterization)."""
    loss = (a * b - y) ** 2 / 2 + wd * (a ** 2 + b ** 2) / 2
    return CoordinateModel(loss=loss, step=eta, state=STATE)


MODEL = Model(
    name="weight-decay-product",
    summary="(a b - y)^2/2 + wd (a^2 + b^2)/2: a two-weight linear net with weight decay",
    parameters=PARAMETERS,
    state=STATE,
    parameterizations=("default",),
    describe=describe,
)
