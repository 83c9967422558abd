r"""How a model is described: once, as SymPy objects.

Two kinds of description cover the toolkit's models; every measure in :mod:`analysis.derivations`
accepts both, so a new model is one new module that builds one of them.

:class:`GramModel`
    A network whose parameters are ``k`` vectors :math:`w_1, \dots, w_k \in \mathbb{R}^n` and whose loss
    depends on them only through their Gram matrix :math:`G_{ij} = w_i \cdot w_j` (an
    :math:`O(n)`-invariant loss, e.g. the UV model). The output :math:`f(G)` and the per-output loss
    :math:`\ell(f)` are given; the NTK, the GD map of :math:`G`, the closed map on the function-space
    state, and the Hessian spectrum at every width are *derived*.

:class:`CoordinateModel`
    A loss :math:`L(\theta)` over a few named scalar coordinates that are also the state (e.g. the cubic
    normal form ``uv-eos``); GD is :math:`\theta' = \theta - \eta\,\nabla L`.

Conventions (both kinds)
    Every parameter group may carry a learning-rate scale :math:`s` (``lr_scale``), so that the step on the
    parameters is :math:`\eta s`. *Sharpness* is the top eigenvalue of the loss Hessian in the metric of the
    learning rates, :math:`\max \operatorname{spec}(s\,\nabla^2 L)`, so that GD is linearly stable where
    :math:`\eta \cdot \text{sharpness} < 2` in every parameterization.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import sympy as sp

DOMAINS = ("positive", "real", "positive_integer")


@dataclass(frozen=True)
class Parameter:
    """A named model parameter: a SymPy symbol, a domain and an optional default.

    ``domain`` is one of ``positive`` (strictly > 0), ``real`` or ``positive_integer``; values given on the
    command line are checked against it.
    """

    name: str
    symbol: sp.Symbol
    description: str
    domain: str = "real"
    default: Optional[sp.Expr] = None

    def __post_init__(self):
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown domain {self.domain!r}; expected one of: {', '.join(DOMAINS)}")


@dataclass(frozen=True)
class StateVariable:
    """A coordinate of the state on which the derived map acts (``f``, ``lam``, ``z``, ...).

    ``default`` is the initial value used when none is given: an expression in the parameters.
    """

    name: str
    symbol: sp.Symbol
    description: str
    default: Optional[sp.Expr] = None


@dataclass(frozen=True)
class EoSManifold:
    r"""An invariant set of parameter configurations :math:`w_i = \sigma_i\, w` (signs :math:`\sigma_i`).

    On it every vector is a multiple of one vector :math:`w`, with chart :math:`\theta = |w|`; the derivation
    proves invariance, reduces GD to a 1-D map in :math:`\theta` and brings it to the cubic normal form.
    """

    name: str
    signs: tuple
    description: str


@dataclass(frozen=True)
class GramModel:
    r"""An :math:`O(n)`-invariant network of ``k`` vectors in :math:`\mathbb{R}^n` (see module docstring).

    Parameters
    ----------
    output:
        :math:`f(G)` in the Gram symbols (``gram_symbols``) and the parameters.
    loss_of_output:
        :math:`\ell(f)`; a function of ``output_symbol`` and the parameters.
    lr_scale:
        learning-rate scale :math:`s` of every vector (1 in SP, :math:`n` in muP).
    state:
        ``(output state, kernel state)``: the output :math:`f` and the NTK
        :math:`\lambda = s\,\sum_i |\nabla_{w_i} f|^2` (derived, not given).
    """

    vectors: tuple
    width: sp.Symbol
    step: sp.Symbol
    output: sp.Expr
    output_symbol: sp.Symbol
    loss_of_output: sp.Expr
    lr_scale: sp.Expr
    state: tuple
    eos_manifolds: tuple = ()

    @property
    def k(self) -> int:
        return len(self.vectors)

    def gram_symbol(self, i: int, j: int) -> sp.Symbol:
        """The Gram entry :math:`G_{ij} = w_i\\cdot w_j` (one symbol for ``(i, j)`` and ``(j, i)``)."""
        i, j = sorted((i, j))
        a, b = self.vectors[i], self.vectors[j]
        return sp.Symbol(f"G_{{{a}{b}}}", positive=True) if i == j else sp.Symbol(f"G_{{{a}{b}}}", real=True)

    @property
    def gram_symbols(self) -> tuple:
        return tuple(self.gram_symbol(i, j) for i in range(self.k) for j in range(i, self.k))

    def gram_matrix(self) -> sp.Matrix:
        return sp.Matrix(self.k, self.k, lambda i, j: self.gram_symbol(i, j))

    @property
    def loss(self) -> sp.Expr:
        """The parameter-space loss :math:`L(G) = \\ell(f(G))`."""
        return self.loss_of_output.subs(self.output_symbol, self.output)

    def fingerprint(self) -> str:
        return _fingerprint(("gram", self.vectors, self.width, self.step, self.output, self.output_symbol,
                             self.loss_of_output, self.lr_scale, self.state, self.eos_manifolds))


@dataclass(frozen=True)
class CoordinateModel:
    r"""GD on a loss over named scalar coordinates that are the state: :math:`\theta' = \theta - \eta s \nabla L`.

    ``step`` may be a parameter symbol or a number (``uv-eos`` takes a unit step on its reduced loss).
    """

    loss: sp.Expr
    step: sp.Expr
    state: tuple
    lr_scale: sp.Expr = sp.Integer(1)

    def fingerprint(self) -> str:
        return _fingerprint(("coordinate", self.loss, self.step, self.state, self.lr_scale))


def _fingerprint(parts) -> str:
    return hashlib.sha256(sp.srepr(sp.Tuple(*map(_to_sympy, parts))).encode()).hexdigest()


def _to_sympy(obj):
    if isinstance(obj, (tuple, list)):
        return sp.Tuple(*map(_to_sympy, obj))
    if isinstance(obj, (StateVariable, EoSManifold)):
        return sp.Tuple(*map(_to_sympy, obj.__dict__.values()))
    if isinstance(obj, str):
        return sp.Symbol(obj)
    return sp.sympify(obj)


@dataclass(frozen=True)
class Model:
    """A registered model: its public name, parameters, state and one description per parameterization.

    ``describe(parameterization)`` returns the :class:`GramModel` or :class:`CoordinateModel` that the
    derivations consume. Constructors only store; validation of user values happens in :meth:`parse_values`.
    """

    name: str
    summary: str
    parameters: tuple
    state: tuple
    parameterizations: tuple
    describe: Callable[[str], object]
    reference: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)
    # Models built from user options (``product``'s --loss/--depth): variant(**options) returns the model.
    variant: Optional[Callable[..., "Model"]] = None
    options: Mapping[str, object] = field(default_factory=dict)

    def with_options(self, **options) -> "Model":
        """This model, or the variant for ``options`` (``None`` values are ignored)."""
        given = {k: v for k, v in options.items() if v is not None}
        if not given:
            return self
        if self.variant is None:
            raise _unknown_option(self.name, given)
        return self.variant(**given)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise _unknown("parameter", name, [p.name for p in self.parameters], f" of model {self.name!r}")

    def state_variable(self, name: str) -> StateVariable:
        for s in self.state:
            if s.name == name:
                return s
        raise _unknown("state variable", name, [s.name for s in self.state], f" of model {self.name!r}")

    def check_parameterization(self, parameterization: Optional[str]) -> str:
        if parameterization is None:
            return self.parameterizations[0]
        if parameterization not in self.parameterizations:
            raise _unknown("parameterization", parameterization, self.parameterizations, f" for model {self.name!r}")
        return parameterization

    def parse_initial(self, assignments: Mapping[str, str], values: dict) -> dict:
        """Initial state ``{symbol: number}`` from ``NAME -> text``, defaults (evaluated at ``values``) filled in."""
        from .errors import UserInputError

        initial = {}
        for name, text in assignments.items():
            initial[self.state_variable(name).symbol] = _parse_number(name, text, "real")
        for state in self.state:
            if state.symbol not in initial:
                if state.default is None:
                    raise UserInputError(f"missing initial value of {state.name!r}; give it with --init {state.name}=VALUE")
                initial[state.symbol] = sp.sympify(state.default).subs(values)
        return initial

    def parse_values(self, assignments: Mapping[str, str]) -> dict:
        """Exact SymPy numbers for ``NAME -> text``, defaults filled in; errors name the offending value."""
        from .errors import UserInputError

        values = {}
        for name, text in assignments.items():
            parameter = self.parameter(name)
            values[parameter.symbol] = _parse_number(name, text, parameter.domain)
        for parameter in self.parameters:
            if parameter.symbol not in values:
                if parameter.default is None:
                    raise UserInputError(f"missing value for parameter {parameter.name!r} of model {self.name!r}; "
                                         f"give it with --set {parameter.name}=VALUE")
                values[parameter.symbol] = parameter.default
        return values


def _unknown_option(model: str, given: dict):
    from .errors import UserInputError

    names = ", ".join(f"--{k}" for k in given)
    return UserInputError(f"{names} only applies to models built from options (product), not {model!r}")


def _parse_number(name: str, text: str, domain: str) -> sp.Expr:
    """Parse a decimal or a fraction (``0.25``, ``1/3``, ``1e-3``) exactly; anything else is refused."""
    from .errors import UserInputError

    text = text.strip()
    try:
        if not text or any(ch not in "0123456789+-./eE" for ch in text):
            raise ValueError
        value = sp.Rational(text)
    except (ValueError, TypeError, ZeroDivisionError):
        raise UserInputError(f"value of {name!r} must be a number such as 0.5, 1e-3 or 1/3, got {text!r}") from None
    if domain in ("positive", "positive_integer") and not value > 0:
        raise UserInputError(f"{name} must be > 0, got {text}")
    if domain == "positive_integer" and not value.is_integer:
        raise UserInputError(f"{name} must be a positive integer, got {text}")
    return value


def _unknown(kind: str, name: str, allowed: Sequence[str], where: str = ""):
    from .errors import UserInputError

    return UserInputError(f"unknown {kind} {name!r}{where}; expected one of: {', '.join(allowed)}")
