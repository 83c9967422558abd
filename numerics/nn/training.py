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

import numpy as np

from analysis.errors import DomainError, UnknownNameError
from analysis.optimizers import OPTIMIZERS, sharpness_threshold

from ..classify import label_regimes
from .architectures import build, check_outputs, model_from_factory
from .backend import require_torch
from .data import load_arrays, load_data
from .signal import eos_observables
from .spectrum import HessianOperator, SharpnessTracker, default_tolerance, mse_loss

TIME_BUDGET = 240.0  # seconds: the default --samples of a bundled data set is the largest prefix that fits
TRACKING_TOLERANCE = 1e-5  # eigen-solver residual / top eigenvalue while training (eigenvalue error ~1e-10 S^2/gap)


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
          time_budget: float | None = None, threads: int | None = 1) -> dict:
    """Full-batch training with the top-``top_k`` Hessian eigenvalues every ``measure_every`` steps.

    ``dataset`` (bundled) or ``data`` (a ``.npz``); ``arch`` or ``model`` (``PATH.py:FACTORY``); ``samples``: the
    first N examples; for a bundled data set ``None`` is all of them if the estimated run time fits
    ``time_budget`` (default :data:`TIME_BUDGET` s), else the largest prefix that does (``samples_note`` says
    which); for a user's file ``None`` is all. ``max_hvps``: at most this many Hessian-vector products per
    measurement (default ``max(300, 20 top_k)``); ``tol``: residual tolerance of the eigen-solver relative to the
    top eigenvalue (default :data:`TRACKING_TOLERANCE` in float64, 1e-3 in float32; the eigenvalue error is at
    most ``tol**2 S**2/gap``). ``threads``: PyTorch and BLAS threads during the run (default 1: these networks
    are too small to gain from intra-op parallelism, and oversubscribed threads on a shared machine cost a
    factor of 3; ``None`` leaves the settings alone). Overflow, NaN or a loss above 1e12 ends the run with the
    outcome ``diverged``.

    The result (the JSON of ``sharpness nn``) has ``sharpness`` (``{"step", "value"}``: the top eigenvalue),
    ``top_eigenvalues`` (``{"step", "values"}``), ``hvps_per_measurement``, ``loss`` (every step), ``threshold``
    (the optimizer's), ``regimes``, ``outcome``, ``eos_window``, ``power_spectrum``, ``period``,
    ``period_detail``, ``elapsed`` (seconds) and the settings.
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
           top_k, dtype, optimizer, beta, tol, time_budget, threads, **_ignored) -> dict:
    torch = require_torch()
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise DomainError("eta", eta, "a positive number")
    if not (isinstance(steps, int) and steps >= 0):
        raise DomainError("--steps", steps, "a non-negative integer")
    if not (isinstance(measure_every, int) and measure_every >= 1):
        raise DomainError("--measure-every", measure_every, "a positive integer")
    if not (isinstance(top_k, int) and top_k >= 1):
        raise DomainError("--top-k", top_k, "a positive integer")
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
    outcome = {"name": "completed"}
    began = time.perf_counter()
    for step in range(steps + 1):
        loss = mse_loss(net(inputs), targets)
        if not torch.isfinite(loss) or loss.item() > 1e12:
            outcome = {"name": "diverged", "step": step}
            break
        if not all(bool(torch.isfinite(p.detach()).all()) for p in params):  # the loss can stay finite
            outcome = {"name": "diverged", "step": step}
            break
        losses.append(loss.item())
        spectrum = tracker(step)
        if spectrum is not None and not np.isfinite(spectrum.values).all():
            tracker.steps.pop(), tracker.values.pop(), tracker.hvps.pop()
            outcome = {"name": "diverged", "step": step}
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
    regimes = [r.to_dict() for r in label_regimes(np.array(sharp), sampled_loss, threshold, measure_every,
                                                  outcome["step"] if outcome["name"] == "diverged" else -1)]
    observables = eos_observables(sharp_steps, sharp, regimes, measure_every)
    return {"dataset": None if data else dataset, "data": data, "arch": None if model else arch, "model": model,
            "task": task, "dtype": dtype, "optimizer": optimizer, "beta": beta if optimizer != "gd" else None,
            "eta": eta, "steps": steps, "tol": tol, "width": width, "seed": seed, "top_k": top_k,
            "measure_every": measure_every,
            "parameters": int(sum(p.numel() for p in params)), "samples": int(inputs.shape[0]),
            "samples_total": total, "samples_note": note,
            "threshold": threshold, "initial_sharpness": sharp[0] if sharp else None,
            "eta_lam0": eta * sharp[0] if sharp else None, "outcome": outcome, "regimes": regimes,
            "loss": losses, "sharpness": {"step": sharp_steps, "value": sharp},
            "top_eigenvalues": {"step": sharp_steps, "values": [list(v) for v in tracker.values]},
            "hvps_per_measurement": list(tracker.hvps),
            "hvps_mean": float(np.mean(tracker.hvps)) if tracker.hvps else None,
            "eigen_converged": bool(all(tracker.converged)),
            **observables, "elapsed": elapsed,
            "final": {"loss": losses[-1] if losses else None, "sharpness": sharp[-1] if sharp else None}}
