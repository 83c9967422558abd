r"""Full-batch training of a real network with its top Hessian eigenvalues tracked, and the regimes it goes through.

Loss :math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2`, full batch. Optimizers: ``torch.optim.SGD(lr=eta,
momentum=beta, nesterov=...)`` (``gd``: ``momentum=0``); the sharpness is compared with the optimizer's derived
threshold :func:`analysis.optimizers.sharpness_threshold` (``2/eta``, ``(2+2 beta)/eta``,
``(2+2 beta)/(eta (1+2 beta))``) and the regimes are labelled against it (:func:`numerics.classify.label_regimes`,
as for the UV model).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from analysis.errors import DomainError, UnknownNameError
from analysis.optimizers import OPTIMIZERS, sharpness_threshold

from ..classify import Outcome, Regime, label_regimes
from .architectures import build, check_outputs, model_from_factory
from .backend import require_torch
from .data import load_arrays, load_data
from .signal import eos_observables
from .spectrum import HessianOperator, SharpnessTracker, default_tolerance, mse_loss

TIME_BUDGET = 240.0  # seconds: the default --samples of a bundled data set is the largest prefix that fits
TRACKING_TOLERANCE = 1e-5  # eigen-solver residual / top eigenvalue while training (eigenvalue error ~1e-10 S^2/gap)


# Full-batch training steps per second that no network reaches here: the smallest one (a 2-input linear layer on
# 4 examples, float64, one thread) takes ~300 us per step on the development machine, so this overestimates the
# speed 3x and a run refused as longer than a day is longer than a day.
NN_STEPS_PER_SECOND = 1e4
# Bytes kept per step (the loss, a Python float in a list) and per tracked eigenvalue of a measurement.
BYTES_PER_RECORD = 32


def check_budget(runs: int, steps: int, measure_every: int = 5, top_k: int = 1, *, max_memory=None,
                 force: bool = False) -> None:
    """Refuse (:mod:`numerics.budget`, before any data is loaded or a network built) ``runs`` trainings of ``steps``
    steps whose records (the loss at every step, ``top_k`` eigenvalues and the solver's counts at every
    measurement, all kept until the sweep ends) exceed the memory budget, or whose time at
    :data:`NN_STEPS_PER_SECOND` exceeds a day unless ``force``."""
    from .. import budget

    measurements = steps // measure_every + 1
    per_run = BYTES_PER_RECORD * ((steps + 1) + measurements * (top_k + 3))
    what = f"{runs:,} training run{'s' if runs > 1 else ''} of {steps:,} steps"
    budget.check_memory(runs * per_run, what, "use fewer {steps} or step sizes", max_memory, steps=None)
    budget.check_work(runs * (steps + 1), what, force, NN_STEPS_PER_SECOND, "training steps")


@dataclass(frozen=True)
class Training:
    r"""A full-batch training run with its sharpness tracked (:func:`train`); ``to_dict()`` is ``sharpness nn
    --json`` for one eta.

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
        ``gd``, ``heavy-ball`` or ``nesterov`` (``torch.optim.SGD``).
    beta : float or None
        The momentum :math:`\beta` of heavy-ball and Nesterov; ``None`` for ``gd``.
    eta : float
        The step size :math:`\eta`.
    steps : int
        Steps asked (the run ends earlier if it diverges).
    tol : float
        Residual tolerance of the eigen-solver relative to the top eigenvalue (the eigenvalue error is at most
        ``tol**2 S**2/gap``).
    width, seed : int
        The architecture's width and the seed of its initialisation (and of the solver's start).
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
        The optimizer's linear stability threshold on the sharpness
        (:func:`analysis.optimizers.sharpness_threshold`): :math:`2/\eta` (GD), :math:`(2+2\beta)/\eta`
        (heavy-ball), :math:`(2+2\beta)/(\eta(1+2\beta))` (Nesterov).
    outcome : Outcome
        :class:`numerics.classify.Outcome` named ``completed``, or ``diverged`` with the ``step`` at which the loss
        or a parameter stopped being finite (or the loss passed 1e12).
    regimes : list of Regime
        The regimes of the sharpness against ``threshold`` (:class:`numerics.classify.Regime`,
        :func:`numerics.classify.label_regimes`), in steps.
    loss : list of float
        :math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2` at every step, before that step's update.
    sharpness : dict
        ``{"step": [...], "value": [...]}``: the top Hessian eigenvalue at every measurement.
    top_eigenvalues : dict
        ``{"step": [...], "values": [[...], ...]}``: the ``top_k`` largest algebraic eigenvalues, descending.
    hvps_per_measurement : list of int
        Hessian-vector products the solver used at each measurement.
    eigen_converged : bool
        Whether every measurement met ``tol``.
    eos_window : dict or None
        ``{"start", "end"}`` in steps: the longest *edge of stability* regime (:func:`numerics.nn.eos_window`), or
        ``None``.
    power_spectrum : dict or None
        ``{"frequency": cycles per step, "power"}``: Welch's estimate over the EoS window
        (:func:`numerics.nn.power_spectrum`), or ``None`` (no window, fewer than 16 measurements).
    period_detail : dict
        ``{"period", "status", "explained", "reason"}`` of the sharpness over the EoS window
        (:func:`numerics.nn.oscillation_period`): ``status`` ``periodic``, ``aperiodic`` or ``undetermined`` (no
        window, a window too short, or measured less often than every step).
    elapsed : float
        Wall-clock seconds of the training loop (not reproducible).
    uv_prediction : dict or None
        The UV model's ``outcome`` and ``regimes`` at this run's :math:`\eta\lambda_0`
        (:func:`numerics.nn.uv_prediction`), set by :func:`numerics.nn.eta_sweep`; ``None`` from :func:`train`
        alone or without an initial sharpness.
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
    uv_prediction: Optional[dict] = None

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

    def to_dict(self) -> dict:
        """``sharpness nn --json`` for one eta (``uv_prediction`` last)."""
        return {"dataset": self.dataset, "data": self.data, "arch": self.arch, "model": self.model,
                "task": self.task, "dtype": self.dtype, "optimizer": self.optimizer, "beta": self.beta,
                "eta": self.eta, "steps": self.steps, "tol": self.tol, "width": self.width, "seed": self.seed,
                "top_k": self.top_k, "measure_every": self.measure_every, "parameters": self.parameters,
                "samples": self.samples, "samples_total": self.samples_total, "samples_note": self.samples_note,
                "threshold": self.threshold, "initial_sharpness": self.initial_sharpness, "eta_lam0": self.eta_lam0,
                "outcome": self.outcome.to_dict(), "regimes": [r.to_dict() for r in self.regimes],
                "loss": self.loss, "sharpness": self.sharpness, "top_eigenvalues": self.top_eigenvalues,
                "hvps_per_measurement": self.hvps_per_measurement, "hvps_mean": self.hvps_mean,
                "eigen_converged": self.eigen_converged, "eos_window": self.eos_window,
                "power_spectrum": self.power_spectrum, "period": self.period, "period_detail": self.period_detail,
                "elapsed": self.elapsed, "final": self.final, "uv_prediction": self.uv_prediction}

    @classmethod
    def from_dict(cls, data: dict) -> "Training":
        """The run that :meth:`to_dict` gave (e.g. read back from a sweep file or ``sharpness nn --json``); the
        properties (``initial_sharpness``, ``eta_lam0``, ``hvps_mean``, ``period``, ``final``) are recomputed."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["outcome"] = Outcome(**data["outcome"])
        values["regimes"] = [Regime(**r) for r in data["regimes"]]
        return cls(**values)

    def plot(self, path: str) -> None:
        """Sharpness times eta/2 and loss against the step, written to ``path`` (:func:`numerics.plots.nn_figure`)."""
        from .. import plots

        plots.nn_figure([self], path)

    def __repr__(self) -> str:
        regimes = ", ".join(dict.fromkeys(r.name for r in self.regimes))  # in order of first appearance
        final = self.final["sharpness"]
        ended = "" if self.outcome.step is None else f" at step {self.outcome.step}"
        return (f"Training({self.model or self.arch} on {self.data or self.dataset}, {self.optimizer} "
                f"eta={self.eta:g}, {self.steps} steps: outcome {self.outcome.name}{ended}, "
                f"final sharpness {'-' if final is None else format(final, '.6g')} (threshold {self.threshold:.6g}); "
                f"regimes: {regimes or '-'})")



def threshold_of(optimizer: str, eta: float, beta: float = 0.0) -> float:
    """The optimizer's linear stability threshold on the sharpness (:mod:`analysis.optimizers`)."""
    return sharpness_threshold(optimizer, eta, beta)


def _optimizer(name, parameters, eta, beta):
    torch = require_torch()
    if name not in OPTIMIZERS:
        raise UnknownNameError("optimizer", name, OPTIMIZERS)
    if name == "gd":
        return torch.optim.SGD(parameters, lr=eta)
    return torch.optim.SGD(parameters, lr=eta, momentum=beta, nesterov=(name == "nesterov"))


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
          time_budget: float | None = None, threads: int | None = 1, max_memory=None, force: bool = False) -> Training:
    """Full-batch training with the top-``top_k`` Hessian eigenvalues every ``measure_every`` steps.

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

    Returns a :class:`Training` (its ``to_dict()`` is the JSON of ``sharpness nn``): the settings, the loss at every
    step, the sharpness and the top eigenvalues at every measurement, the optimizer's threshold, the outcome, the
    regimes and the edge-of-stability observables.
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


def _train(dataset, arch, eta, steps, width, seed, measure_every, max_hvps, samples, progress, data, model,
           top_k, dtype, optimizer, beta, tol, time_budget, threads, max_memory=None, force=False,
           **_ignored) -> Training:
    torch = require_torch()
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise DomainError("eta", eta, "a positive number")
    if not (isinstance(steps, int) and steps >= 0):
        raise DomainError("--steps", steps, "a non-negative integer")
    if not (isinstance(measure_every, int) and measure_every >= 1):
        raise DomainError("--measure-every", measure_every, "a positive integer")
    if not (isinstance(top_k, int) and top_k >= 1):
        raise DomainError("--top-k", top_k, "a positive integer")
    check_budget(1, steps, measure_every, top_k, max_memory=max_memory, force=force)
    threshold = threshold_of(optimizer, eta, beta)
    inputs_all, targets_all, task = load_arrays(dataset, data)
    total = len(inputs_all)
    name = f"--model {model}" if model else f"--arch {arch}"
    input_shape, outputs = tuple(inputs_all.shape[1:]), targets_all.shape[1]

    def make():
        if model is not None:
            return model_from_factory(model, input_shape, outputs, seed, dtype)
        return build(arch, width, seed, input_shape, outputs, dtype)

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
    check_outputs(net, inputs, targets, name)
    params = [p for p in net.parameters() if p.requires_grad]
    size = int(sum(p.numel() for p in params))
    if top_k > size:
        raise DomainError("--top-k", top_k, f"at most the number of parameters ({size})")
    opt = _optimizer(optimizer, params, eta, beta)
    if tol is None:
        tol = max(TRACKING_TOLERANCE, default_tolerance(dtype))
    tracker = SharpnessTracker(net, inputs, targets, top_k, measure_every, tol=tol, max_hvps=max_hvps,
                               seed=seed)
    losses = []
    outcome = Outcome("completed")
    began = time.perf_counter()
    for step in range(steps + 1):
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
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress:
            progress()
    elapsed = time.perf_counter() - began
    sharp, sharp_steps = tracker.sharpness, list(tracker.steps)
    sampled_loss = np.array(losses)[sharp_steps] if sharp_steps else np.array([])
    regimes = label_regimes(np.array(sharp), sampled_loss, threshold, measure_every,
                            outcome.step if outcome.name == "diverged" else -1)
    observables = eos_observables(sharp_steps, sharp, [r.to_dict() for r in regimes], measure_every)
    return Training(dataset=None if data else dataset, data=data, arch=None if model else arch, model=model,
                    task=task, dtype=dtype, optimizer=optimizer, beta=beta if optimizer != "gd" else None, eta=eta,
                    steps=steps, tol=tol, width=width, seed=seed, top_k=top_k, measure_every=measure_every,
                    parameters=size, samples=int(inputs.shape[0]), samples_total=total, samples_note=note,
                    threshold=threshold, outcome=outcome, regimes=regimes, loss=losses,
                    sharpness={"step": sharp_steps, "value": sharp},
                    top_eigenvalues={"step": sharp_steps, "values": [list(v) for v in tracker.values]},
                    hvps_per_measurement=list(tracker.hvps), eigen_converged=bool(all(tracker.converged)),
                    eos_window=observables["eos_window"], power_spectrum=observables["power_spectrum"],
                    period_detail=observables["period_detail"], elapsed=elapsed)
