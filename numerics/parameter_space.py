r"""Gradient descent on a model's own parameters at concrete values, built from the model *description* only.

This is the independent side of the cross-check: it reads a :class:`~analysis.model.GramModel` or a
:class:`~analysis.model.CoordinateModel` (what :mod:`analysis.model` calls the description) and never the
function-space map derived from it in :mod:`analysis.derivations`, so agreement between the two is evidence
that the derivation is right, not a tautology.

Conventions (as in :mod:`analysis.model`)
    Every parameter moves with the learning rate :math:`\eta s` (``step`` times ``lr_scale``):
    :math:`\theta \leftarrow \theta - \eta s\,\nabla L`. The *sharpness* is the largest **algebraic** eigenvalue
    of :math:`s\,\nabla^2 L` (not the largest in magnitude: a saddle's negative curvature is not sharpness), so
    GD is linearly stable where :math:`\eta\cdot\text{sharpness} < 2`.

Gram models (``k`` vectors :math:`w_1..w_k \in \mathbb{R}^n`, stacked as the rows of :math:`W \in
\mathbb{R}^{k\times n}`, loss :math:`L(G)` of the Gram matrix :math:`G = W W^\top`)
    The ``"numpy"`` backend differentiates the description's loss symbolically in the Gram symbols (one symbol
    per :math:`G_{ij}`, :math:`i \le j`) and applies the chain rule numerically:

    .. math::
        \nabla_W L = S\,W, \qquad S_{ij} = \frac{\partial L}{\partial G_{ij}}\ (i \ne j), \quad
        S_{ii} = 2\,\frac{\partial L}{\partial G_{ii}},

    and, differentiating once more along a direction :math:`P \in \mathbb{R}^{k\times n}`,

    .. math::
        \nabla^2 L\,[P] = S\,P + \mathrm{d}S[\mathrm{d}G]\,W, \qquad \mathrm{d}G = P W^\top + W P^\top, \qquad
        \mathrm{d}S[\mathrm{d}G]_{ij} = c_{ij} \sum_{a \le b}
            \frac{\partial^2 L}{\partial G_{ij}\,\partial G_{ab}}\,\mathrm{d}G_{ab},

    with :math:`c_{ii} = 2`, :math:`c_{ij} = 1` otherwise. The state is :math:`(f, \lambda)` with
    :math:`\lambda = s \sum_i |\nabla_{w_i} f|^2 = s\,\lVert S_f W\rVert_F^2` (:math:`S_f` built from
    :math:`f` as :math:`S` from :math:`L`). Every product costs :math:`O(k^2 n)`.

    The ``"torch"`` backend computes :math:`G = W W^\top` from the actual vectors (a ``k x n`` float64 tensor)
    and differentiates :math:`L(G(W))` by autograd: ``torch.autograd.grad`` for gradients, double backward for
    Hessian-vector products. It shares nothing with the numpy chain rule but the lambdified loss.

Coordinate models (a loss over named scalar coordinates that are the state)
    ``"numpy"``: the gradient and the Hessian of the loss, differentiated symbolically and lambdified;
    ``"torch"``: autograd on the loss lambdified to torch.

Momentum (``spec.optimizer`` heavy-ball or nesterov, :mod:`analysis.optimizers`)
    The numpy backend keeps a velocity buffer :math:`v` of the parameters' shape, zero at the start, and steps
    with PyTorch's convention written out here: :math:`v \leftarrow \beta v + g`, then
    :math:`\theta \leftarrow \theta - \eta s\,v` (heavy-ball) or :math:`\theta - \eta s\,(g + \beta v)`
    (Nesterov). The torch backend steps with ``torch.optim.SGD(lr=eta*s, momentum=beta, nesterov=...)`` itself
    (dampening 0, no weight decay), whose first step sets the buffer to :math:`g`: the same as a zero start.
    The state gains the velocity: coordinate models :math:`(\theta, v)`; Gram models, for each of
    :math:`\phi = f, \lambda`, :math:`\phi_v = s\,D\phi[p]` and :math:`\phi_{vv} = s^2 D^2\phi[p, p]` with
    :math:`p` the velocity vectors. numpy differentiates along the line :math:`W + tP` with the chain rule on the
    Gram partials of :math:`f` (up to third order, for :math:`\lambda = s\lVert S_f W\rVert^2`); torch by
    autograd (gradients and double-backward Hessian-vector products of :math:`f` and of
    :math:`\lambda = s\lVert\nabla f\rVert^2`).

Sharpness
    Dense ``eigvalsh`` of the Hessian assembled column by column from HVPs when there are at most
    :data:`DENSE_LIMIT` scalar parameters (ARPACK needs more room than such a matrix has); otherwise Lanczos,
    ``scipy.sparse.linalg.eigsh(which="LA")`` on a ``LinearOperator`` of HVPs, from a fixed start vector (so
    runs are reproducible) to tolerance :data:`EIGSH_TOL`.

Example (the UV model at width 64; f and lam are the output and the NTK)::

    >>> from analysis.registry import get_model
    >>> gd = ParameterSpaceGD(get_model("uv"), "sp", {"eta": 0.5, "y": 1.0}, width=64, seed=0)
    >>> sorted(gd.state()), gd.parameters
    (['f', 'lam'], 128)
    >>> result = run(gd, 20)
    >>> result["outcome"], len(result["loss"])
    ({'name': 'completed'}, 21)
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import sympy as sp
from scipy.sparse.linalg import LinearOperator, eigsh

from analysis.values import value_mapping
from analysis.errors import UserInputError
from analysis.model import CoordinateModel, GramModel, stray_symbols

BACKENDS = ("numpy", "torch")
# Dense eigvalsh up to this many scalar parameters; Lanczos (eigsh) on HVPs above.
DENSE_LIMIT = 16
# Relative accuracy asked of ARPACK for the top eigenvalue; it reaches ~1e-14 on the models here.
EIGSH_TOL = 1e-14
# Seed of the Lanczos start vector: fixed, and independent of the initialisation seed, so that the sharpness is a
# deterministic function of the parameters.
LANCZOS_START_SEED = 20231103
# run() stops with outcome "diverged" when a state coordinate exceeds this in magnitude.
DIVERGENCE_BOUND = 1e150


class _NonFinite(ArithmeticError):
    """A Hessian-vector product with a non-finite entry (the iterate has overflowed)."""


class ParameterSpaceGD:
    r"""GD on the model's own parameters at concrete values.

    Parameters
    ----------
    model:
        a registered :class:`~analysis.model.Model` (e.g. ``get_model("uv")``).
    parameterization:
        one of ``model.parameterizations``; ``model.describe(parameterization)`` is the description used.
    values:
        parameter name -> float. Parameters with a default may be left out. For a Gram model the width parameter
        (the name of ``spec.width``) is set from ``width``; giving it in ``values`` with another value is an error.
    width:
        Gram models only: the dimension :math:`n` of every vector (a positive integer).
    initial:
        coordinate models only: initial state name -> float; missing names take their ``StateVariable`` default
        evaluated at ``values``. (A Gram model's initial point is drawn, see ``seed``.)
    seed:
        Gram models: :math:`w_i \sim \mathcal{N}(0, I_n)` drawn from ``np.random.default_rng(seed)``, one
        ``standard_normal(n)`` per vector in the description's vector order (for the UV model: ``u`` then ``v``).
    backend:
        ``"numpy"`` (symbolic derivatives of the description and the Gram chain rule) or ``"torch"`` (float64
        autograd on the CPU; raises :class:`ImportError` if PyTorch is not installed).

    Raises :class:`~analysis.errors.UserInputError` on bad input: an unknown parameterization, parameter, state
    name or backend, a missing or non-finite or out-of-domain value, ``width`` given to a coordinate model or
    missing/non-positive for a Gram model, or a width parameter in ``values`` that contradicts ``width``.
    """

    def __init__(self, model, parameterization: str, values: dict, *, width: Optional[int] = None,
                 initial: Optional[dict] = None, seed: int = 0, backend: str = "numpy"):
        self.model = model
        self.parameterization = model.check_parameterization(parameterization)
        self.spec = model.describe(self.parameterization)
        if backend not in BACKENDS:
            raise UserInputError(f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
        self.backend = backend
        self.seed = seed
        if isinstance(self.spec, GramModel):
            self.width = _check_width(width)
            if initial is not None:
                raise UserInputError(f"model {model.name!r} draws its initial vectors from the seed; "
                                     f"initial values belong to coordinate models")
        elif isinstance(self.spec, CoordinateModel):
            if width is not None:
                raise UserInputError(f"--width belongs to width-n models; {model.name!r} is a coordinate model")
            self.width = None
        else:
            raise TypeError(f"model {model.name!r} describes itself as {type(self.spec).__name__}, "
                            f"expected a GramModel or a CoordinateModel")

        self.symbols = _parameter_symbols(model, self.spec)
        self.values = _parameter_values(model, self.spec, self.symbols, values, self.width)
        numbers = [self.values[symbol.name] for symbol in self.symbols]
        self.eta = _evaluate(self.spec.step, self.symbols, numbers, "the step")
        self.lr_scale = _evaluate(self.spec.lr_scale, self.symbols, numbers, "the learning-rate scale")

        self.optimizer = getattr(self.spec, "optimizer", "gd")
        self.momentum = None if self.optimizer == "gd" else self.values[self.spec.momentum.name]
        velocity = None
        if isinstance(self.spec, GramModel):
            rng = np.random.default_rng(seed)
            weights = np.stack([rng.standard_normal(self.width) for _ in self.spec.vectors])
            self.state_names = tuple(variable.name for variable in self.spec.state)
            kernel = _GramTorch if backend == "torch" else _GramNumpy
            if self.optimizer != "gd":
                velocity = np.zeros_like(weights)  # PyTorch's buffer before its first step
        else:
            weights = _initial_coordinates(self.spec, self.values, self.symbols, initial)
            self.state_names = tuple(variable.name for variable in self.spec.state)
            kernel = _CoordinateTorch if backend == "torch" else _CoordinateNumpy
            if self.optimizer != "gd":
                weights, velocity = weights[:len(self.spec.coordinates)], weights[len(self.spec.coordinates):]
        self._kernel = kernel(self.spec, self.symbols, numbers, weights)
        self._lanczos_start = np.random.default_rng(LANCZOS_START_SEED).standard_normal(self.parameters)
        self.velocity = velocity
        self._torch_optimizer = None
        if velocity is not None and backend == "torch":
            torch = self._kernel.torch
            if np.any(velocity):  # torch.optim.SGD starts its buffer at the first gradient, i.e. from zero velocity
                raise UserInputError("backend='torch' runs torch.optim.SGD, whose velocity starts at 0; "
                                     "give no initial velocity")
            self._torch_optimizer = torch.optim.SGD([self._kernel.theta], lr=self.eta * self.lr_scale,
                                                    momentum=self.momentum, dampening=0,
                                                    nesterov=self.optimizer == "nesterov")

    @property
    def parameters(self) -> int:
        """The number of scalar parameters GD moves (``k * n`` for a Gram model, the state size otherwise)."""
        return self._kernel.size

    def weights(self) -> np.ndarray:
        """A copy of the current parameters: the ``k x n`` matrix :math:`W` (rows :math:`w_i`), or the coordinates."""
        return self._kernel.weights()

    def state(self) -> dict:
        r"""The state: ``{f: f, lam: lam}`` for a Gram model (:math:`\lambda = s\sum_i|\nabla_{w_i} f|^2`), the
        coordinates for a coordinate model."""
        if self.velocity is None and self._torch_optimizer is None:
            return dict(zip(self.state_names, self._kernel.state(self.lr_scale)))
        return dict(zip(self.state_names, self._kernel.momentum_state(self.lr_scale, self._velocity())))

    def _velocity(self) -> np.ndarray:
        """The current velocity (the numpy buffer, or torch.optim.SGD's ``momentum_buffer``; zero before it exists)."""
        if self._torch_optimizer is None:
            return self.velocity
        buffer = self._torch_optimizer.state.get(self._kernel.theta, {}).get("momentum_buffer")
        return np.zeros(tuple(self._kernel.theta.shape)) if buffer is None else buffer.detach().numpy().copy()

    def loss(self) -> float:
        """The loss :math:`L` at the current parameters."""
        return self._kernel.loss()

    def gradient(self) -> np.ndarray:
        r""":math:`\nabla L` at the current parameters, flattened (row-major :math:`W` for a Gram model)."""
        return self._kernel.gradient()

    def hvp(self, vector) -> np.ndarray:
        r""":math:`s\,\nabla^2 L\; p` for a flat direction :math:`p` (the operator whose top eigenvalue is the
        sharpness)."""
        return self.lr_scale * self._kernel.hvp(np.asarray(vector, dtype=float).ravel())

    def sharpness(self) -> float:
        r"""The largest algebraic eigenvalue of :math:`s\,\nabla^2 L`; NaN if the Hessian has overflowed.

        Dense ``eigvalsh`` when :attr:`parameters` :math:`\le` :data:`DENSE_LIMIT`, else ``eigsh(which="LA")``
        on a ``LinearOperator`` of HVPs from a fixed start vector (``ArpackNoConvergence`` propagates).
        """
        size = self.parameters

        def product(vector):
            result = self.hvp(vector)
            if not np.all(np.isfinite(result)):
                raise _NonFinite
            return result

        try:
            if size <= DENSE_LIMIT:
                dense = np.column_stack([product(unit) for unit in np.eye(size)])
                return float(np.linalg.eigvalsh((dense + dense.T) / 2)[-1])
            operator = LinearOperator((size, size), matvec=product, dtype=float)
            top = eigsh(operator, k=1, which="LA", v0=self._lanczos_start, tol=EIGSH_TOL,
                        return_eigenvectors=False)
            return float(top[0])
        except _NonFinite:
            return math.nan

    def step(self) -> None:
        r"""One step: GD :math:`\theta \leftarrow \theta - \eta s\,\nabla L`, or the momentum optimizer (module
        docstring; torch: ``torch.optim.SGD.step``)."""
        rate = self.eta * self.lr_scale
        if self._torch_optimizer is not None:
            self._kernel.sgd_step(self._torch_optimizer)
        elif self.velocity is None:
            self._kernel.step(rate)
        else:
            gradient = self._kernel.gradient().reshape(self.velocity.shape)
            self.velocity = self.momentum * self.velocity + gradient
            direction = self.velocity if self.optimizer == "heavy-ball" else gradient + self.momentum * self.velocity
            self._kernel.displace(rate * direction)

    def __repr__(self):
        where = f", width={self.width}, seed={self.seed}" if self.width is not None else ""
        return (f"ParameterSpaceGD({self.model.name!r}, {self.parameterization!r}, {self.values}{where}, "
                f"backend={self.backend!r})")


def run(gd: ParameterSpaceGD, steps: int, progress: Optional[Callable[[], None]] = None) -> dict:
    """``steps`` GD steps from the current point, measuring before every step and after the last.

    Returns ``{"steps", "state": {name: array}, "loss": array, "sharpness": array, "outcome"}``, with one entry per
    measured point (``steps + 1`` on completion). The run stops at the first point ``t`` where a state coordinate
    or the loss is non-finite or a state coordinate exceeds :data:`DIVERGENCE_BOUND` in magnitude, with the outcome
    ``{"name": "diverged", "step": t}`` (points ``0..t-1`` are recorded); otherwise the outcome is
    ``{"name": "completed"}``. ``progress()`` is called once per measured point.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise UserInputError(f"steps must be a non-negative integer, got {steps!r}")
    states = {name: [] for name in gd.state_names}
    losses, sharpness = [], []
    outcome = {"name": "completed"}
    with np.errstate(all="ignore"):  # overflow is detected below and reported as the outcome "diverged"
        for t in range(steps + 1):
            state, loss = gd.state(), gd.loss()
            coordinates = np.array(list(state.values()), dtype=float)
            if not (np.all(np.isfinite(coordinates)) and np.isfinite(loss)
                    and np.all(np.abs(coordinates) <= DIVERGENCE_BOUND)):
                outcome = {"name": "diverged", "step": t}
                break
            for name, value in state.items():
                states[name].append(value)
            losses.append(loss)
            sharpness.append(gd.sharpness())
            if t < steps:
                gd.step()
            if progress:
                progress()
    return {"steps": steps, "state": {name: np.array(series, dtype=float) for name, series in states.items()},
            "loss": np.array(losses, dtype=float), "sharpness": np.array(sharpness, dtype=float),
            "outcome": outcome}


# --- input checking ------------------------------------------------------------------------------------------------

def _check_width(width) -> int:
    if width is None:
        raise UserInputError("a width-n model needs --width (a positive integer)")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
        raise UserInputError(f"--width must be a positive integer, got {width!r}")
    if width <= 0:
        raise UserInputError(f"--width must be a positive integer, got {width}")
    return int(width)


def _parameter_symbols(model, spec) -> list:
    """The model's parameter symbols in declaration order (plus a Gram model's width symbol if undeclared),
    after checking that the description uses no other free symbol."""
    symbols = [parameter.symbol for parameter in model.parameters]
    if isinstance(spec, GramModel) and spec.width not in symbols:
        symbols.append(spec.width)
    for what, names in stray_symbols(model, spec).items():
        raise UserInputError(f"the {what} of model {model.name!r} has symbols that are neither parameters nor "
                             f"parameter-space coordinates: {', '.join(names)}")
    return symbols


def _as_float(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"value of {name!r} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise UserInputError(f"value of {name!r} must be finite, got {value!r}")
    return number


def _parameter_values(model, spec, symbols, values, width) -> dict:
    """``{name: float}`` for every parameter symbol: given, set from ``width``, or the default; domains checked."""
    values = value_mapping(values)
    names = [symbol.name for symbol in symbols]
    for name in values:
        if name not in names:
            raise UserInputError(f"unknown parameter {name!r} of model {model.name!r}; expected one of: "
                                 f"{', '.join(names)}")
    numbers = {name: _as_float(name, value) for name, value in values.items()}
    if isinstance(spec, GramModel):
        name = spec.width.name
        if name in numbers and numbers[name] != width:
            raise UserInputError(f"{name} = {values[name]} contradicts --width {width}; the width parameter "
                                 f"{name!r} is set from --width")
        numbers[name] = float(width)
    domains = {parameter.name: parameter for parameter in model.parameters}
    for symbol in symbols:
        name = symbol.name
        parameter = domains.get(name)
        if name not in numbers:
            if parameter is None or parameter.default is None:
                raise UserInputError(f"missing value for parameter {name!r} of model {model.name!r}")
            default = sp.sympify(parameter.default).subs({s: numbers[s.name] for s in symbols if s.name in numbers})
            numbers[name] = _as_float(name, default)
        if parameter is not None:
            if parameter.domain in ("positive", "positive_integer") and not numbers[name] > 0:
                raise UserInputError(f"{name} must be > 0, got {numbers[name]}")
            if parameter.domain == "positive_integer" and not numbers[name].is_integer():
                raise UserInputError(f"{name} must be a positive integer, got {numbers[name]}")
    return {symbol.name: numbers[symbol.name] for symbol in symbols}


def _evaluate(expression, symbols, numbers, what: str) -> float:
    """A parameter expression (the step, the learning-rate scale) at the parameter values, as a float."""
    value = sp.lambdify(symbols, sp.sympify(expression), modules="numpy")(*numbers)
    number = float(value)
    if not math.isfinite(number):
        raise UserInputError(f"{what} {expression} is not finite at these parameter values")
    return number


def _initial_coordinates(spec, values, symbols, initial) -> np.ndarray:
    """The initial point of a coordinate model: ``initial``, missing names from the defaults at ``values``."""
    initial = dict(initial or {})
    names = [variable.name for variable in spec.state]
    for name in initial:
        if name not in names:
            raise UserInputError(f"unknown state variable {name!r}; expected one of: {', '.join(names)}")
    at_values = {symbol: values[symbol.name] for symbol in symbols}
    point = []
    for variable in spec.state:
        if variable.name in initial:
            point.append(_as_float(variable.name, initial[variable.name]))
        elif variable.default is None:
            raise UserInputError(f"missing initial value of {variable.name!r}")
        else:
            point.append(_as_float(variable.name, sp.sympify(variable.default).subs(at_values)))
    return np.array(point, dtype=float)


# --- Gram models ---------------------------------------------------------------------------------------------------

def _gram_pairs(k: int) -> list:
    """Index pairs ``(i, j)``, ``i <= j``: the order of the Gram symbols (as in ``GramModel.gram_symbols``)."""
    return [(i, j) for i in range(k) for j in range(i, k)]


def _coefficients(partials: np.ndarray, k: int) -> np.ndarray:
    r"""The symmetric :math:`S` with :math:`\nabla_W \phi = S W` from the partials :math:`\partial\phi/\partial
    G_{ij}` (:math:`i \le j`, in :func:`_gram_pairs` order): :math:`S_{ij} = \partial_{ij}\phi`,
    :math:`S_{ii} = 2\,\partial_{ii}\phi`."""
    matrix = np.zeros((k, k))
    for value, (i, j) in zip(partials, _gram_pairs(k)):
        if i == j:
            matrix[i, i] = 2 * value
        else:
            matrix[i, j] = matrix[j, i] = value
    return matrix


class _GramNumpy:
    """Gram chain rule in numpy on the lambdified loss, its Gram partials and the output's (module docstring)."""

    def __init__(self, spec: GramModel, symbols, numbers, weights):
        self.k = spec.k
        self.pairs = _gram_pairs(self.k)
        gram = [spec.gram_symbol(i, j) for i, j in self.pairs]
        arguments = gram + list(symbols)
        loss = spec.loss
        compile_ = lambda expression: sp.lambdify(arguments, expression, modules="numpy")  # noqa: E731
        self._loss = compile_(loss)
        self._loss_partials = compile_([sp.diff(loss, g) for g in gram])
        self._loss_second = compile_([[sp.diff(loss, g, h) for h in gram] for g in gram])
        self._output = compile_(spec.output)
        self._output_partials = compile_([sp.diff(spec.output, g) for g in gram])
        self._output_second = compile_([[sp.diff(spec.output, g, h) for h in gram] for g in gram])
        self._output_third = compile_([[[sp.diff(spec.output, g, h, q) for q in gram] for h in gram] for g in gram])
        self.numbers = list(numbers)
        self.W = np.array(weights, dtype=float)
        self.size = self.W.size
        self._cache = None

    def _arguments(self):
        gram = self.W @ self.W.T
        return [gram[i, j] for i, j in self.pairs] + self.numbers

    def _local(self):
        """``(arguments, S_L, second partials)`` at the current ``W``, computed once per point."""
        if self._cache is None:
            arguments = self._arguments()
            partials = np.asarray(self._loss_partials(*arguments), dtype=float)
            second = np.asarray(self._loss_second(*arguments), dtype=float)
            self._cache = (arguments, _coefficients(partials, self.k), second)
        return self._cache

    def weights(self):
        return self.W.copy()

    def state(self, lr_scale):
        arguments = self._local()[0]
        output = float(self._output(*arguments))
        coefficients = _coefficients(np.asarray(self._output_partials(*arguments), dtype=float), self.k)
        return output, float(lr_scale * np.sum((coefficients @ self.W) ** 2))

    def loss(self):
        return float(self._loss(*self._local()[0]))

    def gradient(self):
        return (self._local()[1] @ self.W).ravel()

    def hvp(self, vector):
        _, coefficients, second = self._local()
        direction = vector.reshape(self.W.shape)
        d_gram = direction @ self.W.T + self.W @ direction.T
        d_coefficients = _coefficients(second @ np.array([d_gram[i, j] for i, j in self.pairs]), self.k)
        return (coefficients @ direction + d_coefficients @ self.W).ravel()

    def step(self, rate):
        self.W = self.W - rate * (self._local()[1] @ self.W)
        self._cache = None

    def displace(self, delta):
        self.W = self.W - np.asarray(delta, dtype=float).reshape(self.W.shape)
        self._cache = None

    def momentum_state(self, lr_scale, velocity):
        r"""``(f, lam, f_v, f_vv, lam_v, lam_vv)`` at the current ``W`` and velocity ``P`` (module docstring): along
        :math:`G(t) = G + t\,dG + t^2 PP^\top`, :math:`dG = PW^\top + WP^\top`, the chain rule on the Gram
        partials of :math:`f`; :math:`\lambda = s\lVert M\rVert^2` with :math:`M(t) = S_f(G(t))\,(W + tP)`."""
        arguments = self._local()[0]
        P = np.asarray(velocity, dtype=float).reshape(self.W.shape)
        d_gram = P @ self.W.T + self.W @ P.T
        pp_gram = P @ P.T
        dg = np.array([d_gram[i, j] for i, j in self.pairs])
        pp = np.array([pp_gram[i, j] for i, j in self.pairs])
        first = np.asarray(self._output_partials(*arguments), dtype=float)
        second = np.asarray(self._output_second(*arguments), dtype=float)
        third = np.asarray(self._output_third(*arguments), dtype=float)
        output = float(self._output(*arguments))
        output_v = first @ dg
        output_vv = dg @ second @ dg + 2 * first @ pp
        s0 = _coefficients(first, self.k)
        s1 = _coefficients(second @ dg, self.k)
        s2 = _coefficients(np.einsum("abc,b,c->a", third, dg, dg) + 2 * second @ pp, self.k)
        m0, m1, m2 = s0 @ self.W, s1 @ self.W + s0 @ P, s2 @ self.W + 2 * s1 @ P
        kernel = lr_scale * np.sum(m0 ** 2)
        kernel_v = 2 * lr_scale * np.sum(m0 * m1)
        kernel_vv = 2 * lr_scale * (np.sum(m1 * m1) + np.sum(m0 * m2))
        return (output, kernel, lr_scale * output_v, lr_scale ** 2 * output_vv, lr_scale * kernel_v,
                lr_scale ** 2 * kernel_vv)


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("backend='torch' needs PyTorch, which is not installed; install the CPU build with "
                          "pip install torch==2.13.0 (or pip install -e .[torch]), or use backend='numpy'") from error
    return torch


def _torch_grad(torch, output, inputs, **options):
    """``torch.autograd.grad`` of a scalar, with zeros where ``output`` does not depend on ``inputs``."""
    if not (torch.is_tensor(output) and output.requires_grad):
        return torch.zeros_like(inputs)
    gradient, = torch.autograd.grad(output, inputs, allow_unused=True, materialize_grads=True, **options)
    return gradient


class _TorchKernel:
    """Autograd on a loss of a float64 CPU tensor of parameters (a ``k x n`` matrix or a coordinate vector)."""

    def __init__(self, symbols, numbers, weights):
        self.torch = torch = _torch()
        self.numbers = [torch.tensor(number, dtype=torch.float64) for number in numbers]
        self.theta = torch.tensor(np.array(weights, dtype=float), dtype=torch.float64, requires_grad=True)
        self.size = self.theta.numel()
        self._cache = None

    def _scalar(self, value):
        """A lambdified expression's value as a float64 tensor (constants come back as Python numbers)."""
        return value if self.torch.is_tensor(value) else self.torch.tensor(float(value), dtype=self.torch.float64)

    def _loss_tensor(self):
        raise NotImplementedError

    def _local(self):
        """``(loss, gradient with its graph)`` at the current point, computed once per point."""
        if self._cache is None:
            loss = self._loss_tensor()
            self._cache = (loss, _torch_grad(self.torch, loss, self.theta, create_graph=True))
        return self._cache

    def weights(self):
        return self.theta.detach().numpy().copy()

    def loss(self):
        return float(self._local()[0].detach())

    def gradient(self):
        return self._local()[1].detach().numpy().ravel().copy()

    def hvp(self, vector):
        gradient = self._local()[1]
        if not gradient.requires_grad:  # a loss at most linear in the parameters
            return np.zeros(self.size)
        direction = self.torch.from_numpy(np.ascontiguousarray(vector, dtype=float).reshape(tuple(self.theta.shape)))
        product, = self.torch.autograd.grad(gradient, self.theta, direction, retain_graph=True, allow_unused=True,
                                            materialize_grads=True)
        return product.detach().numpy().ravel().copy()

    def step(self, rate):
        with self.torch.no_grad():
            updated = self.theta - rate * self._local()[1]
        self.theta = updated.detach().requires_grad_(True)
        self._cache = None

    def sgd_step(self, optimizer):
        """One step of a ``torch.optim`` optimizer over the (persistent) parameter tensor."""
        self.theta.grad = self._local()[1].detach().clone()
        optimizer.step()
        self.theta.grad = None
        self._cache = None


class _GramTorch(_TorchKernel):
    r"""Autograd through :math:`G = W W^\top` computed from the actual vectors."""

    def __init__(self, spec: GramModel, symbols, numbers, weights):
        super().__init__(symbols, numbers, weights)
        self.pairs = _gram_pairs(spec.k)
        arguments = [spec.gram_symbol(i, j) for i, j in self.pairs] + list(symbols)
        self._loss = sp.lambdify(arguments, spec.loss, modules="torch")
        self._output = sp.lambdify(arguments, spec.output, modules="torch")

    def _arguments(self):
        gram = self.theta @ self.theta.T
        return [gram[i, j] for i, j in self.pairs] + self.numbers

    def _loss_tensor(self):
        return self._scalar(self._loss(*self._arguments()))

    def state(self, lr_scale):
        output = self._scalar(self._output(*self._arguments()))
        gradient = _torch_grad(self.torch, output, self.theta)
        return float(output.detach()), float(lr_scale * (gradient.detach() ** 2).sum())

    def momentum_state(self, lr_scale, velocity):
        r"""``(f, lam, f_v, f_vv, lam_v, lam_vv)`` by autograd: :math:`D\phi[p] = \nabla\phi\cdot p` and
        :math:`D^2\phi[p, p] = p\cdot\nabla^2\phi\,p` (double backward) for :math:`\phi = f` and
        :math:`\lambda = s\lVert\nabla f\rVert^2`."""
        torch = self.torch
        p = torch.from_numpy(np.ascontiguousarray(velocity, dtype=float).reshape(tuple(self.theta.shape)))
        output = self._scalar(self._output(*self._arguments()))
        grad_f = _torch_grad(torch, output, self.theta, create_graph=True)
        kernel = lr_scale * (grad_f ** 2).sum()
        values = [float(output.detach()), float(kernel.detach())]
        derivatives = []
        for phi in (output, kernel):
            gradient = _torch_grad(torch, phi, self.theta, create_graph=True)
            directional = (gradient * p).sum()
            second = _torch_grad(torch, directional, self.theta, retain_graph=True)
            derivatives.append((lr_scale * float(directional.detach()),
                                lr_scale ** 2 * float((second.detach() * p).sum())))
        return (values[0], values[1], *derivatives[0], *derivatives[1])


# --- coordinate models ---------------------------------------------------------------------------------------------

class _CoordinateNumpy:
    """Lambdified gradient and Hessian of the loss over the coordinates."""

    def __init__(self, spec: CoordinateModel, symbols, numbers, weights):
        coordinates = [variable.symbol for variable in spec.coordinates]
        arguments = coordinates + list(symbols)
        self._loss = sp.lambdify(arguments, spec.loss, modules="numpy")
        self._gradient = sp.lambdify(arguments, [sp.diff(spec.loss, c) for c in coordinates], modules="numpy")
        self._hessian = sp.lambdify(arguments, sp.hessian(spec.loss, coordinates).tolist(), modules="numpy")
        self.numbers = list(numbers)
        self.theta = np.array(weights, dtype=float)
        self.size = self.theta.size
        self._cache = None

    def _local(self):
        """``(gradient, Hessian)`` at the current point, computed once per point."""
        if self._cache is None:
            arguments = [*self.theta, *self.numbers]
            self._cache = (np.asarray(self._gradient(*arguments), dtype=float),
                           np.asarray(self._hessian(*arguments), dtype=float))
        return self._cache

    def weights(self):
        return self.theta.copy()

    def state(self, lr_scale):
        return tuple(float(value) for value in self.theta)

    def loss(self):
        return float(self._loss(*self.theta, *self.numbers))

    def gradient(self):
        return self._local()[0].copy()

    def hvp(self, vector):
        return self._local()[1] @ vector

    def step(self, rate):
        self.theta = self.theta - rate * self._local()[0]
        self._cache = None

    def displace(self, delta):
        self.theta = self.theta - np.asarray(delta, dtype=float).ravel()
        self._cache = None

    def momentum_state(self, lr_scale, velocity):
        return tuple(float(value) for value in self.theta) + tuple(float(value) for value in np.ravel(velocity))


class _CoordinateTorch(_TorchKernel):
    """Autograd on the loss lambdified to torch, with the coordinates as the entries of one tensor."""

    def __init__(self, spec: CoordinateModel, symbols, numbers, weights):
        super().__init__(symbols, numbers, weights)
        arguments = [variable.symbol for variable in spec.coordinates] + list(symbols)
        self._loss = sp.lambdify(arguments, spec.loss, modules="torch")

    def _loss_tensor(self):
        return self._scalar(self._loss(*self.theta, *self.numbers))

    def state(self, lr_scale):
        return tuple(float(value) for value in self.theta.detach())

    def momentum_state(self, lr_scale, velocity):
        return self.state(lr_scale) + tuple(float(value) for value in np.ravel(velocity))
