r"""First-order optimizers of the toolkit: plain GD, heavy-ball momentum, Nesterov momentum, and Adam (with
RMSProp as its :math:`\beta_1 = 0` case); mini-batch SGD is :mod:`analysis.stochastic`.

Convention (PyTorch's ``torch.optim.SGD(lr, momentum=beta, nesterov=..., dampening=0)``, with the velocity
buffer starting at zero, which reproduces PyTorch's first step ``buf = g``): with the gradient
:math:`g = \nabla L(\theta)` taken at the current parameters and the learning-rate scale :math:`s` of a
parameter group,

.. math::

    \text{gd:}\quad & \theta' = \theta - \eta s\, g, \\
    \text{heavy-ball:}\quad & v' = \beta v + g, \qquad \theta' = \theta - \eta s\, v', \\
    \text{nesterov:}\quad & v' = \beta v + g, \qquad \theta' = \theta - \eta s\, (g + \beta v').

The velocity :math:`v` has the units of a gradient. Both momentum steps are
:math:`\theta' = \theta - \eta s\,(c_g\, g + c_v\, v)`, :math:`v' = \beta v + g`, with
:math:`(c_g, c_v) = (1, \beta)` for heavy-ball and :math:`(1 + \beta, \beta^2)` for Nesterov
(:func:`step_coefficients`); GD is :math:`(c_g, c_v) = (1, 0)` without a velocity.

The linear stability threshold is *derived*, not typed: on the quadratic :math:`L = a\theta^2/2` (curvature
:math:`a` in the metric of the learning rates) one step is a linear map of :math:`(\theta, v)`; its
characteristic polynomial :math:`\chi(\mu)` (:func:`characteristic_polynomial`) has a root :math:`\mu = -1` at
exactly one curvature, the threshold (:func:`threshold_expression`):

.. math::

    a^\ast_{\text{gd}} = \frac{2}{\eta}, \qquad
    a^\ast_{\text{heavy-ball}} = \frac{2 + 2\beta}{\eta}, \qquad
    a^\ast_{\text{nesterov}} = \frac{2 + 2\beta}{\eta\,(1 + 2\beta)}, \qquad
    a^\ast_{\text{adam}} = \frac{2 + 2\beta_1}{(1 - \beta_1)\,\eta}.

Adam (:func:`adam_update`, PyTorch's ``torch.optim.Adam`` with bias correction) is not linear on a quadratic;
with its preconditioner :math:`P = \operatorname{diag}(\sqrt{\hat v} + \epsilon)` frozen it is the momentum map of
:func:`frozen_adam_update` on :math:`P^{-1/2} H P^{-1/2}` (Cohen et al. 2022, *Adaptive gradient methods at the
edge of stability*), so its threshold is on the *preconditioned sharpness* :math:`\lambda_{\max}(P^{-1} H)`
(38/eta at :math:`\beta_1 = 0.9`; 2/eta for RMSProp, :math:`\beta_1 = 0`).

For :math:`0 \le \beta < 1` the map is linearly stable for :math:`0 < a < a^\ast` and a multiplier leaves the
unit disc through :math:`-1` at :math:`a^\ast` (period doubling: the edge of stability of Cohen et al. 2021,
Sec. 5 and App., for momentum). A model's sharpness is compared with this threshold, evaluated at its step
(:func:`sharpness_threshold`).

>>> threshold_expression("heavy-ball")
2*(beta + 1)/eta
>>> round(sharpness_threshold("nesterov", 0.1, 0.9), 6)
13.571429
>>> threshold_expression("adam"), round(sharpness_threshold("adam", 0.1, 0.9), 6)
(-2*(beta1 + 1)/(eta*(beta1 - 1)), 380.0)
"""
from __future__ import annotations

import functools
import math

import sympy as sp

from .errors import DomainError, UnknownNameError

OPTIMIZERS = ("gd", "heavy-ball", "nesterov")  # the full-batch family of torch.optim.SGD (``nn``)
# Every optimizer a model can be trained by: the above, mini-batch SGD (analysis.stochastic) and Adam.
MODEL_OPTIMIZERS = OPTIMIZERS + ("sgd", "adam")
DEFAULT_OPTIMIZER = "gd"

# The symbols of the closed forms (the step and the momentum); models use the same names and assumptions.
ETA = sp.Symbol("eta", positive=True)
BETA = sp.Symbol("beta", positive=True)
# Adam's parameters (torch.optim.Adam's betas=(beta1, beta2) and eps).
BETA1 = sp.Symbol("beta1", positive=True)
BETA2 = sp.Symbol("beta2", positive=True)
EPS = sp.Symbol("eps", positive=True)
CURVATURE = sp.Symbol("a", positive=True)  # curvature of the quadratic test loss, in the learning-rate metric
MULTIPLIER = sp.Symbol("mu")  # the spectral variable of the one-step map


def check_optimizer(optimizer) -> str:
    """``optimizer`` if it is one of :data:`OPTIMIZERS` (``None`` is ``"gd"``), else an
    :class:`~analysis.errors.UnknownNameError` listing them."""
    if optimizer is None:
        return DEFAULT_OPTIMIZER
    if optimizer not in MODEL_OPTIMIZERS:
        raise UnknownNameError("optimizer", optimizer, MODEL_OPTIMIZERS)
    return optimizer


def has_velocity(optimizer: str) -> bool:
    """Whether the optimizer carries a velocity (heavy-ball, Nesterov; Adam's first moment in its frozen form)."""
    return check_optimizer(optimizer) not in ("gd", "sgd")


def momentum_symbol(optimizer: str) -> sp.Symbol:
    """The symbol of the momentum in the optimizer's closed forms: :data:`BETA1` for Adam, else :data:`BETA`."""
    return BETA1 if check_optimizer(optimizer) == "adam" else BETA


def step_coefficients(optimizer: str, beta=BETA) -> tuple:
    r""":math:`(c_g, c_v)` of :math:`\theta' = \theta - \eta s (c_g g + c_v v)` (module docstring).

    Derived from the two-line update rather than listed: the velocity update :math:`v' = \beta v + g` is
    substituted into the optimizer's direction (``v'`` for heavy-ball, ``g + beta v'`` for Nesterov)."""
    optimizer = check_optimizer(optimizer)
    if optimizer == "adam":
        raise ValueError("adam is not a momentum step theta - eta s (c_g g + c_v v): see adam_update")
    g, v = sp.symbols("g v")
    new_velocity = beta * v + g
    direction = {"gd": g, "sgd": g, "heavy-ball": new_velocity, "nesterov": g + beta * new_velocity}[optimizer]
    direction = sp.expand(direction)
    return direction.coeff(g), direction.coeff(v)


def update(optimizer: str, theta, velocity, gradient, step, beta=BETA):
    r"""One optimizer step on sequences of expressions: returns ``(theta', v')``.

    ``step`` is :math:`\eta s` (the step of the parameter group, learning-rate scale included); ``gradient`` the
    gradient :math:`g` at ``theta``; ``velocity`` is ignored (and ``v'`` is ``()``) for ``gd``."""
    c_g, c_v = step_coefficients(optimizer, beta)
    if not has_velocity(optimizer):
        return tuple(t - step * g for t, g in zip(theta, gradient)), ()
    new_theta = tuple(t - step * (c_g * g + c_v * v) for t, g, v in zip(theta, gradient, velocity))
    new_velocity = tuple(beta * v + g for g, v in zip(gradient, velocity))
    return new_theta, new_velocity


def adam_update(theta, first, second, counter, gradient, step, beta1=BETA1, beta2=BETA2, eps=EPS):
    r"""One Adam step (``torch.optim.Adam``, ``amsgrad=False``, no weight decay), on sequences of expressions:
    returns ``(theta', m', v', t')``.

    .. math::

        m' = \beta_1 m + (1 - \beta_1) g, \qquad v' = \beta_2 v + (1 - \beta_2) g^2, \qquad t' = t + 1, \\
        \theta' = \theta - \eta s\, \frac{m' / (1 - \beta_1^{t'})}{\sqrt{v' / (1 - \beta_2^{t'})} + \epsilon},

    with the moments starting at 0 and the counter :math:`t` the number of steps taken (0 at the start), so that
    PyTorch's first step (its ``step`` = 1) divides by :math:`1 - \beta^1`. The counter enters the map only
    through the two bias corrections; it is a state variable, so the map is autonomous in
    :math:`(\theta, m, v, t)` (Kingma & Ba 2015, Algorithm 1)."""
    new_first = tuple(beta1 * m + (1 - beta1) * g for m, g in zip(first, gradient))
    new_second = tuple(beta2 * v + (1 - beta2) * g ** 2 for v, g in zip(second, gradient))
    new_counter = counter + 1
    new_theta = tuple(t - step * (m / (1 - beta1 ** new_counter)) / (sp.sqrt(v / (1 - beta2 ** new_counter)) + eps)
                      for t, m, v in zip(theta, new_first, new_second))
    return new_theta, new_first, new_second, new_counter


def frozen_adam_update(theta, first, gradient, step, beta1=BETA1):
    r"""Adam with its preconditioner frozen and its bias corrections at :math:`t \to \infty`, in the coordinates
    where the preconditioner is the identity (Cohen et al. 2022, Sec. 3): :math:`m' = \beta_1 m + (1 - \beta_1) g`,
    :math:`\theta' = \theta - \eta m'`. With :math:`P = \operatorname{diag}(\sqrt{\hat v} + \epsilon)` frozen,
    Adam on :math:`L` is this map on :math:`\tilde\theta = P^{1/2}\theta` with the Hessian
    :math:`P^{-1/2} H P^{-1/2}`, whose spectrum is that of :math:`P^{-1} H`."""
    new_first = tuple(beta1 * m + (1 - beta1) * g for m, g in zip(first, gradient))
    return tuple(t - step * m for t, m in zip(theta, new_first)), new_first


def one_step_matrix(optimizer: str, eta=ETA, beta=None, curvature=CURVATURE) -> sp.Matrix:
    r"""The Jacobian of one step on :math:`L = a\theta^2/2` in the state :math:`\theta` (gd) or
    :math:`(\theta, v)` (momentum), from :func:`update`; for Adam, of :func:`frozen_adam_update` in
    :math:`(\theta, m)`, where :math:`a` is a curvature of the preconditioned Hessian."""
    beta = momentum_symbol(optimizer) if beta is None else beta
    theta, v = sp.symbols("theta v")
    state = [theta] + ([v] if has_velocity(optimizer) else [])
    gradient = [sp.diff(curvature * theta ** 2 / 2, theta)]
    if check_optimizer(optimizer) == "adam":
        new_theta, new_velocity = frozen_adam_update([theta], [v], gradient, eta, beta)
    else:
        new_theta, new_velocity = update(optimizer, [theta], [v], gradient, eta, beta)
    return sp.Matrix(list(new_theta) + list(new_velocity)).jacobian(state)


def characteristic_polynomial(optimizer: str) -> sp.Expr:
    r""":math:`\chi(\mu) = \det(\mu I - J)` of :func:`one_step_matrix`, in :data:`MULTIPLIER`, :data:`CURVATURE`,
    :data:`ETA` and :data:`BETA` (:data:`BETA1` for Adam). Heavy-ball: :math:`\mu^2 - (1 + \beta - \eta a)\mu +
    \beta`; frozen Adam: :math:`\mu^2 - (1 + \beta_1 - \eta (1 - \beta_1) a)\mu + \beta_1`."""
    matrix = one_step_matrix(optimizer)
    return sp.expand((MULTIPLIER * sp.eye(matrix.rows) - matrix).det())


@functools.lru_cache(maxsize=None)
def threshold_expression(optimizer: str) -> sp.Expr:
    r"""The curvature at which a multiplier of the optimizer on a quadratic is :math:`-1`: the unique root in
    :math:`a` of :math:`\chi(-1) = 0` (:func:`characteristic_polynomial`), in the symbols ``eta`` and ``beta``.

    >>> threshold_expression("gd"), threshold_expression("nesterov")
    (2/eta, 2*(beta + 1)/(eta*(2*beta + 1)))
    """
    polynomial = sp.Poly(characteristic_polynomial(check_optimizer(optimizer)).subs(MULTIPLIER, -1), CURVATURE)
    if polynomial.degree() != 1:  # chi(-1) is linear in a for every optimizer here; anything else is a new optimizer
        raise ValueError(f"{optimizer}: chi(-1) = {polynomial.as_expr()} is not linear in the curvature")
    # The root of c1 a + c0 (not sympy.solve, whose simplification imports sympy.physics: 0.2 s per process).
    slope, intercept = polynomial.all_coeffs()
    return sp.factor(-intercept / slope)


@functools.lru_cache(maxsize=None)
def _threshold_function(optimizer: str):
    return sp.lambdify((ETA, momentum_symbol(optimizer)), threshold_expression(optimizer), "math")


def model_threshold(spec) -> sp.Expr:
    r"""The threshold on the sharpness of a model description (a :class:`~analysis.model.GramModel` or
    :class:`~analysis.model.CoordinateModel`): :func:`threshold_expression` of its optimizer at its step and
    momentum (``2/eta`` for GD; ``2*(beta + 1)`` for heavy-ball on ``uv-eos``, whose step is 1). For Adam the
    sharpness is the preconditioned one, :math:`\lambda_{\max}(P^{-1} H)`, and the threshold
    :math:`(2 + 2\beta_1)/((1 - \beta_1)\eta)`; mini-batch SGD's mean map is GD's (its threshold 2/eta; the
    mean-square threshold is :mod:`analysis.stochastic`'s)."""
    optimizer = check_optimizer(getattr(spec, "optimizer", DEFAULT_OPTIMIZER))
    momentum = momentum_symbol(optimizer)
    return sp.factor(threshold_expression(optimizer).subs({ETA: spec.step, momentum: getattr(spec, "momentum", 0)},
                                                          simultaneous=True))


def threshold_name(threshold) -> str:
    r"""How outputs name a model's threshold (:func:`model_threshold`): its formula in the parameters (``2/eta``
    for GD, ``2*(beta + 1)/eta`` heavy-ball, ``2*(beta + 1)/(eta*(2*beta + 1))`` Nesterov), or ``threshold`` where
    it is a number (``uv-eos``, GD at unit step on its own loss: 2).

    >>> threshold_name(2 / ETA), threshold_name(sp.Integer(2))
    ('2/eta', 'threshold')
    """
    threshold = sp.sympify(threshold)
    return sp.sstr(threshold) if threshold.free_symbols else "threshold"


def check_beta(beta, name: str = "beta") -> float:
    """``beta`` as a float in [0, 1) (momentum is unstable on every quadratic for beta >= 1), else a
    :class:`~analysis.errors.DomainError`."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise DomainError(name, repr(beta), "a number in [0, 1)") from None
    if not (math.isfinite(value) and 0 <= value < 1):
        raise DomainError(name, beta, "a number in [0, 1)")
    return value


def sharpness_threshold(optimizer: str, eta: float, beta: float = 0.0) -> float:
    r"""The linear stability threshold on the sharpness of ``optimizer`` at step ``eta`` and momentum ``beta``:
    :func:`threshold_expression` evaluated (``2/eta`` for ``gd``, where ``beta`` is ignored).

    Raises :class:`~analysis.errors.UnknownNameError` for an unknown optimizer and
    :class:`~analysis.errors.DomainError` for ``eta <= 0`` (or not finite) or ``beta`` outside [0, 1).

    >>> sharpness_threshold("gd", 0.5), sharpness_threshold("heavy-ball", 0.5, 0.5)
    (4.0, 6.0)
    """
    optimizer = check_optimizer(optimizer)
    try:
        step = float(eta)
    except (TypeError, ValueError):
        raise DomainError("eta", repr(eta), "a finite number > 0") from None
    if not (math.isfinite(step) and step > 0):
        raise DomainError("eta", eta, "a finite number > 0")
    momentum = check_beta(beta)
    return float(_threshold_function(optimizer)(step, momentum))


__all__ = ["BETA", "BETA1", "BETA2", "CURVATURE", "DEFAULT_OPTIMIZER", "EPS", "ETA", "MODEL_OPTIMIZERS", "MULTIPLIER",
           "OPTIMIZERS", "adam_update", "characteristic_polynomial", "check_beta", "check_optimizer",
           "frozen_adam_update", "has_velocity", "model_threshold", "momentum_symbol", "one_step_matrix",
           "sharpness_threshold", "step_coefficients", "threshold_expression", "update"]
