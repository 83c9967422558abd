r"""Training of a real network with its top Hessian eigenvalues tracked, and the regimes it goes through.

Loss :math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2`. Optimizers: ``torch.optim.SGD(lr=eta, momentum=beta,
nesterov=...)`` (``gd``: ``momentum=0``; ``sgd``: ``gd`` on mini-batches), full batch or on mini-batches
(``batch_size``), and ``torch.optim.Adam(lr=eta, betas=(beta1, beta2), eps=eps)`` (full batch). Each measurement
tracks the top Hessian eigenvalues of the full-batch loss and, for the optimizer, the quantity whose linear stability
threshold it is compared with (:func:`analysis.optimizers.sharpness_threshold`, the same function the models use):

* full-batch ``gd``, ``heavy-ball``, ``nesterov``: the sharpness :math:`\lambda_{\max}(H)` against ``2/eta``,
  ``(2+2 beta)/eta``, ``(2+2 beta)/(eta (1+2 beta))``;
* mini-batches (``batch_size`` B < N): the *batch sharpness* :math:`E_B[g_B^\top H_B g_B / |g_B|^2]` (Andreyev &
  Beneventano 2024, *Edge of Stochastic Stability*) against the same threshold, estimated over
  :data:`BATCH_SHARPNESS_BATCHES` batches (:func:`measurement_batches`,
  :func:`numerics.nn.spectrum.batch_sharpness`);
* ``adam``: the *preconditioned sharpness* :math:`\lambda_{\max}(P_t^{-1} H(w_t))`,
  :math:`P_t = \operatorname{diag}(\sqrt{v_t/(1-\beta_2^t)} + \epsilon)` from Adam's ``exp_avg_sq`` after
  :math:`t` steps (Cohen et al. 2022, *Adaptive gradient methods at the edge of stability*), against
  :math:`(2+2\beta_1)/((1-\beta_1)\eta)` (:func:`adam_preconditioner`,
  :func:`numerics.nn.spectrum.preconditioned_eigenpairs`).

The regimes are labelled on that quantity against its threshold (:func:`numerics.classify.label_regimes`, as for
the UV model).

**Mini-batches** (:func:`training_batches`): each epoch draws a permutation of the N examples from
``numpy.random.default_rng([seed, 0])`` and cuts it into :math:`\lfloor N/B \rfloor` batches of B examples, in
order; the :math:`N \bmod B` examples left at the end of a permutation are not used in that epoch (PyTorch's
``drop_last``), so every step sees exactly B examples. A batch's indices are sorted (a batch is a set), and with
``batch_size = N`` the step is the full-batch step itself: the run is full-batch GD (or momentum) to the bit.
The full-batch loss is recorded at every step, before the step's update, as for full batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.optimizers import MODEL_OPTIMIZERS, check_beta, sharpness_threshold

from ..classify import Outcome, Regime, label_regimes
from .architectures import build, check_outputs, check_parameterization, model_from_factory
from .backend import require_torch
from .data import load_arrays, load_data
from .signal import eos_observables
from .spectrum import (HessianOperator, SharpnessTracker, batch_sharpness, default_tolerance, mse_loss,
                       preconditioned_eigenpairs)

TIME_BUDGET = 240.0  # seconds: the default --samples of a bundled data set is the largest prefix that fits
TRACKING_TOLERANCE = 1e-5  # eigen-solver residual / top eigenvalue while training (eigenvalue error ~1e-10 S^2/gap)
# The optimizers of real networks: the full-batch family of torch.optim.SGD, ``sgd`` (plain SGD on mini-batches) and
# ``adam`` (torch.optim.Adam); the same names as the models' (analysis.optimizers.MODEL_OPTIMIZERS).
NN_OPTIMIZERS = MODEL_OPTIMIZERS
# Batches per estimate of the batch sharpness (its mean and spread at each measurement): 8 keeps the estimate at
# 8 gradients and 8 Hessian-vector products on B examples, as much as one full-batch product at B = N/8.
BATCH_SHARPNESS_BATCHES = 8
# The measured quantities a run can be compared with its threshold on (Training.regimes_of).
MEASURED = ("sharpness", "batch_sharpness", "preconditioned_sharpness")


# Training steps per second that no network reaches here: the smallest one (a 2-input linear layer on
# 4 examples, float64, one thread) takes ~300 us per step on the development machine, so this overestimates the
# speed 3x and a run refused as longer than a day is longer than a day.
NN_STEPS_PER_SECOND = 1e4
# Bytes kept per step (the loss, a Python float in a list) and per tracked eigenvalue of a measurement.
BYTES_PER_RECORD = 32


def check_budget(runs: int, steps: int, measure_every: int = 5, top_k: int = 1, *, max_memory=None,
                 force: bool = False) -> None:
    """Refuse (:mod:`numerics.budget`, before any data is loaded or a network built) ``runs`` trainings of ``steps``
    steps whose records (the loss at every step, ``top_k`` eigenvalues and the solver's counts at every
    measurement, and the batch or preconditioned sharpness beside them, all kept until the sweep ends) exceed the
    memory budget, or whose time at
    :data:`NN_STEPS_PER_SECOND` exceeds a day unless ``force``."""
    from .. import budget

    measurements = steps // measure_every + 1
    per_run = BYTES_PER_RECORD * ((steps + 1) + measurements * (top_k + 6))
    what = f"{runs:,} training run{'s' if runs > 1 else ''} of {steps:,} steps"
    budget.check_memory(runs * per_run, what, "use fewer {steps} or step sizes", max_memory, steps=None)
    budget.check_work(runs * (steps + 1), what, force, NN_STEPS_PER_SECOND, "training steps")


@dataclass(frozen=True)
class Training:
    r"""A training run with its sharpness tracked (:func:`train`); ``to_dict()`` is ``sharpness nn --json`` for one
    eta.

    Attributes
    ----------
    dataset, data : str or None
        The bundled data set (``digits``), or the path of the user's ``.npz``; the other is ``None``.
    arch, model : str or None
        The built-in architecture (``mlp``, ``cnn``, ``linear``, ``resnet``), or the user's ``PATH.py:FACTORY``;
        the other is ``None``.
    task : str
        ``classification`` (class labels, centred one-hot targets) or ``regression`` (float targets as given).
    dtype : str
        ``float64`` or ``float32``: the network's and the data's.
    optimizer : str
        ``gd``, ``heavy-ball``, ``nesterov``, ``sgd`` (``torch.optim.SGD``; ``sgd`` is ``gd`` on mini-batches) or
        ``adam`` (``torch.optim.Adam``).
    beta : float or None
        The momentum :math:`\beta` of heavy-ball and Nesterov; ``None`` for ``gd``, ``sgd`` and ``adam``.
    batch_size : int or None
        Examples per step, drawn without replacement epoch by epoch (:func:`training_batches`); ``None``: full
        batch. ``batch_size == samples`` is full batch, step for step.
    beta1, beta2, eps : float or None
        Adam's :math:`\beta_1`, :math:`\beta_2`, :math:`\epsilon` (PyTorch's convention, bias correction
        included); ``None`` for the other optimizers.
    eta : float
        The step size :math:`\eta`.
    steps : int
        Steps asked (the run ends earlier if it diverges).
    tol : float
        Residual tolerance of the eigen-solver relative to the top eigenvalue (the eigenvalue error is at most
        ``tol**2 S**2/gap``).
    width, seed : int
        The architecture's width and the seed of its initialisation (and of the solver's start).
    parameterization : str
        ``pytorch`` (PyTorch's default initialization; also a user's ``model``, which keeps its own), ``sp``,
        ``ntk`` or ``mup`` (Yang & Hu's abc-parameterizations in the one-learning-rate form,
        :func:`numerics.nn.build`).
    init_scale : float
        The multiplier on the standard deviation of the initial weights (1: as the parameterization draws them).
    top_k : int
        How many of the largest algebraic Hessian eigenvalues were tracked.
    measure_every : int
        Steps between measurements of the spectrum.
    parameters : int
        Trainable parameters of the network.
    samples, samples_total : int
        Examples trained on (the first ``samples``) and in the data.
    samples_note : str or None
        Why fewer than all examples were used when ``samples`` was not given (the time budget), else ``None``.
    threshold : float
        The optimizer's linear stability threshold (:func:`analysis.optimizers.sharpness_threshold`):
        :math:`2/\eta` (GD, SGD), :math:`(2+2\beta)/\eta` (heavy-ball), :math:`(2+2\beta)/(\eta(1+2\beta))`
        (Nesterov), on the sharpness and on the batch sharpness; :math:`(2+2\beta_1)/((1-\beta_1)\eta)` (Adam), on
        the preconditioned sharpness.
    regimes_of : str
        The measured quantity the regimes and the edge-of-stability observables are of: ``sharpness`` (full
        batch), ``batch_sharpness`` (mini-batches, ``batch_size < samples``) or ``preconditioned_sharpness``
        (Adam).
    outcome : Outcome
        :class:`numerics.classify.Outcome` named ``completed``, or ``diverged`` with the ``step`` at which the loss
        or a parameter stopped being finite (or the loss passed 1e12).
    regimes : list of Regime
        The regimes of ``regimes_of`` against ``threshold`` (:class:`numerics.classify.Regime`,
        :func:`numerics.classify.label_regimes`), in steps.
    loss : list of float
        :math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2` at every step, before that step's update.
    sharpness : dict
        ``{"step": [...], "value": [...]}``: the top Hessian eigenvalue at every measurement.
    top_eigenvalues : dict
        ``{"step": [...], "values": [[...], ...]}``: the ``top_k`` largest algebraic eigenvalues, descending.
    batch_sharpness : dict or None
        With ``batch_size``: ``{"step": [...], "mean": [...], "std": [...], "batches": K}``, the batch sharpness
        :math:`E_B[g_B^\top H_B g_B/|g_B|^2]` at every measurement, its mean and standard deviation (``ddof=1``)
        over the ``K`` (:data:`BATCH_SHARPNESS_BATCHES`) batches of :func:`measurement_batches`; ``None`` without
        ``batch_size``.
    preconditioned_sharpness : dict or None
        With Adam: ``{"step": [...], "value": [...], "hvps": [...]}``, :math:`\lambda_{\max}(P_t^{-1} H(w_t))` at
        every measurement (``None`` at step 0, before Adam has a second moment; :func:`adam_preconditioner`), and
        the Hessian-vector products each took; ``None`` for the other optimizers.
    hvps_per_measurement : list of int
        Hessian-vector products the solver used at each measurement.
    eigen_converged : bool
        Whether every measurement met ``tol``.
    eos_window : dict or None
        ``{"start", "end"}`` in steps: the longest *edge of stability* regime of ``regimes_of`` (:func:`numerics.nn.eos_window`), or
        ``None``.
    power_spectrum : dict or None
        ``{"frequency": cycles per step, "power"}``: Welch's estimate of ``regimes_of`` over the EoS window
        (:func:`numerics.nn.power_spectrum`), or ``None`` (no window, fewer than 16 measurements).
    period_detail : dict
        ``{"period", "status", "explained", "reason"}`` of ``regimes_of`` over the EoS window
        (:func:`numerics.nn.oscillation_period`): ``status`` ``periodic``, ``aperiodic`` or ``undetermined`` (no
        window, a window too short, or measured less often than every step).
    elapsed : float
        Wall-clock seconds of the training loop (not reproducible).
    uv_prediction : dict or None
        The UV model's ``outcome`` and ``regimes`` at this run's :math:`\eta\lambda_0`
        (:func:`numerics.nn.uv_prediction`), set by :func:`numerics.nn.eta_sweep`; ``None`` from :func:`train`
        alone, without an initial sharpness, or under Adam (whose step is not GD's).
    initial_sharpness : float or None
        Property: the first measured sharpness :math:`\lambda_0`.
    eta_lam0 : float or None
        Property: :math:`\eta\lambda_0`, the coordinate of the UV model's phase diagram.
    hvps_mean : float or None
        Property: the mean of ``hvps_per_measurement``.
    period : int or None
        Property: ``period_detail["period"]``, the period of the sharpness over the EoS window.
    final : dict
        Property: ``{"loss", "sharpness"}`` at the last step and the last measurement (``None`` where empty).
    threshold_ratios : dict
        Property: for each measured quantity with a threshold (``sharpness``, except under Adam;
        ``batch_sharpness``; ``preconditioned_sharpness``), ``{"threshold", "final", "median", "peak"}``: the
        threshold, the last value, and the median and the largest of value / threshold over the measurements of
        the second half of the run (steps >= ``steps``/2); ``None`` where there are none.
    """

    dataset: Optional[str]
    data: Optional[str]
    arch: Optional[str]
    model: Optional[str]
    task: str
    dtype: str
    optimizer: str
    beta: Optional[float]
    eta: float
    steps: int
    tol: float
    width: int
    seed: int
    top_k: int
    measure_every: int
    parameters: int
    samples: int
    samples_total: int
    samples_note: Optional[str]
    threshold: float
    outcome: Outcome
    regimes: list
    loss: list
    sharpness: dict
    top_eigenvalues: dict
    hvps_per_measurement: list
    eigen_converged: bool
    eos_window: Optional[dict]
    power_spectrum: Optional[dict]
    period_detail: dict
    elapsed: float
    batch_size: Optional[int] = None
    beta1: Optional[float] = None
    beta2: Optional[float] = None
    eps: Optional[float] = None
    regimes_of: str = "sharpness"
    batch_sharpness: Optional[dict] = None
    preconditioned_sharpness: Optional[dict] = None
    uv_prediction: Optional[dict] = None
    parameterization: str = "pytorch"
    init_scale: float = 1.0

    @property
    def initial_sharpness(self) -> Optional[float]:
        r"""The first measured sharpness, :math:`\lambda_0`."""
        values = self.sharpness["value"]
        return values[0] if values else None

    @property
    def eta_lam0(self) -> Optional[float]:
        r""":math:`\eta\lambda_0`."""
        return None if self.initial_sharpness is None else self.eta * self.initial_sharpness

    @property
    def hvps_mean(self) -> Optional[float]:
        """Mean Hessian-vector products per measurement."""
        return float(np.mean(self.hvps_per_measurement)) if self.hvps_per_measurement else None

    @property
    def period(self) -> Optional[int]:
        """The period of the sharpness over the EoS window (``None``: aperiodic or undetermined)."""
        return self.period_detail["period"]

    @property
    def final(self) -> dict:
        """``{"loss", "sharpness"}`` at the last step and the last measurement."""
        values = self.sharpness["value"]
        return {"loss": self.loss[-1] if self.loss else None, "sharpness": values[-1] if values else None}

    def series(self, quantity: str) -> tuple:
        """``(steps, values)`` of a measured quantity (``sharpness``, ``batch_sharpness``: its mean,
        ``preconditioned_sharpness``), values as floats with NaN where there is none; empty where not measured."""
        if quantity == "sharpness":
            data, key = self.sharpness, "value"
        elif quantity == "batch_sharpness":
            data, key = self.batch_sharpness, "mean"
        elif quantity == "preconditioned_sharpness":
            data, key = self.preconditioned_sharpness, "value"
        else:
            raise UnknownNameError("quantity", quantity, MEASURED)
        if not data:
            return np.array([], dtype=int), np.array([])
        return (np.asarray(data["step"], dtype=int),
                np.array([np.nan if v is None else v for v in data[key]], dtype=float))

    @property
    def threshold_ratios(self) -> dict:
        """Each measured quantity with a threshold against it over the second half of the run."""
        quantities = [q for q in MEASURED if not (q == "sharpness" and self.optimizer == "adam")]
        ratios = {}
        for quantity in quantities:
            steps, values = self.series(quantity)
            if quantity != "sharpness" and not len(steps):
                continue
            finite = values[np.isfinite(values)]
            late = values[(steps >= self.steps / 2) & np.isfinite(values)] / self.threshold
            ratios[quantity] = {"threshold": self.threshold, "final": float(finite[-1]) if len(finite) else None,
                                "median": float(np.median(late)) if len(late) else None,
                                "peak": float(np.max(late)) if len(late) else None}
        return ratios

    def to_dict(self) -> dict:
        """``sharpness nn --json`` for one eta (``uv_prediction`` last)."""
        return {"dataset": self.dataset, "data": self.data, "arch": self.arch, "model": self.model,
                "task": self.task, "dtype": self.dtype, "optimizer": self.optimizer, "beta": self.beta,
                "batch_size": self.batch_size, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "eta": self.eta, "steps": self.steps, "tol": self.tol, "width": self.width,
                "parameterization": self.parameterization, "init_scale": self.init_scale, "seed": self.seed,
                "top_k": self.top_k, "measure_every": self.measure_every, "parameters": self.parameters,
                "samples": self.samples, "samples_total": self.samples_total, "samples_note": self.samples_note,
                "threshold": self.threshold, "regimes_of": self.regimes_of, "initial_sharpness": self.initial_sharpness, "eta_lam0": self.eta_lam0,
                "outcome": self.outcome.to_dict(), "regimes": [r.to_dict() for r in self.regimes],
                "loss": self.loss, "sharpness": self.sharpness, "top_eigenvalues": self.top_eigenvalues,
                "batch_sharpness": self.batch_sharpness, "preconditioned_sharpness": self.preconditioned_sharpness,
                "threshold_ratios": self.threshold_ratios,
                "hvps_per_measurement": self.hvps_per_measurement, "hvps_mean": self.hvps_mean,
                "eigen_converged": self.eigen_converged, "eos_window": self.eos_window,
                "power_spectrum": self.power_spectrum, "period": self.period, "period_detail": self.period_detail,
                "elapsed": self.elapsed, "final": self.final, "uv_prediction": self.uv_prediction}

    @classmethod
    def from_dict(cls, data: dict) -> "Training":
        """The run that :meth:`to_dict` gave (e.g. read back from a sweep file or ``sharpness nn --json``); the
        properties (``initial_sharpness``, ``eta_lam0``, ``hvps_mean``, ``period``, ``final``,
        ``threshold_ratios``) are recomputed."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["outcome"] = Outcome(**data["outcome"])
        values["regimes"] = [Regime(**r) for r in data["regimes"]]
        return cls(**values)

    def plot(self, path: str) -> None:
        """Each measured quantity over its threshold, and the loss, against the step, written to ``path``
        (:func:`numerics.plots.nn_figure`)."""
        from .. import plots

        plots.nn_figure([self], path)

    def __repr__(self) -> str:
        regimes = ", ".join(dict.fromkeys(r.name for r in self.regimes))  # in order of first appearance
        final = self.threshold_ratios.get(self.regimes_of, {}).get("final")
        ended = "" if self.outcome.step is None else f" at step {self.outcome.step}"
        batches = "" if self.batch_size is None else f" batches of {self.batch_size},"
        return (f"Training({self.model or self.arch} on {self.data or self.dataset}, {self.optimizer}{batches} "
                f"eta={self.eta:g}, {self.steps} steps: outcome {self.outcome.name}{ended}, "
                f"final {self.regimes_of.replace('_', ' ')} {'-' if final is None else format(final, '.6g')} "
                f"(threshold {self.threshold:.6g}); regimes: {regimes or '-'})")



def threshold_of(optimizer: str, eta: float, beta: float = 0.0) -> float:
    """The optimizer's linear stability threshold (:func:`analysis.optimizers.sharpness_threshold`); ``beta`` is
    the momentum (Adam's :math:`\\beta_1`)."""
    return sharpness_threshold(optimizer, eta, beta)


def adam_settings(beta1=None, beta2=None, eps=None) -> dict:
    """Adam's ``{"beta1", "beta2", "eps"}`` as floats, PyTorch's defaults (0.9, 0.999, 1e-8:
    :data:`analysis.model.ADAM_DEFAULTS`) where ``None``; ``beta1``, ``beta2`` in [0, 1) and ``eps`` > 0, else a
    :class:`~analysis.errors.DomainError`."""
    from analysis.model import ADAM_DEFAULTS

    given = {"beta1": beta1, "beta2": beta2, "eps": eps}
    values = {name: float(ADAM_DEFAULTS[name]) if value is None else value for name, value in given.items()}
    values["beta1"], values["beta2"] = check_beta(values["beta1"], "beta1"), check_beta(values["beta2"], "beta2")
    try:
        values["eps"] = float(values["eps"])
    except (TypeError, ValueError):
        raise DomainError("eps", repr(values["eps"]), "a positive number") from None
    if not (math.isfinite(values["eps"]) and values["eps"] > 0):
        raise DomainError("eps", values["eps"], "a positive number")
    return values


def _optimizer(name, parameters, eta, beta, adam=None):
    torch = require_torch()
    if name not in NN_OPTIMIZERS:
        raise UnknownNameError("optimizer", name, NN_OPTIMIZERS)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=eta, betas=(adam["beta1"], adam["beta2"]), eps=adam["eps"])
    if name in ("gd", "sgd"):
        return torch.optim.SGD(parameters, lr=eta)
    return torch.optim.SGD(parameters, lr=eta, momentum=beta, nesterov=(name == "nesterov"))


def training_batches(examples: int, batch_size: int, seed: int):
    """The batches of mini-batch training, one index array per step, without end (module docstring): each epoch a
    permutation of ``range(examples)`` from ``numpy.random.default_rng([seed, 0])``, cut into
    ``examples // batch_size`` consecutive batches, each sorted; the ``examples % batch_size`` left over are dropped
    for that epoch.

    >>> batches = training_batches(5, 2, seed=0)
    >>> [next(batches).tolist() for _ in range(3)]   # two batches of the first epoch, the first of the second
    [[2, 4], [0, 3], [1, 4]]
    >>> np.random.default_rng([0, 0]).permutation(5)   # the first epoch: example 1 is left over
    array([2, 4, 3, 0, 1])
    """
    draws = np.random.default_rng([seed, 0])
    while True:
        order = draws.permutation(examples)
        for start in range(0, examples - batch_size + 1, batch_size):
            yield np.sort(order[start:start + batch_size])


def measurement_batches(examples: int, batch_size: int, seed: int, step: int,
                        count: int = BATCH_SHARPNESS_BATCHES) -> list:
    """The ``count`` batches over which the batch sharpness is estimated at ``step``: each ``batch_size`` distinct
    examples drawn uniformly (``choice(..., replace=False)``, sorted) from ``numpy.random.default_rng([seed, 1,
    step])``, independently of each other and of the training batches, so an estimate depends on the step only."""
    draws = np.random.default_rng([seed, 1, step])
    return [np.sort(draws.choice(examples, batch_size, replace=False)) for _ in range(count)]


def adam_preconditioner(optimizer, parameters) -> Optional[np.ndarray]:
    r"""The diagonal of Adam's preconditioner :math:`P_t = \operatorname{diag}(\sqrt{v_t/(1-\beta_2^t)} +
    \epsilon)` from the state of a ``torch.optim.Adam`` after :math:`t` steps (``exp_avg_sq`` and ``step`` of each
    parameter, in the order of ``parameters``), as float64; ``None`` before the first step (no second moment
    yet). A parameter Adam never updated (no gradient) has :math:`v = 0`, so :math:`P = \epsilon` there."""
    group = optimizer.param_groups[0]
    beta2, eps = group["betas"][1], group["eps"]
    states = [optimizer.state.get(p) for p in parameters]
    steps = [float(state["step"]) for state in states if state]
    if not steps or max(steps) == 0:
        return None
    pieces = []
    for p, state in zip(parameters, states):
        if not state:
            pieces.append(np.full(p.numel(), eps))
            continue
        second = state["exp_avg_sq"].detach().double().reshape(-1).numpy()
        pieces.append(np.sqrt(second / (1 - beta2 ** float(state["step"]))) + eps)
    return np.concatenate(pieces)


def _step_cost(model, inputs, targets, hvps: int) -> float:
    """Seconds of one GD step plus ``hvps`` Hessian-vector products on these inputs (measured once)."""
    torch = require_torch()
    params = [p for p in model.parameters() if p.requires_grad]
    begin = time.perf_counter()
    loss = mse_loss(model(inputs), targets)
    torch.autograd.grad(loss, params)
    step = time.perf_counter() - begin
    begin = time.perf_counter()
    operator = HessianOperator(model, inputs, targets)
    operator(np.ones(operator.size))
    return step + hvps * (time.perf_counter() - begin)


def train(dataset: str = "digits", arch: str = "mlp", eta: float = 0.1, steps: int = 400, width: int = 64,
          seed: int = 0, measure_every: int = 5, max_hvps: int | None = None, samples: int | None = None,
          progress=None, *, data: str | None = None, model: str | None = None, top_k: int = 1,
          dtype: str = "float64", optimizer: str = "gd", beta: float = 0.0, tol: float | None = None,
          time_budget: float | None = None, threads: int | None = 1, max_memory=None, force: bool = False,
          batch_size: int | None = None, beta1: float | None = None, beta2: float | None = None,
          eps: float | None = None, parameterization: str = "pytorch", init_scale: float = 1.0) -> Training:
    """Training with the top-``top_k`` Hessian eigenvalues every ``measure_every`` steps.

    ``dataset`` (bundled) or ``data`` (a ``.npz``); ``arch`` or ``model`` (``PATH.py:FACTORY``); ``samples``: the
    first N examples; for a bundled data set ``None`` is all of them if the estimated run time fits
    ``time_budget`` (default :data:`TIME_BUDGET` s), else the largest prefix that does (``samples_note`` says
    which); for a user's file ``None`` is all. ``max_hvps``: at most this many Hessian-vector products per
    measurement (default ``max(300, 20 top_k)``); ``tol``: residual tolerance of the eigen-solver relative to the
    top eigenvalue (default :data:`TRACKING_TOLERANCE` in float64, 1e-3 in float32; the eigenvalue error is at
    most ``tol**2 S**2/gap``). ``threads``: PyTorch and BLAS threads during the run (default 1: these networks
    are too small to gain from intra-op parallelism, and oversubscribed threads on a shared machine cost a
    factor of 3; ``None`` leaves the settings alone). ``max_memory``, ``force``: the budget of the run
    (:func:`check_budget`, before any work). Overflow, NaN or a loss above 1e12 ends the run with the
    outcome ``diverged``.

    ``optimizer``: one of :data:`NN_OPTIMIZERS` (``beta``: the momentum of ``heavy-ball`` and ``nesterov``;
    ``beta1``, ``beta2``, ``eps``: Adam's, PyTorch's defaults where ``None``). ``batch_size``: mini-batches of
    that many examples (:func:`training_batches`; needed by ``sgd``; not with ``adam``), with the batch sharpness
    measured beside the spectrum; ``None`` is full batch, and so is the number of examples, exactly.

    ``parameterization``: of a built-in ``arch`` (:data:`numerics.nn.PARAMETERIZATIONS`: ``pytorch``, PyTorch's
    default initialization, or Yang & Hu's ``sp``, ``ntk``, ``mup`` in their one-learning-rate form,
    :func:`numerics.nn.build`); ``init_scale``: a multiplier on the standard deviation of the initial weights. A
    user's ``model`` keeps its own initialization: anything but the defaults is refused with it.

    Returns a :class:`Training` (its ``to_dict()`` is the JSON of ``sharpness nn``): the settings, the loss at every
    step, the sharpness and the top eigenvalues at every measurement (and the batch or preconditioned sharpness),
    the optimizer's threshold, the outcome, the regimes and the edge-of-stability observables.

    Examples
    --------
    >>> run = train("digits", "mlp", eta=0.05, steps=10, width=8, samples=64, batch_size=16, measure_every=5)
    >>> run.regimes_of, run.batch_sharpness["step"], run.batch_sharpness["batches"], run.threshold
    ('batch_sharpness', [0, 5, 10], 8, 40.0)
    """
    torch = require_torch()
    if threads is None:
        return _train(**locals())
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            return _train(**locals())
    finally:
        torch.set_num_threads(previous)


def _check_optimizer_options(optimizer, batch_size, beta1, beta2, eps):
    """The optimizer's options, checked together: Adam's parameters (filled with PyTorch's defaults) or ``None``."""
    if optimizer not in NN_OPTIMIZERS:
        raise UnknownNameError("optimizer", optimizer, NN_OPTIMIZERS)
    if batch_size is not None and not (isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
                                       and batch_size >= 1):
        raise DomainError("--batch-size", batch_size, "a positive integer")
    if optimizer == "sgd" and batch_size is None:
        raise UserInputError("--optimizer sgd needs the batch size: --batch-size B")
    if optimizer == "adam":
        if batch_size is not None:
            raise UserInputError("--batch-size applies to gd, sgd, heavy-ball and nesterov; adam runs full batch "
                                 "(its preconditioned sharpness is of the full-batch loss)")
        return adam_settings(beta1, beta2, eps)
    if (beta1, beta2, eps) != (None, None, None):
        raise UserInputError(f"beta1, beta2 and eps apply to --optimizer adam, not {optimizer}")
    return None


def _train(dataset, arch, eta, steps, width, seed, measure_every, max_hvps, samples, progress, data, model,
           top_k, dtype, optimizer, beta, tol, time_budget, threads, max_memory=None, force=False, batch_size=None,
           beta1=None, beta2=None, eps=None, parameterization="pytorch", init_scale=1.0, **_ignored) -> Training:
    torch = require_torch()
    check_parameterization(parameterization, init_scale, model)
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise DomainError("eta", eta, "a positive number")
    if not (isinstance(steps, int) and steps >= 0):
        raise DomainError("--steps", steps, "a non-negative integer")
    if not (isinstance(measure_every, int) and measure_every >= 1):
        raise DomainError("--measure-every", measure_every, "a positive integer")
    if not (isinstance(top_k, int) and top_k >= 1):
        raise DomainError("--top-k", top_k, "a positive integer")
    adam = _check_optimizer_options(optimizer, batch_size, beta1, beta2, eps)
    check_budget(1, steps, measure_every, top_k, max_memory=max_memory, force=force)
    threshold = threshold_of(optimizer, eta, adam["beta1"] if adam else beta)
    inputs_all, targets_all, task = load_arrays(dataset, data)
    total = len(inputs_all)
    name = f"--model {model}" if model else f"--arch {arch}"
    input_shape, outputs = tuple(inputs_all.shape[1:]), targets_all.shape[1]

    def make():
        if model is not None:
            return model_from_factory(model, input_shape, outputs, seed, dtype)
        return build(arch, width, seed, input_shape, outputs, dtype, parameterization, init_scale)

    net = make()
    note = None
    if samples is None and data is None:
        budget = TIME_BUDGET if time_budget is None else time_budget
        probe_inputs, probe_targets = load_data(dataset, None, dtype)
        cost = _step_cost(net, probe_inputs, probe_targets, 16 * top_k / measure_every) * (steps + 1)
        if cost > budget:
            samples = max(16, int(total * budget / cost))
            note = (f"first {samples} of {total} examples: all would take about {cost:.0f} s, over the "
                    f"{budget:.0f} s budget; pass --samples {total} to use all")
    if samples is not None and samples > total:
        raise DomainError("--samples", samples, f"at most the {total} examples of the data")
    inputs, targets = load_data(dataset, samples, dtype, data)
    examples = int(inputs.shape[0])
    if batch_size is not None and batch_size > examples:
        raise DomainError("--batch-size", batch_size, f"at most the {examples} examples trained on")
    check_outputs(net, inputs, targets, name)
    params = [p for p in net.parameters() if p.requires_grad]
    size = int(sum(p.numel() for p in params))
    if top_k > size:
        raise DomainError("--top-k", top_k, f"at most the number of parameters ({size})")
    opt = _optimizer(optimizer, params, eta, beta, adam)
    if tol is None:
        tol = max(TRACKING_TOLERANCE, default_tolerance(dtype))
    tracker = SharpnessTracker(net, inputs, targets, top_k, measure_every, tol=tol, max_hvps=max_hvps,
                               seed=seed)
    full_batch = batch_size is None or batch_size == examples
    batches = None if full_batch else training_batches(examples, batch_size, seed)
    batch_record = None if batch_size is None else {"step": [], "mean": [], "std": [],
                                                    "batches": BATCH_SHARPNESS_BATCHES}
    preconditioned = None if adam is None else {"step": [], "value": [], "hvps": []}
    preconditioned_start = None  # the previous measurement's Ritz vector: a warm start
    losses = []
    outcome = Outcome("completed")
    began = time.perf_counter()
    for step in range(steps + 1):
        with torch.set_grad_enabled(full_batch):  # a mini-batch step needs the full loss's value only
            loss = mse_loss(net(inputs), targets)
        if not torch.isfinite(loss) or loss.item() > 1e12:
            outcome = Outcome("diverged", step=step)
            break
        if not all(bool(torch.isfinite(p.detach()).all()) for p in params):  # the loss can stay finite
            outcome = Outcome("diverged", step=step)
            break
        losses.append(loss.item())
        spectrum = tracker(step)
        if spectrum is not None and not np.isfinite(spectrum.values).all():
            tracker.steps.pop(), tracker.values.pop(), tracker.hvps.pop()
            outcome = Outcome("diverged", step=step)
            break
        if spectrum is not None and batch_record is not None:
            values = batch_sharpness(net, inputs, targets, measurement_batches(examples, batch_size, seed, step))
            values = values[np.isfinite(values)]
            batch_record["step"].append(step)
            batch_record["mean"].append(float(np.mean(values)) if len(values) else None)
            batch_record["std"].append(float(np.std(values, ddof=1)) if len(values) > 1 else None)
        if spectrum is not None and preconditioned is not None:
            diagonal = adam_preconditioner(opt, params)
            value, hvps = None, 0
            if diagonal is not None:
                found = preconditioned_eigenpairs(net, inputs, targets, diagonal, 1, start=preconditioned_start,
                                                  tol=tol, max_hvps=max_hvps, seed=seed + len(tracker.steps))
                value, hvps, preconditioned_start = float(found.values[0]), int(found.hvps), found.vectors
                if not math.isfinite(value):
                    outcome = Outcome("diverged", step=step)
                    break
            preconditioned["step"].append(step)
            preconditioned["value"].append(value)
            preconditioned["hvps"].append(hvps)
        if step < steps:
            opt.zero_grad()
            if full_batch:
                loss.backward()
            else:
                batch = torch.as_tensor(next(batches))
                mse_loss(net(inputs[batch]), targets[batch]).backward()
            opt.step()
        if progress:
            progress()
    elapsed = time.perf_counter() - began
    sharp, sharp_steps = tracker.sharpness, list(tracker.steps)
    regimes_of = ("preconditioned_sharpness" if adam is not None else
                  "batch_sharpness" if not full_batch else "sharpness")
    measured_steps, measured = _regime_series(regimes_of, sharp_steps, sharp, batch_record, preconditioned)
    sampled_loss = np.array(losses)[measured_steps] if len(measured_steps) else np.array([])
    regimes = label_regimes(measured, sampled_loss, threshold, measure_every,
                            outcome.step if outcome.name == "diverged" else -1)
    offset = int(measured_steps[0]) if len(measured_steps) else 0  # Adam's series starts at the second measurement
    regimes = [Regime(r.name, r.start + offset, r.end + offset) for r in regimes]
    observables = eos_observables(list(measured_steps), list(measured), [r.to_dict() for r in regimes],
                                  measure_every)
    return Training(dataset=None if data else dataset, data=data, arch=None if model else arch, model=model,
                    task=task, dtype=dtype, optimizer=optimizer,
                    beta=beta if optimizer in ("heavy-ball", "nesterov") else None, eta=eta,
                    steps=steps, tol=tol, width=width, seed=seed, top_k=top_k, measure_every=measure_every,
                    parameters=size, samples=examples, samples_total=total, samples_note=note,
                    threshold=threshold, outcome=outcome, regimes=regimes, loss=losses,
                    sharpness={"step": sharp_steps, "value": sharp},
                    top_eigenvalues={"step": sharp_steps, "values": [list(v) for v in tracker.values]},
                    hvps_per_measurement=list(tracker.hvps), eigen_converged=bool(all(tracker.converged)),
                    eos_window=observables["eos_window"], power_spectrum=observables["power_spectrum"],
                    period_detail=observables["period_detail"], elapsed=elapsed, batch_size=batch_size,
                    beta1=adam and adam["beta1"], beta2=adam and adam["beta2"], eps=adam and adam["eps"],
                    regimes_of=regimes_of, batch_sharpness=batch_record, preconditioned_sharpness=preconditioned,
                    parameterization=parameterization, init_scale=float(init_scale))


def _regime_series(quantity, sharp_steps, sharp, batch_record, preconditioned) -> tuple:
    """``(steps, values)`` the regimes are labelled on, as arrays: the measurements of ``quantity`` from the first
    that has a value (Adam's at step 0 has none), evenly spaced; a later one without a value (every batch gradient
    zero) is NaN."""
    if quantity == "sharpness":
        steps, values = sharp_steps, sharp
    elif quantity == "batch_sharpness":
        steps, values = batch_record["step"], batch_record["mean"]
    else:
        steps, values = preconditioned["step"], preconditioned["value"]
    first = next((i for i, v in enumerate(values) if v is not None), len(values))
    return (np.array(steps[first:], dtype=int),
            np.array([np.nan if v is None else v for v in values[first:]], dtype=float))
