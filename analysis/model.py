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

import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import sympy as sp

from .errors import (DomainError, MissingValueError, UnknownNameError, UnsupportedOptionError, UserInputError,
                     WrongTypeError)
from .values import to_number

DOMAINS = ("positive", "real", "positive_integer")
# The name of the momentum coefficient a momentum optimizer adds to every model (torch.optim.SGD's ``momentum``).
MOMENTUM_PARAMETER = "beta"


def _once_per_object(method):
    """A method of a frozen description computed once per object (its value kept in the object's own
    ``__dict__``, which freezing leaves writable): a fingerprint hashes the whole description's ``srepr``."""
    name = f"_{method.__name__}_value"

    @functools.wraps(method)
    def once(self):
        if name not in self.__dict__:
            self.__dict__[name] = method(self)
        return self.__dict__[name]
    return once


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
            raise UnknownNameError("domain", self.domain, DOMAINS, f" of parameter {self.name!r}")


@dataclass(frozen=True)
class StateVariable:
    """A coordinate of the state on which the derived map acts (``f``, ``lam``, ``z``, ...).

    ``default`` is the initial value used when none is given: an expression in the parameters. ``latex`` is how
    the LaTeX exporter prints the symbol when its name is not one LaTeX token (``lam`` -> ``\\lambda``).
    """

    name: str
    symbol: sp.Symbol
    description: str
    default: Optional[sp.Expr] = None
    latex: Optional[str] = None

    def __post_init__(self):
        if self.latex:
            from .latex import declare

            declare(self.symbol, self.latex)


@dataclass(frozen=True)
class EoSManifold:
    r"""An invariant set of parameter configurations :math:`w_i = \sigma_i\, w` (signs :math:`\sigma_i`).

    On it every vector is a multiple of one vector :math:`w`, with chart :math:`\theta = |w|`; the derivation
    proves invariance, reduces GD to a 1-D map in :math:`\theta` and brings it to the cubic normal form.
    """

    name: str
    signs: tuple
    description: str


def _as_records(owner: str, entries, record, build) -> tuple:
    """``entries`` as a tuple of ``record`` objects: a plain SymPy symbol stands for the record of that name,
    ``build(symbol)``; anything else is refused in one line that says what to write."""
    if isinstance(entries, (sp.Symbol, record)):
        entries = (entries,)
    if not isinstance(entries, (tuple, list)):
        entries = (entries,)
    records = []
    for entry in entries:
        if isinstance(entry, sp.Symbol):
            entry = build(entry)
        elif not isinstance(entry, record):
            example = 'StateVariable("w", w, "weight")' if record is StateVariable else \
                'Parameter("eta", eta, "learning rate", "positive")'
            raise UserInputError(f"{owner} must be SymPy symbols or {record.__name__} records, e.g. "
                                 f"(w,) or ({example},); got {type(entry).__name__} {entry!r}")
        records.append(entry)
    return tuple(records)


def _state_variables(owner: str, state) -> tuple:
    """The state as :class:`StateVariable` records; a plain symbol ``w`` is ``StateVariable("w", w, "")`` (no
    default: the initial value is then always given)."""
    return _as_records(owner, state, StateVariable, lambda s: StateVariable(s.name, s, ""))


def _parameter_domain(symbol: sp.Symbol) -> str:
    """The domain a plain symbol's SymPy assumptions state (``positive=True`` -> ``positive``, ...)."""
    if symbol.is_positive and symbol.is_integer:
        return "positive_integer"
    return "positive" if symbol.is_positive else "real"


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
    optimizer: str = "gd"
    momentum: sp.Expr = sp.Integer(0)
    velocity_vectors: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "state", _state_variables("GramModel state", self.state))

    @property
    def k(self) -> int:
        """The number of parameter vectors (velocities not counted)."""
        return len(self.vectors)

    @property
    def all_vectors(self) -> tuple:
        """Parameter vectors, then velocity vectors (momentum optimizers): the vectors of the state's Gram matrix."""
        return tuple(self.vectors) + tuple(self.velocity_vectors)

    def gram_symbol(self, i: int, j: int) -> sp.Symbol:
        """The Gram entry :math:`G_{ij} = w_i\\cdot w_j` (one symbol for ``(i, j)`` and ``(j, i)``); indices run
        over :attr:`all_vectors` (``i >= k``: a velocity)."""
        i, j = sorted((i, j))
        a, b = self.all_vectors[i], self.all_vectors[j]
        return sp.Symbol(f"G_{{{a}{b}}}", positive=True) if i == j else sp.Symbol(f"G_{{{a}{b}}}", real=True)

    @property
    def gram_symbols(self) -> tuple:
        """Every entry of the state's Gram matrix (parameters and, with momentum, velocities)."""
        m = len(self.all_vectors)
        return tuple(self.gram_symbol(i, j) for i in range(m) for j in range(i, m))

    def state_gram_matrix(self) -> sp.Matrix:
        """The Gram matrix of :attr:`all_vectors` (equal to :meth:`gram_matrix` without momentum)."""
        m = len(self.all_vectors)
        return sp.Matrix(m, m, lambda i, j: self.gram_symbol(i, j))

    def gram_matrix(self) -> sp.Matrix:
        return sp.Matrix(self.k, self.k, lambda i, j: self.gram_symbol(i, j))

    @property
    def loss(self) -> sp.Expr:
        """The parameter-space loss :math:`L(G) = \\ell(f(G))`."""
        return self.loss_of_output.subs(self.output_symbol, self.output)

    @_once_per_object
    def fingerprint(self) -> str:
        return _fingerprint(("gram", self.vectors, self.width, self.step, self.output, self.output_symbol,
                             self.loss_of_output, self.lr_scale, self.state, self.eos_manifolds)
                            + _optimizer_parts(self))


@dataclass(frozen=True)
class CoordinateModel:
    r"""GD on a loss over named scalar coordinates that are the state: :math:`\theta' = \theta - \eta s \nabla L`.

    ``step`` may be a parameter symbol or a number (``uv-eos`` takes a unit step on its reduced loss).

    ``examples`` (optional) are the per-example losses :math:`L_1, \dots, L_m`; the loss then defaults to their
    mean :math:`L = \frac1m \sum_i L_i` (a ``loss`` given as well must equal it). Mini-batch SGD
    (``batch_size``, :mod:`analysis.stochastic`) draws its batches from them; a model without examples has one,
    its loss.

    With ``optimizer="adam"`` (:mod:`analysis.optimizers`) the state is :math:`(\theta, m, v, t)`: the
    coordinates, Adam's first and second moments (``velocity``, ``second_moment``) and the step counter ``t``
    (``counter``), the number of steps taken; ``momentum`` is :math:`\beta_1`, ``adam`` holds
    :math:`(\beta_2, \epsilon)`.

    With a momentum ``optimizer`` (:mod:`analysis.optimizers`) the state is :math:`(\theta, v)`: the coordinates,
    then one velocity per coordinate (``velocity``, named ``v_<coordinate>``), with
    :math:`v' = \beta v + \nabla L`, :math:`\theta' = \theta - \eta s\,v'` (heavy-ball) or
    :math:`\theta' = \theta - \eta s\,(\nabla L + \beta v')` (Nesterov), PyTorch's convention.
    """

    loss: Optional[sp.Expr] = None
    step: Optional[sp.Expr] = None
    state: tuple = ()
    lr_scale: sp.Expr = sp.Integer(1)
    optimizer: str = "gd"
    momentum: sp.Expr = sp.Integer(0)
    velocity: tuple = ()
    examples: tuple = ()
    batch_size: Optional[int] = None
    second_moment: tuple = ()
    counter: Optional[StateVariable] = None
    adam: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "state", _state_variables("CoordinateModel state", self.state))
        if self.step is None:
            raise UserInputError("CoordinateModel needs step=, the learning rate (a parameter symbol or a number)")
        examples = self.examples
        if isinstance(examples, sp.Basic):
            examples = (examples,)
        try:
            examples = tuple(sp.sympify(e) for e in examples)
        except (TypeError, sp.SympifyError):
            raise UserInputError(f"CoordinateModel examples must be SymPy expressions, got {self.examples!r}"[:200]) \
                from None
        object.__setattr__(self, "examples", examples)
        if examples:
            mean = sp.Add(*examples) / len(examples)
            if self.loss is None:
                object.__setattr__(self, "loss", mean)
            elif sp.expand(sp.sympify(self.loss) - mean) != 0:
                raise UserInputError("CoordinateModel: the loss must be the mean of the examples (or be left out), "
                                     f"got loss {self.loss} and examples {examples}"[:300])
        elif self.loss is None:
            raise UserInputError("CoordinateModel needs loss= or examples=(L_1, ..., L_m)")

    @property
    def example_losses(self) -> tuple:
        r"""The per-example losses :math:`(L_1, \dots, L_m)`: ``examples``, or ``(loss,)`` where none are declared."""
        return self.examples or (self.loss,)

    @property
    def coordinates(self) -> tuple:
        """The state variables that are coordinates of the loss (the state without the velocities)."""
        moved = set(self.velocity) | set(self.second_moment) | {self.counter}
        return tuple(s for s in self.state if s not in moved)

    @_once_per_object
    def fingerprint(self) -> str:
        # Examples, a batch size and Adam's parts only where present: the keys of the other models are unchanged.
        extra = (("examples", self.examples) if self.examples else ()) + \
            (("batch_size", self.batch_size) if self.batch_size is not None else ()) + \
            (("adam", self.second_moment, self.counter, self.adam) if self.optimizer == "adam" else ())
        return _fingerprint(("coordinate", self.loss, self.step, self.state, self.lr_scale) + _optimizer_parts(self)
                            + extra)


def _optimizer_parts(spec) -> tuple:
    """What a momentum optimizer adds to a description's fingerprint (nothing for GD: its keys are unchanged)."""
    if spec.optimizer == "gd":
        return ()
    velocities = getattr(spec, "velocity_vectors", None) or getattr(spec, "velocity", ())
    return (spec.optimizer, spec.momentum, velocities)


def _fingerprint(parts) -> str:
    return hashlib.sha256(sp.srepr(sp.Tuple(*map(_to_sympy, parts))).encode()).hexdigest()


def _to_sympy(obj):
    if isinstance(obj, (tuple, list)):
        return sp.Tuple(*map(_to_sympy, obj))
    if isinstance(obj, (StateVariable, EoSManifold)):
        return sp.Tuple(*map(_to_sympy, obj.__dict__.values()))
    if isinstance(obj, str):
        return sp.Symbol(obj)
    if obj is None:
        return sp.Symbol("None")  # an absent default or LaTeX name, distinct from every value
    return sp.sympify(obj)


@dataclass(frozen=True)
class Model:
    """A registered model: its public name, parameters, state and one description per parameterization.

    ``describe(parameterization)`` returns the :class:`GramModel` or :class:`CoordinateModel` that the
    derivations consume. Constructors only store; user values are validated by :meth:`bind_values`.

    ``parameters`` and ``state`` hold :class:`Parameter` and :class:`StateVariable` records, or plain SymPy
    symbols where a name is all there is to say: a symbol ``w`` in ``state`` is ``StateVariable("w", w, "")``
    (its initial value must then be given), and a symbol in ``parameters`` is a parameter whose domain is what
    its assumptions say (``positive=True``: positive; ``positive=True, integer=True``: positive integer; else
    real), without default.
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
    # The optimizer whose map the descriptions define (analysis.optimizers); with momentum, the name of the
    # momentum parameter (always ``beta``, MOMENTUM_PARAMETER).
    optimizer: str = "gd"
    momentum: Optional[str] = None

    def __post_init__(self):
        owner = f"model {self.name!r}:"
        object.__setattr__(self, "parameters", _as_records(
            f"{owner} parameters", self.parameters, Parameter,
            lambda s: Parameter(s.name, s, "", _parameter_domain(s))))
        object.__setattr__(self, "state", _state_variables(f"{owner} state", self.state))

    def with_options(self, **options) -> "Model":
        """This model, or the variant for ``options`` (``None`` values are ignored); ``optimizer=`` (one of
        :data:`analysis.optimizers.OPTIMIZERS`, default ``"gd"``) applies to every model
        (:meth:`with_optimizer`)."""
        optimizer = options.pop("optimizer", None)
        batch_size = options.pop("batch_size", None)
        given = {k: v for k, v in options.items() if v is not None}
        model = self
        if given:
            if self.variant is None:
                raise _unknown_option(self.name, given)
            model = self.variant(**given)
        if batch_size is not None and optimizer != "sgd":
            raise UnsupportedOptionError("{batch_size} applies to {optimizer} sgd (mini-batch SGD) only",
                                         batch_size=None, optimizer=None)
        if optimizer is None:
            return model
        return model.with_optimizer(optimizer, batch_size=batch_size)

    def with_optimizer(self, optimizer: Optional[str], *, batch_size=None) -> "Model":
        r"""This model trained by ``optimizer`` (``None`` or ``"gd"``: the model itself).

        ``"sgd"`` (mini-batch SGD with ``batch_size``) and ``"adam"``: :func:`_with_sgd`,
        :func:`_with_adam`.

        Momentum (``"heavy-ball"``, ``"nesterov"``; PyTorch's convention, :mod:`analysis.optimizers`) adds the
        parameter ``beta`` (:data:`MOMENTUM_PARAMETER`; a model with a parameter of that name of its own is refused
        with momentum), in [0, 1),
        and velocity state variables, all starting at 0 (PyTorch's first step ``buf = g``):

        * a :class:`CoordinateModel` gains one velocity ``v_<name>`` per coordinate: the state is
          :math:`(	heta, v)`;
        * a :class:`GramModel` gains one velocity vector :math:`p_i \in \mathbb{R}^n` per parameter vector; the
          optimizer acts linearly on the span of parameters and velocities, so the Gram matrix of all
          :math:`2k` vectors has an exact map at every width. Each function-space state variable
          :math:`\phi` (``f``, ``lam``) brings its first and second derivatives along the velocity,
          :math:`\phi_v = s\,D\phi[p]` and :math:`\phi_{vv} = s^2 D^2\phi[p, p]` (``f_v``, ``f_vv``,
          ``lam_v``, ``lam_vv``), and the derivation proves that the map closes on them.
        """
        from .optimizers import check_optimizer

        optimizer = check_optimizer(optimizer)
        if optimizer == self.optimizer and optimizer != "sgd":
            return self
        if self.optimizer != "gd":
            raise UnsupportedOptionError(f"model {_braces(self.name)!r} is already trained by {self.optimizer}; "
                                         "pass {optimizer} once", optimizer=None)
        if optimizer == "sgd":
            return _with_sgd(self, batch_size)
        if optimizer == "adam":
            return _with_adam(self)
        momentum_name = MOMENTUM_PARAMETER
        if any(p.name == momentum_name for p in self.parameters):
            raise UnsupportedOptionError(
                f"model {_braces(self.name)!r} has a parameter named {momentum_name!r}, the name of the momentum "
                f"coefficient of {optimizer}; rename the model's parameter to train it with momentum", optimizer=None)
        symbol = sp.Symbol(momentum_name, positive=True)
        parameter = Parameter(momentum_name, symbol, f"momentum of {optimizer} (torch.optim.SGD momentum), in [0, 1)",
                              "positive")
        base_describe = self.describe
        velocity_state = _velocity_state(self, base_describe(self.parameterizations[0]))

        def describe(parameterization: str):
            return _with_momentum(base_describe(parameterization), optimizer, symbol, velocity_state)

        return dataclasses.replace(
            self, parameters=self.parameters + (parameter,), state=self.state + velocity_state, describe=describe,
            summary=f"{self.summary}; trained by {optimizer}", variant=None,
            options={**self.options, "optimizer": optimizer}, optimizer=optimizer, momentum=momentum_name)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise UnknownNameError("parameter", name, [p.name for p in self.parameters], f" of model {self.name!r}")

    def state_variable(self, name: str) -> StateVariable:
        for s in self.state:
            if s.name == name:
                return s
        raise UnknownNameError("state variable", name, [s.name for s in self.state], f" of model {self.name!r}")

    def check_parameterization(self, parameterization: Optional[str]) -> str:
        if parameterization is None:
            return self.parameterizations[0]
        if parameterization not in self.parameterizations:
            raise UnknownNameError("parameterization", parameterization, self.parameterizations,
                                   f" for model {self.name!r}")
        return parameterization

    def bind_values(self, values: Mapping[str, object], *, placeholders: Sequence[str] = ()) -> dict:
        """Exact SymPy numbers ``{symbol: value}`` for ``{name: value}``, defaults filled in.

        Values are validated by :func:`analysis.values.to_number` against each parameter's domain. Unknown names
        raise :class:`~analysis.errors.UnknownNameError`, a parameter without default and without value a
        :class:`~analysis.errors.MissingValueError` (both list the expected names). ``placeholders`` are
        parameters a measure will vary: they get the value 1 when not given.
        """
        if not isinstance(values, Mapping):
            raise WrongTypeError("values", values, "a mapping {parameter name: value}")
        bound = {}
        for name, value in values.items():
            parameter = self.parameter(name)
            bound[parameter.symbol] = to_number(name, value, parameter.domain)
            if name == self.momentum and self.optimizer != "adam" and not bound[parameter.symbol] < 1:
                raise DomainError(name, value, "a number in (0, 1) (momentum >= 1 is unstable on every loss)")
            if self.optimizer == "adam" and name in ("beta1", "beta2") and not 0 <= bound[parameter.symbol] < 1:
                raise DomainError(name, value, "a number in [0, 1) (Adam's moment decay)")
        required = [p.name for p in self.parameters if p.default is None]
        for parameter in self.parameters:
            if parameter.symbol in bound:
                continue
            if parameter.name in placeholders:
                bound[parameter.symbol] = sp.Integer(1)
            elif parameter.default is None:
                raise MissingValueError("parameter", parameter.name, self.name, required)
            else:
                bound[parameter.symbol] = parameter.default
        return bound

    def bind_initial(self, initial: Optional[Mapping[str, object]], values: dict) -> dict:
        """Initial state ``{symbol: number}`` from ``{name: value}``, the state defaults (evaluated at the bound
        parameter ``values``) filled in; errors as in :meth:`bind_values`."""
        if initial is not None and not isinstance(initial, Mapping):
            raise WrongTypeError("init", initial, "a mapping {state variable name: value}")
        state = {}
        for name, value in (initial or {}).items():
            state[self.state_variable(name).symbol] = to_number(name, value, "real")
        for variable in self.state:
            if variable.symbol not in state:
                if variable.default is None:
                    raise MissingValueError("state variable", variable.name, self.name,
                                            [s.name for s in self.state if s.default is None])
                state[variable.symbol] = sp.sympify(variable.default).subs(values)
        return state

    # The names the first sessions used; kept for existing scripts.
    def parse_values(self, assignments: Mapping[str, object]) -> dict:
        return self.bind_values(assignments)

    def parse_initial(self, assignments: Mapping[str, object], values: dict) -> dict:
        return self.bind_initial(assignments, values)


# PyTorch's defaults of torch.optim.Adam (betas=(0.9, 0.999), eps=1e-8), exact.
ADAM_DEFAULTS = {"beta1": sp.Rational(9, 10), "beta2": sp.Rational(999, 1000), "eps": sp.Rational(1, 10 ** 8)}


def _coordinate_description(model, optimizer: str):
    spec = model.describe(model.parameterizations[0])
    if not isinstance(spec, CoordinateModel):
        why = ("its loss is an O(n)-invariant function of the Gram matrix of one example's output, so it has no "
               "mini-batches" if optimizer == "sgd" else
               "Adam's coordinate-wise preconditioner breaks the O(n) invariance, so the Gram-matrix state does "
               "not close")
        raise UnsupportedOptionError(f"{{optimizer}} {optimizer} applies to coordinate models, not the Gram model "
                                     f"{_braces(repr(model.name))}: {why}", optimizer=None)
    return spec


def _with_sgd(model, batch_size):
    """``model`` trained by mini-batch SGD with ``batch_size`` examples per step (:mod:`analysis.stochastic`): the same
    parameters and state, the descriptions carrying ``batch_size``."""
    spec = _coordinate_description(model, "sgd")
    if batch_size is None:
        raise UnsupportedOptionError("{optimizer} sgd needs the batch size: {batch_size}", optimizer=None,
                                     batch_size=None)
    count = len(spec.example_losses)
    from .stochastic import MAX_BATCHES, check_batch_size

    batch_size = check_batch_size(batch_size, count)
    if math.comb(count, batch_size) > MAX_BATCHES:
        raise DomainError("the batch size", batch_size, f"such that the {count} examples form at most {MAX_BATCHES:,} "
                          f"batches (the mean-square map averages over every batch; {math.comb(count, batch_size):,} "
                          "here)")
    base_describe = model.describe

    def describe(parameterization: str):
        return dataclasses.replace(base_describe(parameterization), batch_size=batch_size)

    return dataclasses.replace(
        model, describe=describe, variant=None,
        summary=f"{model.summary}; trained by mini-batch SGD, {batch_size} of {count} examples per step",
        options={**model.options, "optimizer": "sgd", "batch_size": batch_size}, optimizer="sgd")


def _with_adam(model):
    r"""``model`` trained by Adam (:func:`analysis.optimizers.adam_update`): parameters ``beta1``, ``beta2``, ``eps``
    (PyTorch's defaults 0.9, 0.999, 1e-8), state :math:`(\theta, m, v, t)` with one first moment ``m_<c>`` and one
    second moment ``v_<c>`` per coordinate and the step counter ``t``, all starting at 0."""
    _coordinate_description(model, "adam")
    taken = {s.name for s in model.state} | {p.name for p in model.parameters}
    wanted = [(f"m_{s.name}", f"Adam's first moment of {s.name} (exp_avg)", rf"m_{{{sp.latex(s.symbol)}}}")
              for s in model.state]
    wanted += [(f"v_{s.name}", f"Adam's second moment of {s.name} (exp_avg_sq)", rf"v_{{{sp.latex(s.symbol)}}}")
               for s in model.state]
    wanted.append(("t", "Adam's step counter: the number of steps taken", None))
    clashes = [name for name, _, _ in wanted if name in taken] + [name for name in ADAM_DEFAULTS if name in taken]
    if clashes:
        raise UnsupportedOptionError(f"model {_braces(repr(model.name))} already has names {', '.join(clashes)}, "
                                     "which {optimizer} adam needs", optimizer=None)
    added = tuple(StateVariable(name, sp.Symbol(name, real=True), description, default=sp.Integer(0), latex=latex)
                  for name, description, latex in wanted)
    d = len(model.state)
    first, second, counter = added[:d], added[d:2 * d], added[-1]
    symbols = {name: sp.Symbol(name, positive=True) for name in ADAM_DEFAULTS}
    parameters = (
        Parameter("beta1", symbols["beta1"], "Adam's beta1 (first-moment decay), in [0, 1); 0 is RMSProp", "real",
                  ADAM_DEFAULTS["beta1"]),
        Parameter("beta2", symbols["beta2"], "Adam's beta2 (second-moment decay), in (0, 1)", "positive",
                  ADAM_DEFAULTS["beta2"]),
        Parameter("eps", symbols["eps"], "Adam's eps, added to sqrt(v_hat)", "positive", ADAM_DEFAULTS["eps"]),
    )
    base_describe = model.describe

    def describe(parameterization: str):
        base = base_describe(parameterization)
        return dataclasses.replace(base, state=tuple(base.state) + added, optimizer="adam",
                                   momentum=symbols["beta1"], velocity=first, second_moment=second, counter=counter,
                                   adam=(symbols["beta2"], symbols["eps"]))

    return dataclasses.replace(
        model, parameters=model.parameters + parameters, state=model.state + added, describe=describe,
        summary=f"{model.summary}; trained by adam", variant=None, options={**model.options, "optimizer": "adam"},
        optimizer="adam", momentum="beta1")


def _velocity_state(model: Model, spec) -> tuple:
    """The state variables a momentum optimizer adds (see :meth:`Model.with_optimizer`), all starting at 0."""
    taken = {s.name for s in model.state} | {p.name for p in model.parameters}
    if isinstance(spec, CoordinateModel):
        wanted = [(f"v_{s.name}", f"velocity of {s.name} (v' = beta v + dL/d{s.name})",
                   rf"v_{{{sp.latex(s.symbol)}}}") for s in model.state]
    else:
        wanted = []
        for s in model.state:
            label = s.latex or sp.latex(s.symbol)
            wanted += [(f"{s.name}_v", f"derivative of {s.name} along the velocity, s D{s.name}[p]",
                        rf"\dot{{{label}}}"),
                       (f"{s.name}_vv", f"second derivative of {s.name} along the velocity, s^2 D^2{s.name}[p, p]",
                        rf"\ddot{{{label}}}")]
    clashes = [name for name, _, _ in wanted if name in taken]
    if clashes:
        raise UnsupportedOptionError(f"model {_braces(model.name)!r} already has names {', '.join(clashes)}, which "
                                     "the velocity state of {optimizer} needs", optimizer=None)
    return tuple(StateVariable(name, sp.Symbol(name, real=True), description, default=sp.Integer(0), latex=latex)
                 for name, description, latex in wanted)


def _with_momentum(spec, optimizer: str, momentum: sp.Symbol, velocity_state: tuple):
    """The description ``spec`` trained by the momentum ``optimizer`` (see :meth:`Model.with_optimizer`)."""
    if isinstance(spec, CoordinateModel):
        return dataclasses.replace(spec, state=tuple(spec.state) + velocity_state, optimizer=optimizer,
                                   momentum=momentum, velocity=velocity_state)
    return dataclasses.replace(spec, state=tuple(spec.state) + velocity_state, optimizer=optimizer, momentum=momentum,
                               velocity_vectors=tuple(f"p_{v}" for v in spec.vectors))


def _braces(text) -> str:
    """``text`` inside an error template (:class:`~analysis.errors.KeywordError`): its braces doubled."""
    return str(text).replace("{", "{{").replace("}", "}}")


def _unknown_option(model: str, given: dict):
    names = ", ".join(f"{{{k}}}" for k in given)
    return UnsupportedOptionError(f"{names} only applies to models built from options (product), not "
                                  f"{_braces(repr(model))}", **dict.fromkeys(given))


# Functions a description may not use: the derivations need second derivatives everywhere (a Hessian), and the
# code generators cannot print what these differentiate into (sign, DiracDelta, Heaviside).
NON_SMOOTH_FUNCTIONS = (sp.Abs, sp.sign, sp.Heaviside, sp.DiracDelta, sp.Min, sp.Max, sp.Piecewise, sp.floor,
                        sp.ceiling, sp.frac, sp.Mod, sp.re, sp.im, sp.arg, sp.conjugate)


def _described_expressions(spec) -> tuple:
    """``({what: expression}, own symbols)`` of a description: what the derivations differentiate, and the
    symbols it may use besides the model's parameters (its coordinates, or a Gram model's Gram symbols)."""
    if isinstance(spec, GramModel):
        own = set(spec.gram_symbols)
        expressions = {"output": spec.output, "loss of output": spec.loss_of_output.subs(spec.output_symbol, 0)}
    else:
        own = {variable.symbol for variable in spec.state}
        expressions = {"loss": spec.loss}
    expressions.update({"step": sp.sympify(spec.step), "learning-rate scale": sp.sympify(spec.lr_scale)})
    return expressions, own


def stray_symbols(model: "Model", spec) -> dict:
    """``{what: names}`` of the symbols in ``spec`` (a description of ``model``) that are neither parameters of
    the model nor coordinates of the description (nor a Gram model's width): empty when every symbol is declared."""
    declared = {parameter.symbol for parameter in model.parameters}
    if isinstance(spec, GramModel):
        declared.add(spec.width)
    expressions, own = _described_expressions(spec)
    stray = {what: sorted(map(str, expression.free_symbols - own - declared))
             for what, expression in expressions.items()}
    return {what: names for what, names in stray.items() if names}


def check_description(model: "Model", spec, where: str):
    """``spec``, once it is a description the derivations can use: a :class:`CoordinateModel` or
    :class:`GramModel`, with a non-empty state, no symbol that is not declared (:func:`stray_symbols`) and no
    non-smooth function (:data:`NON_SMOOTH_FUNCTIONS`) or undefined function. Else a :class:`UserInputError`
    beginning with ``where`` (e.g. ``model file m.py: describe('default')``)."""
    if not isinstance(spec, (CoordinateModel, GramModel)):
        raise UserInputError(f"{where} returned {type(spec).__name__}, not a CoordinateModel or GramModel")
    if not spec.state or (isinstance(spec, GramModel) and not spec.vectors):
        raise UserInputError(f"{where} returned a description with an empty state: GD needs variables to act on")
    for what, names in stray_symbols(model, spec).items():
        raise UserInputError(f"{where}: the {what} uses {', '.join(names)}, which {'is' if len(names) == 1 else 'are'}"
                             " neither a parameter of the model nor a state variable; declare it in PARAMETERS")
    expressions, _ = _described_expressions(spec)
    for what, expression in expressions.items():
        found = {type(f).__name__ for f in expression.atoms(sp.Function)
                 if isinstance(f, NON_SMOOTH_FUNCTIONS) or isinstance(f, sp.core.function.AppliedUndef)}
        found |= {type(f).__name__ for f in expression.atoms(sp.Piecewise)}
        if found:
            raise UserInputError(f"{where}: the {what} uses {', '.join(sorted(found))}, which the derivations cannot "
                                 "differentiate twice everywhere (and the kernels cannot compute); use a smooth "
                                 "function of the state")
    return spec
