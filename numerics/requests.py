r"""What the library is asked, as values: a :class:`Problem` (which model, at which parameter values, from which
initial state) and one small frozen request per measure, in the spirit of BifurcationKit's
``BifurcationProblem`` + ``ContinuationPar``: the problem apart from what is asked of it.

Each request validates itself on construction, calls the library (:meth:`call`) and writes itself back as the
``sharpness`` command line that asks the same (:meth:`to_argv`): the command line parses its argv into a request
(:mod:`numerics.cli.commands`), and the report records each number with the ``to_argv()`` of the request that
computed it, so the two can never drift apart.

>>> problem = Problem("uv-eos", values={"k": "1.2"})
>>> RunRequest(problem, steps=500).to_argv()
['run', 'uv-eos', '--set', 'k=1.2', '--steps', '500']
>>> BifurcationRequest(Problem("uv-eos"), Axis.parse("k=1:2:5"), steps=100, keep=10).to_argv()
['bifurcation', 'uv-eos', '--vary', 'k=1:2:5', '--steps', '100', '--keep', '10']

Values are kept as the text given (``"1/3"`` stays exact: the library parses it); numbers are written with
``str``. The measures are imported when a request is called, so that asking costs no import of scipy, dask or
torch (``numerics/__init__`` defers them for the same reason).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import ClassVar, Optional

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.optimizers import MODEL_OPTIMIZERS, check_beta

from .axis import Axis

__all__ = ["Axis", "Problem", "FixedPointsRequest", "RunRequest", "LyapunovRequest", "BifurcationRequest",
           "BasinRequest", "CascadeRequest", "ContinuationRequest", "CrosscheckRequest", "WidthScanRequest",
           "SweepRequest", "NetworkRequest", "CentralFlowRequest"]


def _pairs(mapping, what: str) -> tuple:
    """``{name: value}`` (or ``(name, value)`` pairs) as a tuple of ``(name, text)`` pairs, in the order given."""
    items = mapping.items() if hasattr(mapping, "items") else mapping
    pairs = []
    try:
        for name, value in items or ():
            if not (isinstance(name, str) and name.strip()):
                raise UserInputError(f"{what} names must be non-empty strings, got {name!r}")
            pairs.append((name.strip(), value.strip() if isinstance(value, str) else str(value)))
    except (TypeError, ValueError):
        raise UserInputError(f"{what} must be a mapping {{name: value}}, got {mapping!r}"[:200]) from None
    if len({name for name, _ in pairs}) != len(pairs):
        raise UserInputError(f"{what}: a name given twice in {dict(pairs)!r}"[:200])
    return tuple(pairs)


def _option(flag: str, value, default=None) -> list:
    """``[flag, str(value)]``, or nothing where ``value`` is the default."""
    return [] if value is None or value == default else [flag, str(value)]


def _flag(flag: str, on: bool) -> list:
    return [flag] if on else []


def _count(name: str, value, low: int = 1):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DomainError(name, value, "a positive integer" if low == 1 else f"an integer >= {low}")
    return value


def _axis_args(flag: str, axes, counted) -> list:
    return [a for axis in axes for a in (flag, axis.to_text(counted=counted))]


@dataclass(frozen=True)
class Problem:
    """A model (a name or the path of a file defining ``MODEL``), its parameterization and variant options
    (``loss``, ``depth``, ``optimizer``; ``None``: the model's default, plain GD), its parameter ``values`` and an
    initial state ``init`` (each ``{name: value}``, kept in order as text)."""

    model: str
    values: tuple = ()
    init: tuple = ()
    parameterization: Optional[str] = None
    loss: Optional[str] = None
    depth: Optional[int] = None
    optimizer: Optional[str] = None
    batch_size: Optional[int] = None

    def __post_init__(self):
        if not (isinstance(self.model, str) and self.model.strip()):
            raise UserInputError(f"a problem's model is a name or a file path, got {self.model!r}")
        object.__setattr__(self, "values", _pairs(self.values, "values"))
        object.__setattr__(self, "init", _pairs(self.init, "init"))
        if self.depth is not None:
            _count("depth", self.depth)
        if self.batch_size is not None:
            _count("batch_size", self.batch_size)
        if self.optimizer == "gd":  # the default: left out, so that GD runs are keyed as before
            object.__setattr__(self, "optimizer", None)

    @property
    def value_map(self) -> dict:
        return dict(self.values)

    @property
    def init_map(self) -> dict:
        return dict(self.init)

    @property
    def options(self) -> dict:
        """The variant options of :class:`~analysis.DerivedModel` that are set."""
        return {k: v for k, v in (("loss", self.loss), ("depth", self.depth), ("optimizer", self.optimizer),
                                  ("batch_size", self.batch_size)) if v is not None}

    def derived(self):
        from analysis import DerivedModel

        return DerivedModel(self.model, self.parameterization, **self.options)

    def bound(self, vary: Optional[str] = None, max_memory=None, force: bool = False):
        """The :class:`~numerics.IteratedMap` at :attr:`values` (``vary``: a parameter the measure varies itself,
        which needs no value)."""
        from .iterated_map import IteratedMap, varying_map

        if vary is None:
            return IteratedMap(self.derived(), self.value_map, max_memory=max_memory, force=force)
        return varying_map(self.derived(), vary, self.value_map, max_memory=max_memory, force=force)

    def to_argv(self, init: bool = True) -> list:
        """The model, its options, ``--set`` for each value and (``init``) ``--init`` for each initial value."""
        return ([self.model, *_option("-p", self.parameterization), *_option("--optimizer", self.optimizer),
                 *_option("--batch-size", self.batch_size),
                 *_option("--loss", self.loss), *_option("--depth", self.depth)]
                + [a for k, v in self.values for a in ("--set", f"{k}={v}")]
                + ([a for k, v in self.init for a in ("--init", f"{k}={v}")] if init else []))


class _Request:
    """What every request shares: :attr:`command`, the ``sharpness`` subcommand; :attr:`quiet`, whether that
    command draws a progress bar that ``--quiet`` turns off."""

    command: ClassVar[str]
    quiet: ClassVar[bool] = False

    def to_argv(self) -> list:
        """The ``sharpness`` argv (without the program name) that asks the same: the command line parses it
        into an equal request."""
        return [self.command, *self._arguments()]

    def _arguments(self) -> list:  # pragma: no cover - each request writes its own
        raise NotImplementedError

    def to_json(self, result):
        """What ``sharpness ... --json`` prints for the ``result`` of :meth:`call` (before JSON encoding)."""
        return result.to_dict() if hasattr(result, "to_dict") else result


def _budget(request) -> list:
    return [*_option("--max-memory", request.max_memory), *_flag("--force", request.force)]


@dataclass(frozen=True)
class FixedPointsRequest(_Request):
    """Fixed points, eigenvalues and stability of ``problem`` at its values."""

    command: ClassVar[str] = "fixed-points"
    problem: Problem

    def call(self):
        return self.problem.derived().fixed_points_at(self.problem.value_map)

    def _arguments(self):
        return self.problem.to_argv(init=False)


@dataclass(frozen=True)
class RunRequest(_Request):
    """``steps`` GD steps of the derived map from the problem's initial state, every ``every``-th step kept."""

    command: ClassVar[str] = "run"
    problem: Problem
    steps: int
    every: int = 1
    max_memory: Optional[str] = None
    force: bool = False
    seed: int = 0  # mini-batch SGD: the seed of the batch draws

    def __post_init__(self):
        _count("steps", self.steps), _count("every", self.every)
        _check_seed(self.problem, self.seed)

    def call(self, progress=None):
        bound = self.problem.bound(max_memory=self.max_memory, force=self.force)
        if self.problem.optimizer == "sgd":
            from . import stochastic

            return stochastic.run(bound, self.steps, self.problem.init_map, self.every, self.seed, progress=progress)
        return bound.run(self.steps, self.problem.init_map, self.every, progress=progress)

    def _arguments(self):
        return [*self.problem.to_argv(), "--steps", str(self.steps), *_option("--every", self.every, 1),
                *_option("--seed", self.seed, 0), *_budget(self)]


def _check_seed(problem: Problem, seed) -> None:
    _count("seed", seed, 0)
    if seed and problem.optimizer != "sgd":
        raise UserInputError("--seed draws the batches of --optimizer sgd; the other optimizers are deterministic")


@dataclass(frozen=True)
class LyapunovRequest(_Request):
    """The Lyapunov spectrum over ``steps`` steps after ``transient``, with errors from ``batches`` batches."""

    command: ClassVar[str] = "lyapunov"
    problem: Problem
    steps: int = 100_000
    transient: int = 1000
    batches: int = 20
    max_memory: Optional[str] = None
    force: bool = False
    seed: int = 0  # mini-batch SGD: the seed of the batch draws

    def __post_init__(self):
        _count("steps", self.steps), _count("transient", self.transient, 0), _count("batches", self.batches)
        _check_seed(self.problem, self.seed)

    def call(self, progress=None):
        bound = self.problem.bound(max_memory=self.max_memory, force=self.force)
        if self.problem.optimizer == "sgd":
            from . import stochastic

            return stochastic.lyapunov(bound, self.steps, self.transient, self.batches, self.problem.init_map,
                                       self.seed, progress=progress)
        return bound.lyapunov(self.steps, self.transient, self.batches, self.problem.init_map, progress=progress)

    def _arguments(self):
        return [*self.problem.to_argv(), *_option("--steps", self.steps, 100_000),
                *_option("--transient", self.transient, 1000), *_option("--batches", self.batches, 20),
                *_option("--seed", self.seed, 0), *_budget(self)]


@dataclass(frozen=True)
class BifurcationRequest(_Request):
    """The orbit diagram over the values of ``vary`` (ascending, or one value): ``steps`` steps per value, the
    last ``keep`` states kept."""

    command: ClassVar[str] = "bifurcation"
    problem: Problem
    vary: Axis
    steps: int = 2000
    keep: int = 200
    max_memory: Optional[str] = None
    force: bool = False

    def __post_init__(self):
        object.__setattr__(self, "vary", Axis.of(self.vary))
        if not np.all(np.diff(self.vary.array) > 0):
            raise UserInputError(f"--vary {self.vary.to_text(counted=True)}: an orbit diagram needs A < B "
                                 "(or A:A:1, a single value)")
        _count("steps", self.steps), _count("keep", self.keep)

    def call(self, progress=None):
        bound = self.problem.bound(vary=self.vary.name, max_memory=self.max_memory, force=self.force)
        return bound.orbit_diagram(self.vary, self.steps, self.keep, self.problem.init_map, progress=progress)

    def _arguments(self):
        return [*self.problem.to_argv(), "--vary", self.vary.to_text(counted=True),
                *_option("--steps", self.steps, 2000), *_option("--keep", self.keep, 200), *_budget(self)]


@dataclass(frozen=True)
class BasinRequest(_Request):
    """Outcome and final sharpness over the grid of initial states spanned by two axes of state variables."""

    command: ClassVar[str] = "basin"
    problem: Problem
    grid: tuple
    steps: int = 2000
    max_memory: Optional[str] = None
    force: bool = False

    def __post_init__(self):
        grid = tuple(Axis.of(axis) for axis in self.grid)
        if len(grid) != 2 or grid[0].name == grid[1].name:
            raise UserInputError("give exactly two --grid options over two different state variables")
        object.__setattr__(self, "grid", grid)
        _count("steps", self.steps)

    def call(self, progress=None):
        bound = self.problem.bound(max_memory=self.max_memory, force=self.force)
        return bound.basin(list(self.grid), self.steps, self.problem.init_map, progress=progress)

    def _arguments(self):
        return [*self.problem.to_argv(), *_axis_args("--grid", self.grid, True),
                *_option("--steps", self.steps, 2000), *_budget(self)]


@dataclass(frozen=True)
class CascadeRequest(_Request):
    """The flips of the period-doubling cascade along parameter ``vary``, refined to ``digits`` digits; the
    problem's ``init`` picks the fixed point whose cascade is followed."""

    command: ClassVar[str] = "cascade"
    quiet: ClassVar[bool] = True
    problem: Problem
    vary: str
    doublings: int = 14
    digits: int = 40
    max_memory: Optional[str] = None
    force: bool = False

    def __post_init__(self):
        if not (isinstance(self.vary, str) and self.vary.strip().isidentifier()):
            raise UserInputError(f"a cascade varies one parameter, named: got {self.vary!r}")
        object.__setattr__(self, "vary", self.vary.strip())
        _count("doublings", self.doublings), _count("digits", self.digits)

    def call(self, progress=None):
        from .flips import cascade

        bound = self.problem.bound(vary=self.vary, max_memory=self.max_memory, force=self.force)
        return cascade(bound, self.vary, doublings=self.doublings, digits=self.digits, progress=progress,
                       init=self.problem.init_map or None)

    def _arguments(self):
        return [*self.problem.to_argv(), "--vary", self.vary, *_option("--doublings", self.doublings, 14),
                *_option("--digits", self.digits, 40), *_budget(self)]


@dataclass(frozen=True)
class ContinuationRequest(_Request):
    """Pseudo-arclength continuation along one interval ``vary = (Axis P=A:B,)`` from ``start`` (or the
    problem's initial state), or, with ``curve`` (PD, LP or NS), the two-parameter curve in the plane of two
    intervals."""

    command: ClassVar[str] = "continuation"
    quiet: ClassVar[bool] = True
    problem: Problem
    vary: tuple
    start: Optional[str] = None
    period: int = 1
    start_period: int = 1
    doublings: int = 0
    curve: Optional[str] = None
    max_points: int = 400

    def __post_init__(self):
        object.__setattr__(self, "vary", tuple(Axis.of(axis) for axis in self.vary))
        if self.curve is not None:
            object.__setattr__(self, "curve", str(self.curve).upper())
            if len(self.vary) != 2:
                raise UserInputError("--curve needs exactly two --vary NAME=A:B options (the parameter plane)")
        elif len(self.vary) != 1:
            raise UserInputError("give one --vary NAME=A:B (two only with --curve PD|LP|NS)")
        _count("period", self.period), _count("start-period", self.start_period)
        _count("doublings", self.doublings, 0), _count("max-points", self.max_points)

    def call(self, progress=None):
        from .branches import continuation, continue_curve

        problem = self.problem
        common = dict(parameterization=problem.parameterization, start=self.start, init=problem.init_map or None,
                      max_points=self.max_points, options=problem.options, progress=progress)
        if self.curve:
            return continue_curve(problem.model, self.curve, list(self.vary), problem.value_map, period=self.period,
                                  start_period=self.start_period, doublings=self.doublings or None, **common)
        return continuation(problem.model, self.vary[0], problem.value_map, period=self.period,
                            doublings=self.doublings, **common)

    def _arguments(self):
        return [*self.problem.to_argv(), *_axis_args("--vary", self.vary, False), *_option("--start", self.start),
                *_option("--start-period", self.start_period, 1), *_option("--period", self.period, 1),
                *_option("--doublings", self.doublings, 0), *_option("--curve", self.curve),
                *_option("--max-points", self.max_points, 400)]


@dataclass(frozen=True)
class CrosscheckRequest(_Request):
    """Parameter-space GD (at ``width`` for width-n models) against the derived map over ``steps`` steps."""

    command: ClassVar[str] = "crosscheck"
    quiet: ClassVar[bool] = True
    problem: Problem
    width: Optional[int] = None
    steps: int = 100
    seed: int = 0
    use_torch: bool = True
    max_memory: Optional[str] = None

    def __post_init__(self):
        if self.width is not None:
            _count("width", self.width)
        _count("steps", self.steps), _count("seed", self.seed, 0)

    def call(self, progress=None):
        from .cross_check import crosscheck

        return crosscheck(self.problem.derived(), values=self.problem.value_map, width=self.width, steps=self.steps,
                          seed=self.seed, use_torch=self.use_torch, init=self.problem.init_map or None,
                          progress=progress, max_memory=self.max_memory)

    def _arguments(self):
        return [*self.problem.to_argv(), *_option("--width", self.width), *_option("--steps", self.steps, 100),
                *_option("--seed", self.seed, 0), *_flag("--no-torch", not self.use_torch),
                *_option("--max-memory", self.max_memory)]


WIDTHS = tuple(2 ** i for i in range(13))  # width-scan's default widths


@dataclass(frozen=True)
class WidthScanRequest(_Request):
    """The cross-check and the derived map's run at every width of ``widths``."""

    command: ClassVar[str] = "width-scan"
    quiet: ClassVar[bool] = True
    problem: Problem
    widths: tuple = WIDTHS
    steps: int = 200
    seed: int = 0
    max_memory: Optional[str] = None

    def __post_init__(self):
        widths = tuple(self.widths)
        if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise DomainError("widths", ",".join(map(str, widths)), "positive integers")
        object.__setattr__(self, "widths", widths)
        _count("steps", self.steps), _count("seed", self.seed, 0)

    def call(self, progress=None):
        from .cross_check import width_scan

        return width_scan(self.problem.derived(), list(self.widths), values=self.problem.value_map,
                          steps=self.steps, seed=self.seed, progress=progress, max_memory=self.max_memory)

    def _arguments(self):
        return [*self.problem.to_argv(init=False), *_option("--widths", ",".join(map(str, self.widths)),
                                                             ",".join(map(str, WIDTHS))),
                *_option("--steps", self.steps, 200), *_option("--seed", self.seed, 0),
                *_option("--max-memory", self.max_memory)]


@dataclass(frozen=True)
class SweepRequest(_Request):
    """A measure over a grid of one or two axes (parameters or initial state variables), tiled into the Zarr
    store ``out`` (``scheduler``: a Dask scheduler's address; default a local cluster)."""

    command: ClassVar[str] = "sweep"
    quiet: ClassVar[bool] = True
    problem: Problem
    vary: tuple
    out: str
    measure: str = "outcome"
    steps: int = 1000
    tile: int = 16
    scheduler: Optional[str] = None
    max_memory: Optional[str] = None
    force: bool = False

    def __post_init__(self):
        object.__setattr__(self, "vary", tuple(Axis.of(axis) for axis in self.vary))
        if not str(self.out).endswith(".zarr"):
            raise UserInputError(f"--out must end in .zarr, got {self.out!r}")
        object.__setattr__(self, "out", str(self.out))
        _count("steps", self.steps), _count("tile", self.tile)

    def plan(self) -> dict:
        """:func:`numerics.sweeps.plan`: validated, the tiles still to compute (before any work)."""
        from . import sweeps

        problem = self.problem
        return sweeps.plan(problem.model, problem.parameterization, problem.options, problem.value_map,
                           problem.init_map, list(self.vary), self.measure, self.out, self.steps,
                           tile=(self.tile, self.tile), max_memory=self.max_memory, force=self.force)

    def call(self, progress=None, planned=None, client=None) -> dict:
        """Compute the tiles of ``planned`` (default :meth:`plan`) and return the summary (``client``: a Dask
        client from :func:`numerics.sweeps.connect`, used instead of connecting to :attr:`scheduler`)."""
        from . import sweeps

        return sweeps.execute(planned or self.plan(), self.scheduler, progress=progress, client=client)

    def _arguments(self):
        return [*self.problem.to_argv(), *_axis_args("--vary", self.vary, True),
                *_option("--measure", self.measure, "outcome"), "--out", self.out,
                *_option("--steps", self.steps, 1000), *_option("--tile", self.tile, 16),
                *_option("--scheduler", self.scheduler), *_budget(self)]


@dataclass(frozen=True)
class CentralFlowRequest(_Request):
    """The central flow of ``problem`` for ``time`` GD steps (:func:`numerics.central_flow`), with ``gd``: GD beside it
    over ``window`` (``(A, B)`` or ``None``: the second half)."""

    command: ClassVar[str] = "central-flow"
    problem: Problem
    time: float
    gd: bool = False
    window: Optional[tuple] = None
    samples: int = 401
    rtol: float = 1e-10

    def __post_init__(self):
        if self.window is not None and not self.gd:
            raise UserInputError("--window needs --gd")

    def call(self):
        from .central_flows import central_flow

        return central_flow(self.problem.derived(), self.time, self.problem.value_map, init=self.problem.init_map,
                            rtol=self.rtol, samples=self.samples, gd=self.gd, window=self.window)

    def _arguments(self):
        window = None if self.window is None else f"{self.window[0]:g}:{self.window[1]:g}"
        return [*self.problem.to_argv(), "--time", f"{self.time:g}", *_flag("--gd", self.gd),
                *_option("--window", window), *_option("--samples", self.samples, 401),
                *_option("--rtol", self.rtol, 1e-10)]


@dataclass(frozen=True)
class NetworkRequest(_Request):
    """Real networks (:mod:`numerics.nn`): one training run per step size of ``eta`` (an axis named ``eta``), with
    the data (``dataset`` or ``data``), the network (``arch`` or ``model``), the optimizer with its momentum
    ``beta`` (heavy-ball, Nesterov) or Adam's ``beta1``, ``beta2``, ``eps`` (kept as the text given; PyTorch's
    defaults where ``None``), and ``batch_size`` (mini-batches; ``None``: full batch), checked together; ``out``
    saves each finished run (and resumes from them).

    ``vary``: more axes, over other settings of :func:`numerics.nn.train` (``width``, ``seed``, ...:
    :func:`numerics.nn.variable_settings`); the runs are the product of ``eta`` and ``vary``, whose settings take
    their values from the axes (each value checked as the setting is, the other varied settings at their first
    value). More than one run, or a ``scheduler`` (``tcp://HOST:PORT``), makes a grid on Dask
    (:func:`numerics.nn.network_grid`, a local cluster without ``scheduler``); one run is trained in this
    process."""

    command: ClassVar[str] = "nn"
    quiet: ClassVar[bool] = True
    eta: Axis
    dataset: Optional[str] = None
    data: Optional[str] = None
    arch: Optional[str] = None
    model: Optional[str] = None
    optimizer: str = "gd"
    beta: Optional[str] = None
    steps: int = 400
    width: int = 64
    samples: Optional[int] = None
    seed: int = 0
    dtype: str = "float64"
    top_k: int = 1
    measure_every: int = 5
    max_hvps: Optional[int] = None
    tol: Optional[float] = None
    time_budget: Optional[float] = None
    threads: int = 1
    out: Optional[str] = None
    max_memory: Optional[str] = None
    force: bool = False
    central_flow: bool = False
    substeps: int = 4
    batch_size: Optional[int] = None
    beta1: Optional[str] = None
    beta2: Optional[str] = None
    eps: Optional[str] = None
    vary: tuple = ()
    scheduler: Optional[str] = None
    parameterization: str = "pytorch"
    init_scale: float = 1.0

    def __post_init__(self):
        from .nn import ARCHITECTURES, DATASETS, DTYPES, MAX_K
        from .nn.architectures import check_parameterization

        if self.vary:
            self._check_grid()
            return
        eta = Axis.of(self.eta)
        if eta.name != "eta":
            raise UnknownNameError("parameter", eta.name, ["eta"], " to vary in nn (the step size)")
        for value in eta.values:
            if not (math.isfinite(value) and value > 0):
                raise DomainError("eta", value, "a positive number")
        # rounded to 12 significant decimals: an evenly spaced grid's 0.30000000000000004 is 0.3
        object.__setattr__(self, "eta", Axis("eta", [float(round(e, 12)) for e in eta.values]))
        if self.dataset is not None and self.data is not None:
            raise UserInputError("give --dataset or --data, not both")
        if self.arch is not None and self.model is not None:
            raise UserInputError("give --arch or --model, not both")
        if self.data is None and (self.dataset or "digits") not in DATASETS:
            raise UnknownNameError("dataset", self.dataset, DATASETS)
        if self.model is None and (self.arch or "mlp") not in ARCHITECTURES:
            raise UnknownNameError("architecture", self.arch, ARCHITECTURES)
        check_parameterization(self.parameterization, self.init_scale, self.model)
        if self.optimizer not in MODEL_OPTIMIZERS:
            raise UnknownNameError("optimizer", self.optimizer, MODEL_OPTIMIZERS)
        if self.dtype not in DTYPES:
            raise UnknownNameError("dtype", self.dtype, DTYPES)
        if self.width <= 0:
            raise DomainError("--width", self.width, "a positive integer")
        for name, low in (("steps", 0), ("seed", 0), ("top_k", 1), ("measure_every", 1), ("samples", 1),
                          ("max_hvps", 1)):
            if getattr(self, name) is not None or name not in ("samples", "max_hvps"):
                _count(f"--{name.replace('_', '-')}", getattr(self, name), low)
        if self.batch_size is not None:
            _count("--batch-size", self.batch_size)
        if self.optimizer == "sgd" and self.batch_size is None:
            raise UserInputError("--optimizer sgd needs the batch size: --batch-size B")
        if self.optimizer == "adam" and self.batch_size is not None:
            raise UserInputError("--batch-size applies to gd, sgd, heavy-ball and nesterov; adam runs full batch "
                                 "(its preconditioned sharpness is of the full-batch loss)")
        adam = {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        if self.optimizer != "adam" and any(v is not None for v in adam.values()):
            given = next(name for name, value in adam.items() if value is not None)
            raise UserInputError(f"--set {given} applies to --optimizer adam, not {self.optimizer}")
        for name, value in adam.items():
            if value is not None:
                object.__setattr__(self, name, str(value).strip())
        if self.optimizer in ("gd", "sgd", "adam"):
            if self.beta is not None:
                hint = " (Adam's momentum is --set beta1=B)" if self.optimizer == "adam" else ""
                raise UserInputError(f"--set beta applies to --optimizer heavy-ball or nesterov, not "
                                     f"{self.optimizer}{hint}")
            if self.optimizer == "adam":
                self._adam()
        elif self.beta is None:
            raise UserInputError(f"--optimizer {self.optimizer} needs the momentum: --set beta=VALUE (0 <= beta < 1)")
        else:
            object.__setattr__(self, "beta", str(self.beta).strip())
            self._momentum()
        if self.central_flow:
            if len(eta) != 1:
                raise UserInputError("--central-flow runs one step size: --set eta=E, not --vary")
            if self.scheduler is not None:
                raise UserInputError("--central-flow runs in this process, not on --scheduler")
            if self.optimizer != "gd":
                raise UserInputError(f"central flows are derived for GD only, not --optimizer {self.optimizer}")
            if self.batch_size is not None:
                raise UserInputError("central flows are derived for full-batch GD only, not --batch-size")
            if self.top_k > MAX_K:
                raise DomainError("--top-k", self.top_k, f"at most {MAX_K} with --central-flow (the critical "
                                                         "subspace's SDCP)")
            if self.steps < 2:
                raise DomainError("--steps", self.steps, "at least 2 with --central-flow (GD's two-step averages)")
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int) or self.substeps < 2 \
                or self.substeps % 2:
            raise DomainError("--substeps", self.substeps, "an even integer >= 2")

    def _check_grid(self) -> None:
        """:attr:`vary` checked (settings train can vary, each once, not also given) and each of its values
        checked as a one-run request checks it, the other varied settings at their first value; then every other
        field checked as for one run, the varied settings at their first value."""
        from .nn.grid import CATEGORICAL, as_setting, grid_axis

        defaults = {f.name: f.default for f in fields(self)}
        axes = []
        for axis in (grid_axis(axis) for axis in self.vary):
            if axis.name == "eta":
                raise UserInputError("eta is varied by the request's eta axis, not in vary")
            self.check_varied_name(axis.name)
            if axis.name in (a.name for a in axes):
                raise UserInputError(f"--vary {axis.name} is given twice")
            if getattr(self, axis.name) != defaults[axis.name]:
                raise UserInputError(f"{axis.name} is both varied (--vary {axis.name}=...) and set to "
                                     f"{getattr(self, axis.name)}; give it once")
            values = [as_setting(axis.name, value) for value in axis.values]
            if axis.name in CATEGORICAL:
                axes.append(axis)
                continue
            # as eta: an evenly spaced grid's 0.30000000000000004 is 0.3
            axes.append(Axis(axis.name, [v if isinstance(v, int) else float(round(v, 12)) for v in values]))
        object.__setattr__(self, "vary", tuple(axes))
        first = {axis.name: self._as_field(axis.name, axis.values[0]) for axis in axes}
        for axis in axes:
            for value in axis.values:
                replace(self, vary=(), **{**first, axis.name: self._as_field(axis.name, value)})
        one = replace(self, vary=(), **first)
        for name in defaults:  # the fields as one run normalises them (eta rounded, beta stripped)
            if name not in first and name != "vary":
                object.__setattr__(self, name, getattr(one, name))
        if self.central_flow:
            raise UserInputError("--central-flow runs one step size: --set eta=E, not --vary")

    def _as_field(self, name: str, value):
        """A varied setting's value as the request's field holds it: text where the field is text (``beta``), an
        integer for an integer setting of :func:`numerics.nn.train` (:func:`numerics.nn.variable_settings`)."""
        from .nn.grid import CATEGORICAL, as_setting

        if name in CATEGORICAL:
            return as_setting(name, value)
        if "str" in str(next(f.type for f in fields(self) if f.name == name)):
            return repr(float(value))
        return as_setting(name, value)

    @staticmethod
    def check_varied_name(name: str) -> None:
        """Refuse a name ``--vary`` cannot take (:func:`numerics.nn.variable_settings` that are fields of the
        request), naming those it can."""
        from .nn import variable_settings
        from .nn.grid import CATEGORICAL

        names = {f.name for f in fields(NetworkRequest)}
        allowed = ["eta", *sorted(n for n in [*variable_settings(), *CATEGORICAL] if n in names and n != "eta")]
        if name not in allowed:
            raise UnknownNameError("parameter", name, allowed, " to vary in nn")

    @property
    def grid(self) -> bool:
        """Whether the runs are a grid on Dask (more than one run, or a :attr:`scheduler`), else one run here."""
        return self.scheduler is not None or len(self.eta) * math.prod(len(axis) for axis in self.vary) > 1

    def _momentum(self) -> float:
        if self.beta is None:
            return 0.0
        try:
            beta = float(self.beta)
        except ValueError:
            raise DomainError("beta", self.beta, "a number in [0, 1)") from None
        return check_beta(beta)

    def _adam(self) -> dict:
        """Adam's ``{"beta1", "beta2", "eps"}`` as floats, PyTorch's defaults where not given
        (:func:`numerics.nn.training.adam_settings`)."""
        from .nn.training import adam_settings

        values = {}
        for name in ("beta1", "beta2", "eps"):
            text = getattr(self, name)
            try:
                values[name] = None if text is None else float(text)
            except ValueError:
                expected = "a positive number" if name == "eps" else "a number in [0, 1)"
                raise DomainError(name, text, expected) from None
        return adam_settings(**values)

    @property
    def settings(self) -> dict:
        """The keyword arguments of :func:`numerics.nn.train` (and :func:`numerics.nn.eta_sweep`)."""
        return {"dataset": None if self.data else (self.dataset or "digits"), "data": self.data,
                "arch": None if self.model else (self.arch or "mlp"), "model": self.model,
                "optimizer": self.optimizer, "beta": self._momentum(), "dtype": self.dtype, "steps": self.steps,
                "width": self.width, "seed": self.seed, "measure_every": self.measure_every,
                "max_hvps": self.max_hvps, "samples": self.samples, "top_k": self.top_k, "tol": self.tol,
                "time_budget": self.time_budget, "threads": self.threads, "max_memory": self.max_memory,
                "force": self.force,
                # only where set: a full-batch run's settings (and the key of its --out file) are as before
                **({"batch_size": self.batch_size} if self.batch_size is not None else {}),
                **({"parameterization": self.parameterization} if self.parameterization != "pytorch" else {}),
                **({"init_scale": float(self.init_scale)} if self.init_scale != 1 else {}),
                **(self._adam() if self.optimizer == "adam" else {})}

    def check_files(self) -> None:
        """Read the data file and the model factory: refused before any work."""
        from .nn import load_factory, read_npz

        if self.data is not None:
            read_npz(self.data)
        if self.model is not None:
            load_factory(self.model)

    def call(self, progress=None, on_start=None, flow_progress=None, runs_progress=None, client=None):
        """The runs: one per step size here (:func:`numerics.nn.eta_sweep`; ``progress()`` after every step,
        ``on_start(index, eta, done)`` before every run), or, where :attr:`grid`, a
        :class:`~numerics.nn.NetworkGrid` on Dask (:func:`numerics.nn.network_grid`, ``runs_progress(done, total)``
        after every run, ``client``: a Dask client to use instead of connecting); with :attr:`central_flow`,
        ``(runs, flow)``: the run's central flow from the same start, compared with it
        (:func:`numerics.nn.central_flows.flow_of_training`)."""
        from .nn import eta_sweep, network_grid

        self.check_files()
        if self.grid:
            varied = {"eta", *(axis.name for axis in self.vary)}
            settings = {name: value for name, value in self.settings.items() if name not in varied}
            return network_grid([self.eta, *self.vary], self.out, scheduler=self.scheduler, client=client,
                                progress=runs_progress, **settings)
        runs = eta_sweep(list(self.eta.values), self.out, progress=progress, on_start=on_start, **self.settings)
        if not self.central_flow:
            return runs
        from .nn.central_flows import flow_of_training

        return runs, flow_of_training(runs[0], substeps=self.substeps, progress=flow_progress)

    def to_json(self, runs):
        """One run as itself; a grid as :meth:`numerics.nn.NetworkGrid.to_dict` (``{"axes", "out", "computed",
        "skipped", "cells", "runs", "table"}``); several runs with their table (:func:`numerics.nn.sweep_table`);
        with a central flow, the flow's dict (keys as ``sharpness central-flow --json``) with the run as ``gd``."""
        from .nn import NetworkGrid, sweep_table

        if isinstance(runs, NetworkGrid):
            return runs.to_dict()
        if isinstance(runs, tuple):
            runs, flow = runs
            return {**flow.to_dict(), "gd": runs[0].to_dict()}
        if len(runs) == 1:
            return runs[0].to_dict()
        return {"runs": [run.to_dict() for run in runs], "table": sweep_table(runs)}

    def _arguments(self):
        one = len(self.eta) == 1
        return [*_option("--dataset", self.dataset), *_option("--data", self.data), *_option("--arch", self.arch),
                *_option("--model", self.model),
                *(["--set", f"eta={self.eta.values[0]!r}"] if one else ["--vary", self.eta.to_text(counted=True)]),
                *_option("--optimizer", self.optimizer, "gd"), *_option("--set", self.beta and f"beta={self.beta}"),
                *_option("--batch-size", self.batch_size),
                *[a for name in ("beta1", "beta2", "eps") for a in _option("--set", getattr(self, name) and
                                                                             f"{name}={getattr(self, name)}")],
                *_option("--steps", self.steps, 400), *_option("--width", self.width, 64),
                *_option("--parameterization", self.parameterization, "pytorch"),
                *_option("--init-scale", self.init_scale, 1.0),
                *_option("--samples", self.samples), *_option("--seed", self.seed, 0),
                *_option("--dtype", self.dtype, "float64"), *_option("--top-k", self.top_k, 1),
                *_option("--measure-every", self.measure_every, 5), *_option("--max-hvps", self.max_hvps),
                *_option("--tol", self.tol), *_option("--time-budget", self.time_budget),
                *_option("--threads", self.threads, 1), *_option("--out", self.out), *_budget(self),
                *_flag("--central-flow", self.central_flow), *_option("--substeps", self.substeps, 4),
                *_axis_args("--vary", self.vary, True), *_option("--scheduler", self.scheduler)]
