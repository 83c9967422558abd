r"""The UV model of Kalra, He & Barkeshli, *Universal Sharpness Dynamics in Neural Network Training*
(arXiv 2311.02076), described once.

A two-layer linear network of width :math:`n` on one example :math:`(x, y)`, with
:math:`u, v \in \mathbb{R}^n`, loss :math:`L = \tfrac12 (f - y)^2` and plain GD with step :math:`\eta`:

* SP (standard parameterization): :math:`f = x\,(v\cdot u)/\sqrt{n}`, learning rate :math:`\eta` on every
  parameter (``lr_scale`` 1).
* muP (maximal update): :math:`f = x\,(v\cdot u)/n`, learning rate :math:`\eta n` (``lr_scale`` :math:`n`),
  so that the function-space map carries no explicit :math:`n`.

State: the output :math:`f` and the NTK with the learning-rate scale included,
:math:`\lambda = s\,|\nabla_\theta f|^2 = x^2 (|u|^2 + |v|^2)/n` in both parameterizations, so that GD is
linearly stable where :math:`\eta\lambda < 2`. Sharpness is the top eigenvalue of :math:`s\,\nabla^2_\theta L`.

We take :math:`x > 0`: the sign of :math:`x` is absorbed by :math:`v \to -v`.

With momentum (``load_model("uv", "sp", optimizer="heavy-ball")``, :meth:`analysis.model.Model.with_optimizer`)
the velocities :math:`p_u, p_v \in \mathbb{R}^n` join the vectors and the state becomes
:math:`(f, \lambda, f_v, f_{vv}, \lambda_v, \lambda_{vv})`, the derivatives of :math:`f` and :math:`\lambda` along
the velocity: :math:`f_v = s\,x (u\cdot p_v + v\cdot p_u)/\sqrt n`, :math:`f_{vv} = 2 s^2 x\, p_u\cdot p_v/\sqrt n`,
:math:`\lambda_v = 2 s x^2 (u\cdot p_u + v\cdot p_v)/n`, :math:`\lambda_{vv} = 2 s^2 x^2 (|p_u|^2 + |p_v|^2)/n`
(SP; in muP the output's :math:`1/\sqrt n` is :math:`1/n`), derived, with the exact map closing on them at every
width.
"""
import sympy as sp

from .model import EoSManifold, GramModel, Model, Parameter, StateVariable
from .registry import register

eta = sp.Symbol("eta", positive=True)
n = sp.Symbol("n", positive=True)
x = sp.Symbol("x", positive=True)
y = sp.Symbol("y", real=True)
f = sp.Symbol("f", real=True)
lam = sp.Symbol("lam", real=True)

PARAMETERS = (
    Parameter("eta", eta, "learning rate", "positive"),
    Parameter("n", n, "width of the hidden layer", "positive_integer"),
    Parameter("y", y, "target of the single training example", "real"),
    Parameter("x", x, "input of the single training example", "positive", default=sp.Integer(1)),
)
# Default initial state: zero output and the NTK of the standard initialisation u, v ~ N(0, I) in SP (and its muP
# counterpart), E lam = x^2 (E|u|^2 + E|v|^2)/n = 2 x^2.
STATE = (
    StateVariable("f", f, "network output f = x (v.u)/sqrt(n) (SP) or x (v.u)/n (muP)", default=sp.Integer(0)),
    StateVariable("lam", lam, "NTK with learning-rate scale, x^2 (|u|^2+|v|^2)/n", default=2 * x ** 2,
                  latex=r"\lambda"),
)
EOS_MANIFOLDS = (
    EoSManifold("u=v", (1, 1), "aligned layers u = v: L restricted is (kappa |w|^2 - y)^2/2"),
    EoSManifold("u=-v", (1, -1), "anti-aligned layers u = -v: L restricted is (kappa |w|^2 + y)^2/2"),
)

_OUTPUT_SCALE = {"sp": 1 / sp.sqrt(n), "mup": 1 / n}
_LR_SCALE = {"sp": sp.Integer(1), "mup": n}


def describe(parameterization: str) -> GramModel:
    """The UV model in ``parameterization`` (``sp`` or ``mup``) as a :class:`GramModel`."""
    skeleton = GramModel(vectors=("u", "v"), width=n, step=eta, output=sp.Integer(0), output_symbol=f,
                         loss_of_output=sp.Integer(0), lr_scale=sp.Integer(1), state=STATE)
    dot_uv = skeleton.gram_symbol(0, 1)
    return GramModel(
        vectors=("u", "v"), width=n, step=eta,
        output=x * dot_uv * _OUTPUT_SCALE[parameterization],
        output_symbol=f,
        loss_of_output=(f - y) ** 2 / 2,
        lr_scale=_LR_SCALE[parameterization],
        state=STATE,
        eos_manifolds=EOS_MANIFOLDS,
    )


MODEL = register(Model(
    name="uv",
    summary="two-layer linear net f = x (v.u)/sqrt(n) on one example (Kalra, He, Barkeshli 2023)",
    parameters=PARAMETERS,
    state=STATE,
    parameterizations=("sp", "mup"),
    describe=describe,
    reference="Kalra, He, Barkeshli, arXiv 2311.02076, Sec. 3 (UV model)",
))
