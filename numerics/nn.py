r"""Real networks on real data, on the CPU: the bundled digits or the user's own ``.npz``, a built-in architecture
or the user's own PyTorch model, full-batch GD (or heavy-ball / Nesterov momentum), the top Hessian eigenvalues
tracked during training, and the edge-of-stability observables of Kalra, He & Barkeshli (arXiv 2311.02076,
Sec. 7): the sharpness, its power spectrum over the edge-of-stability window and the period of its oscillation.

Data
    ``digits``: scikit-learn's bundled 1,797 images of 8x8 pixels (nothing is downloaded), inputs scaled to
    [0, 1]. A user's ``.npz`` holds ``X`` (N x d, or N x C x H x W for a CNN) and ``y``: integer class labels
    (N,) become one-hot targets centred per class (each column minus its mean), float targets (N,) or (N, m) are
    regressed as given. ``samples``: the first N examples, in file order.
Loss
    :math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2`, full batch.
Models
    ``mlp`` (two tanh hidden layers of ``width``), ``cnn`` (two 3x3 tanh convolutions), ``linear`` (one affine
    layer), ``resnet`` (a tanh stem and two residual blocks, convolutional on images, dense on vectors); smooth
    activations, so that the Hessian exists everywhere. A user's model is ``PATH.py:FACTORY``, a function
    ``FACTORY(input_shape, outputs)`` returning a ``torch.nn.Module`` (``input_shape`` one example's shape, e.g.
    ``(64,)``; ``outputs`` the target width), called after ``torch.manual_seed(seed)``.
Optimizers
    ``torch.optim.SGD(lr=eta, momentum=beta, nesterov=...)`` (``gd``: ``momentum=0``); the sharpness is compared
    with the optimizer's derived threshold :func:`analysis.optimizers.sharpness_threshold` (``2/eta``,
    ``(2+2 beta)/eta``, ``(2+2 beta)/(eta (1+2 beta))``).
Spectrum
    :mod:`numerics.hessian`: the ``k`` largest *algebraic* Hessian eigenvalues by a warm-started block Krylov
    (thick-restart Lanczos) iteration on autograd Hessian-vector products; products per measurement are reported.
Regimes
    :func:`numerics.classify.label_regimes`, as for the UV model, against the optimizer's threshold.
Period and power spectrum
    Over the longest *edge of stability* regime (the EoS window), measured every step: the Welch power spectrum
    (:func:`power_spectrum`) and the period (:func:`oscillation_period`).

PyTorch is an optional dependency (``pip install -e .[torch]``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.optimizers import OPTIMIZERS

from .hessian import (HessianSpectrum, SharpnessTracker, _torch, default_tolerance,  # noqa: F401
                      hessian_eigenvalues, mse_loss, top_eigenpairs)

ARCHITECTURES = ("mlp", "cnn", "linear", "resnet")
DATASETS = ("digits",)
DTYPES = ("float64", "float32")
TIME_BUDGET = 240.0  # seconds: the default --samples of a bundled data set is the largest prefix that fits
PERIODS = (2, 4, 8, 16, 32)
EXPLAINED = 0.9  # fraction of the detrended variance a period must explain (oscillation_period)
TRACKING_TOLERANCE = 1e-5  # eigen-solver residual / top eigenvalue while training (eigenvalue error ~1e-10 S^2/gap)
MIN_WINDOW = 128  # measurements of an EoS window needed to decide a period (4 x the largest period tested)


# ----------------------------------------------------------------------------------------------------- data
def _dtype(dtype: str):
    torch = _torch()
    if dtype not in DTYPES:
        raise UnknownNameError("dtype", dtype, DTYPES)
    return getattr(torch, dtype)


def _targets(labels: np.ndarray, name: str) -> tuple:
    """Integer labels -> centred one-hot targets (``classification``); floats -> (N, m) as given."""
    if labels.dtype.kind in "iub":
        if labels.ndim != 1:
            raise UserInputError(f"{name}: integer labels y must have shape (N,), got {labels.shape}")
        if labels.min() < 0:
            raise UserInputError(f"{name}: integer labels y must be non-negative class indices, got {labels.min()}")
        classes = int(labels.max()) + 1
        if classes > 10_000:
            raise UserInputError(f"{name}: {classes} classes from integer labels y; at most 10000")
        return np.eye(classes)[labels], "classification"
    if labels.dtype.kind != "f":
        raise UserInputError(f"{name}: y must hold integer class labels or float targets, got dtype {labels.dtype}")
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise UserInputError(f"{name}: float targets y must have shape (N,) or (N, m), got {labels.shape}")
    if not np.isfinite(labels).all():
        raise UserInputError(f"{name}: y holds NaN or infinite values")
    return labels.astype(float), "regression"


def read_npz(path: str) -> tuple:
    """``(X, y, task)`` from a user's ``.npz`` (validated: keys, shapes, finite values, matching N), or a
    :class:`UserInputError` that says what is wrong."""
    target = Path(path)
    if not target.is_file():
        raise UserInputError(f"--data {path}: no such file")
    try:
        with np.load(target, allow_pickle=False) as archive:
            keys = set(archive.files)
            missing = [k for k in ("X", "y") if k not in keys]
            if missing:
                raise UserInputError(f"--data {path}: missing key(s) {', '.join(missing)}; the file must hold X "
                                     f"(N x d or N x C x H x W) and y (N class labels or N x m targets); "
                                     f"found: {', '.join(sorted(keys)) or 'none'}")
            inputs, labels = archive["X"], archive["y"]
    except UserInputError:
        raise
    except (OSError, ValueError, EOFError) as error:  # not a zip, object arrays (pickle refused), truncated
        raise UserInputError(f"--data {path}: not a readable .npz of numeric arrays ({error})".splitlines()[0]) \
            from None
    if inputs.dtype.kind not in "iuf" or labels.dtype.kind not in "iufb":
        raise UserInputError(f"--data {path}: X and y must be numeric, got {inputs.dtype} and {labels.dtype}")
    if inputs.ndim not in (2, 4):
        raise UserInputError(f"--data {path}: X must have shape N x d or N x C x H x W, got {inputs.shape}")
    if labels.ndim == 0 or labels.shape[0] != inputs.shape[0]:
        raise UserInputError(f"--data {path}: X has {inputs.shape[0]} examples but y has "
                             f"{labels.shape[0] if labels.ndim else 'a scalar'}; they must match")
    if inputs.shape[0] == 0 or 0 in inputs.shape:
        raise UserInputError(f"--data {path}: X is empty ({inputs.shape})")
    inputs = inputs.astype(float)
    if not np.isfinite(inputs).all():
        raise UserInputError(f"--data {path}: X holds NaN or infinite values")
    targets, task = _targets(labels, f"--data {path}")
    return inputs, targets, task


def load_data(dataset: str = "digits", samples: int | None = None, dtype: str = "float64", data: str | None = None):
    """``(inputs, targets)`` tensors: the bundled ``dataset`` or the user's ``data`` file (module docstring),
    the first ``samples`` examples (all by default), in ``dtype``."""
    inputs, targets, task = _arrays(dataset, data)
    torch_dtype = _dtype(dtype)
    torch = _torch()
    if samples is not None:
        if samples <= 0:
            raise DomainError("samples", samples, "a positive integer")
        inputs, targets = inputs[:samples], targets[:samples]
    if task == "classification":  # one-hot, centred per class over the examples used
        targets = targets - targets.mean(axis=0)
    return torch.tensor(inputs, dtype=torch_dtype), torch.tensor(targets, dtype=torch_dtype)


def _arrays(dataset, data):
    if data is not None:
        return read_npz(data)
    if dataset not in DATASETS:
        raise UnknownNameError("dataset", dataset, DATASETS)
    from sklearn.datasets import load_digits

    digits = load_digits()
    targets = np.eye(10)[digits.target]
    return digits.data / 16.0, targets, "classification"


# --------------------------------------------------------------------------------------------------- models
def _image_shape(input_shape: tuple, arch: str) -> tuple:
    if len(input_shape) == 3:
        return tuple(input_shape)
    side = math.isqrt(input_shape[0])
    if len(input_shape) == 1 and side * side == input_shape[0]:
        return (1, side, side)
    raise UserInputError(f"the {arch} architecture needs images: X of shape N x C x H x W, or N x d with d a "
                         f"square (read as 1 x sqrt(d) x sqrt(d)); got examples of shape {input_shape}")


def build(arch: str, width: int, seed: int, input_shape: tuple = (64,), outputs: int = 10, dtype: str = "float64"):
    """A built-in network (PyTorch default initialisation after ``torch.manual_seed(seed)``), smooth (tanh)."""
    if arch not in ARCHITECTURES:
        raise UnknownNameError("architecture", arch, ARCHITECTURES)
    if not (isinstance(width, int) and width > 0):
        raise DomainError("width", width, "a positive integer")
    torch = _torch()
    torch.manual_seed(seed)
    nn = torch.nn
    features = int(np.prod(input_shape))
    if arch == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, width), nn.Tanh(), nn.Linear(width, width),
                              nn.Tanh(), nn.Linear(width, outputs))
    elif arch == "linear":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, outputs))
    elif arch == "cnn":
        shape = _image_shape(input_shape, arch)
        channels = max(4, width // 8)
        model = nn.Sequential(nn.Flatten(), nn.Unflatten(1, shape), nn.Conv2d(shape[0], channels, 3, padding=1), nn.Tanh(),
                              nn.Conv2d(channels, channels, 3, padding=1), nn.Tanh(), nn.Flatten(),
                              nn.Linear(channels * shape[1] * shape[2], outputs))
    else:
        try:
            shape = _image_shape(input_shape, arch)
        except UserInputError:
            shape = None
        model = _ResNet(shape, features, width, outputs)
    return model.to(_dtype(dtype))


def _resnet_class():
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, make):
            super().__init__()
            self.first, self.second = make(), make()

        def forward(self, x):
            return x + self.second(torch.tanh(self.first(x)))

    class ResNet(nn.Module):
        r"""A small residual network: stem, two blocks :math:`x + g_2(\tanh g_1(x))` with a tanh after each, head.
        Images: 3x3 convolutions with ``max(4, width/8)`` channels, then global average pooling; vectors: dense
        layers of ``width``."""

        def __init__(self, image_shape, features, width, outputs):
            super().__init__()
            self.image_shape = image_shape
            if image_shape is not None:
                channels = max(4, width // 8)
                self.stem = nn.Conv2d(image_shape[0], channels, 3, padding=1)
                make = lambda: nn.Conv2d(channels, channels, 3, padding=1)  # noqa: E731
                self.head = nn.Linear(channels, outputs)
            else:
                self.stem = nn.Linear(features, width)
                make = lambda: nn.Linear(width, width)  # noqa: E731
                self.head = nn.Linear(width, outputs)
            self.blocks = nn.ModuleList([Block(make), Block(make)])

        def forward(self, x):
            if self.image_shape is not None:
                x = x.reshape(x.shape[0], *self.image_shape)
            else:
                x = x.reshape(x.shape[0], -1)
            x = torch.tanh(self.stem(x))
            for block in self.blocks:
                x = torch.tanh(block(x))
            if self.image_shape is not None:
                x = x.mean(dim=(2, 3))
            return self.head(x)

    return ResNet


def _ResNet(*args):  # noqa: N802 - a constructor
    return _resnet_class()(*args)


def load_factory(spec: str):
    """The function ``FACTORY`` of ``PATH.py:FACTORY`` (the file is executed: it is the user's own code)."""
    import importlib.util

    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UserInputError(f"--model must be PATH.py:FACTORY, got {spec!r}")
    target = Path(path)
    if target.suffix != ".py" or not target.is_file():
        raise UserInputError(f"--model {spec}: {path} is not a .py file")
    module_spec = importlib.util.spec_from_file_location(f"_sharpness_user_model_{target.stem}", target)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # the user's code: any failure is reported in one line
        raise UserInputError(f"--model {spec}: importing {path} failed: {type(error).__name__}: {error}"
                             .splitlines()[0]) from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UserInputError(f"--model {spec}: {path} defines no function {name!r}")
    return factory


def model_from_factory(spec: str, input_shape: tuple, outputs: int, seed: int, dtype: str = "float64"):
    """``FACTORY(input_shape, outputs)`` of ``PATH.py:FACTORY`` (after ``torch.manual_seed(seed)``), checked to be a
    ``torch.nn.Module`` with trainable parameters, cast to ``dtype``."""
    torch = _torch()
    factory = load_factory(spec)
    torch.manual_seed(seed)
    try:
        model = factory(tuple(input_shape), int(outputs))
    except Exception as error:  # the user's code
        raise UserInputError(f"--model {spec}: {spec.rpartition(':')[2]}{tuple(input_shape), int(outputs)} raised "
                             f"{type(error).__name__}: {error}".splitlines()[0]) from None
    if not isinstance(model, torch.nn.Module):
        raise UserInputError(f"--model {spec}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise UserInputError(f"--model {spec}: the module has no trainable parameters")
    return model.to(_dtype(dtype))


def _check_outputs(model, inputs, targets, name):
    torch = _torch()
    try:
        with torch.no_grad():
            outputs = model(inputs[:2])
    except Exception as error:  # a user's module may not accept the data's shape
        raise UserInputError(f"{name}: the model fails on inputs of shape {tuple(inputs.shape[1:])}: "
                             f"{type(error).__name__}: {error}".splitlines()[0]) from None
    if not isinstance(outputs, torch.Tensor) or tuple(outputs.shape[1:]) != tuple(targets.shape[1:]):
        shape = tuple(outputs.shape[1:]) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise UserInputError(f"{name}: the model's output per example has shape {shape}, the targets "
                             f"{tuple(targets.shape[1:])}")


# ------------------------------------------------------------------------------------- spectrum and period
def power_spectrum(series, measure_every: int = 1, nperseg: int | None = None) -> dict | None:
    r"""Welch's estimate (scipy.signal.welch, Hann windows, half overlap, linear detrend per segment) of the power
    spectral density of a sharpness series measured every ``measure_every`` steps: ``{"frequency": cycles per
    step, "power"}``, or ``None`` for fewer than 16 samples. A period-p oscillation has its lines at multiples of
    ``1/p`` (period 2: 0.5 cycles per step)."""
    from scipy.signal import welch

    values = np.asarray(series, dtype=float)
    if len(values) < 16 or not np.isfinite(values).all():
        return None
    segment = min(len(values), 256) if nperseg is None else min(nperseg, len(values))
    frequency, power = welch(values, fs=1.0 / measure_every, nperseg=segment, detrend="linear")
    return {"frequency": [float(f) for f in frequency], "power": [float(p) for p in power]}


def oscillation_period(series, periods=PERIODS, explained: float = EXPLAINED) -> dict:
    r"""The period of an oscillation measured every step, on a slowly drifting level.

    The series is detrended by a centred moving average over :math:`L = 2\max(\text{periods})` samples (a
    multiple of every period tested, so a p-periodic component passes unchanged and a slow drift is removed);
    a period p *explains* the fraction :math:`1 - \operatorname{var}(d - \bar d_{t \bmod p})/\operatorname{var}(d)`
    of the detrended series :math:`d` (:math:`\bar d_j` the mean over the phase :math:`j`). Going through
    p = 2, 4, 8, ..., a period replaces the current one (starting from 1, which explains nothing) when it halves
    the unexplained fraction (a period-doubled orbit's small period-2p modulation counts; noise, which lowers it by
    about p/len, does not); the result is that period if it explains at least ``explained`` (0.9). 1 if the
    detrended series is flat (its standard deviation at most 1e-5 of the mean level); ``None`` (aperiodic) if no
    tested period explains enough.

    Returns ``{"period", "status", "explained", "reason"}``: ``status`` is ``periodic``, ``aperiodic`` or
    ``undetermined`` (fewer than :data:`MIN_WINDOW` samples, or non-finite ones: the data cannot decide).
    """
    values = np.asarray(series, dtype=float)
    if len(values) < max(MIN_WINDOW, 4 * max(periods)) or not np.isfinite(values).all():
        return {"period": None, "status": "undetermined", "explained": {},
                "reason": f"{len(values)} measurements at every step in the window; at least "
                          f"{max(MIN_WINDOW, 4 * max(periods))} needed"}
    window = 2 * max(periods)
    trend = np.convolve(values, np.ones(window) / window, mode="valid")
    detrended = values[window // 2: window // 2 + len(trend)] - trend
    level = max(np.abs(values).mean(), np.finfo(float).tiny)
    spread = detrended.std()
    if spread <= 1e-5 * level:
        return {"period": 1, "status": "periodic", "explained": {}, "reason": "flat to 1e-5 of its level"}
    fractions, unexplained, chosen = {}, {1: 1.0}, 1
    for p in periods:
        phases = np.arange(len(detrended)) % p
        means = np.array([detrended[phases == j].mean() for j in range(p)])
        unexplained[p] = float((detrended - means[phases]).var() / detrended.var())
        fractions[str(p)] = 1 - unexplained[p]
        # a longer period is taken only if it halves what the current one leaves unexplained (noise does not:
        # it lowers the unexplained variance by about p/len), and only while that is above round-off
        if unexplained[chosen] > 1e-9 and unexplained[p] < unexplained[chosen] / 2:
            chosen = p
    if chosen > 1 and 1 - unexplained[chosen] >= explained:
        return {"period": chosen, "status": "periodic", "explained": fractions, "reason": ""}
    return {"period": None, "status": "aperiodic", "explained": fractions,
            "reason": f"no period in {', '.join(map(str, periods))} explains {explained:.0%} of the oscillation"}


def eos_window(regimes: list) -> dict | None:
    """The longest *edge of stability* regime, ``{"start", "end"}`` in steps, or ``None``."""
    windows = [r for r in regimes if r["name"] == "edge of stability"]
    if not windows:
        return None
    best = max(windows, key=lambda r: (r["end"] - r["start"], r["start"]))
    return {"start": int(best["start"]), "end": int(best["end"])}


def eos_observables(steps, values, regimes, measure_every: int) -> dict:
    """``eos_window``, ``power_spectrum``, ``period`` and ``period_detail`` of a sharpness trajectory."""
    window = eos_window(regimes)
    if window is None:
        return {"eos_window": None, "power_spectrum": None, "period": None,
                "period_detail": {"period": None, "status": "undetermined", "reason": "no edge-of-stability window", "explained": {}}}
    steps, values = np.asarray(steps), np.asarray(values, dtype=float)
    inside = values[(steps >= window["start"]) & (steps <= window["end"])]
    spectrum = power_spectrum(inside, measure_every)
    if measure_every != 1:
        detail = {"period": None, "status": "undetermined", "explained": {},
                  "reason": f"sharpness measured every {measure_every} steps; a period needs --measure-every 1"}
    else:
        detail = oscillation_period(inside)
    return {"eos_window": window, "power_spectrum": spectrum, "period": detail["period"], "period_detail": detail}


# ---------------------------------------------------------------------------------------------- training
def threshold_of(optimizer: str, eta: float, beta: float = 0.0) -> float:
    """The optimizer's linear stability threshold on the sharpness (:mod:`analysis.optimizers`)."""
    from analysis.optimizers import sharpness_threshold

    return sharpness_threshold(optimizer, eta, beta)


def _optimizer(name, parameters, eta, beta):
    torch = _torch()
    if name not in OPTIMIZERS:
        raise UnknownNameError("optimizer", name, OPTIMIZERS)
    if name == "gd":
        return torch.optim.SGD(parameters, lr=eta)
    return torch.optim.SGD(parameters, lr=eta, momentum=beta, nesterov=(name == "nesterov"))


def _step_cost(model, inputs, targets, hvps: int) -> float:
    """Seconds of one GD step plus ``hvps`` Hessian-vector products on these inputs (measured once)."""
    torch = _torch()
    params = [p for p in model.parameters() if p.requires_grad]
    begin = time.perf_counter()
    loss = mse_loss(model(inputs), targets)
    torch.autograd.grad(loss, params)
    step = time.perf_counter() - begin
    from .hessian import HessianOperator

    begin = time.perf_counter()
    operator = HessianOperator(model, inputs, targets)
    operator(np.ones(operator.size))
    return step + hvps * (time.perf_counter() - begin)


def train(dataset: str = "digits", arch: str = "mlp", eta: float = 0.1, steps: int = 400, width: int = 64,
          seed: int = 0, measure_every: int = 5, lanczos_steps: int | None = None, samples: int | None = None,
          progress=None, *, data: str | None = None, model: str | None = None, top_k: int = 1,
          dtype: str = "float64", optimizer: str = "gd", beta: float = 0.0, tol: float | None = None,
          time_budget: float | None = None, threads: int | None = 1) -> dict:
    """Full-batch training with the top-``top_k`` Hessian eigenvalues every ``measure_every`` steps.

    ``dataset`` (bundled) or ``data`` (a ``.npz``); ``arch`` or ``model`` (``PATH.py:FACTORY``); ``samples``: the
    first N examples; for a bundled data set ``None`` is all of them if the estimated run time fits
    ``time_budget`` (default :data:`TIME_BUDGET` s), else the largest prefix that does (``samples_note`` says
    which); for a user's file ``None`` is all. ``lanczos_steps``: at most this many Hessian-vector products per
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
    torch = _torch()
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


def _train(dataset, arch, eta, steps, width, seed, measure_every, lanczos_steps, samples, progress, data, model,
           top_k, dtype, optimizer, beta, tol, time_budget, threads, **_ignored) -> dict:
    torch = _torch()
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise DomainError("--eta", eta, "a positive number")
    if not (isinstance(steps, int) and steps >= 0):
        raise DomainError("--steps", steps, "a non-negative integer")
    if not (isinstance(measure_every, int) and measure_every >= 1):
        raise DomainError("--measure-every", measure_every, "a positive integer")
    if not (isinstance(top_k, int) and top_k >= 1):
        raise DomainError("--top-k", top_k, "a positive integer")
    threshold = threshold_of(optimizer, eta, beta)
    inputs_all, targets_all, task = _arrays(dataset, data)
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
    _check_outputs(net, inputs, targets, name)
    params = [p for p in net.parameters() if p.requires_grad]
    size = int(sum(p.numel() for p in params))
    if top_k > size:
        raise DomainError("--top-k", top_k, f"at most the number of parameters ({size})")
    opt = _optimizer(optimizer, params, eta, beta)
    if tol is None:
        tol = max(TRACKING_TOLERANCE, default_tolerance(dtype))
    tracker = SharpnessTracker(net, inputs, targets, top_k, measure_every, tol=tol, max_hvps=lanczos_steps,
                               seed=seed)
    losses = []
    outcome = {"name": "completed"}
    began = time.perf_counter()
    for step in range(steps + 1):
        loss = mse_loss(net(inputs), targets)
        if not torch.isfinite(loss) or loss.item() > 1e12:
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
    from .classify import label_regimes

    sharp, sharp_steps = tracker.sharpness, list(tracker.steps)
    sampled_loss = np.array(losses)[sharp_steps] if sharp_steps else np.array([])
    regimes = label_regimes(np.array(sharp), sampled_loss, threshold, measure_every,
                            outcome["step"] if outcome["name"] == "diverged" else -1)
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


def sharpness(model, inputs, targets, lanczos_steps: int = 30) -> float:
    """The top (largest algebraic) eigenvalue of the MSE loss Hessian (:func:`hessian_eigenvalues`, ``k = 1``,
    at most ``lanczos_steps`` products)."""
    return float(hessian_eigenvalues(model, inputs, targets, 1, max_hvps=lanczos_steps).values[0])


def lanczos_top(hvp, size: int, steps: int, seed: int = 0) -> float:
    """Largest algebraic eigenvalue of the symmetric operator ``hvp`` with at most ``steps`` products
    (:func:`numerics.hessian.top_eigenpairs`)."""
    return float(top_eigenpairs(hvp, size, 1, max_hvps=steps, seed=seed, tol=1e-12).values[0])


# ------------------------------------------------------------------------------------------- eta sweeps
def _sweep_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def eta_sweep(etas, out: str | None = None, progress=None, on_start=None, **settings) -> list:
    """:func:`train` at every eta of ``etas`` with the same ``settings``; with ``out`` (a ``.json`` path) every
    finished run is saved at once (written to a temporary file and renamed), and a rerun with the same settings
    skips the etas already in the file (an interrupted sweep resumes from the finished etas). A file written with
    other settings is refused. ``progress`` is passed to :func:`train`; ``on_start(index, eta, done)`` is called
    before each eta (``done``: it was read from ``out``)."""
    settings = {k: v for k, v in settings.items()}
    for bad in ("eta", "progress"):
        settings.pop(bad, None)
    key_settings = {k: v for k, v in settings.items() if k != "threads"}  # threads change round-off only
    key = _sweep_key(key_settings)
    stored = {}
    if out is not None:
        target = Path(out)
        if target.suffix != ".json":
            raise UserInputError(f"--out must end in .json, got {out!r}")
        if not target.parent.exists():
            raise UserInputError(f"cannot write {out}: directory {target.parent} does not exist")
        if target.exists():
            try:
                content = json.loads(target.read_text())
                stored_key, stored = content["key"], dict(content["runs"])
            except (OSError, ValueError, KeyError, TypeError):
                raise UserInputError(f"--out {out} exists and is not a sweep file of this command; use another "
                                     f"file") from None
            if stored_key != key:
                raise UserInputError(f"--out {out} holds a sweep with other settings; use another file")
    runs = []
    for index, eta in enumerate(etas):
        done = repr(float(eta)) in stored
        if on_start:
            on_start(index, eta, done)
        if done:
            runs.append(stored[repr(float(eta))])
            continue
        run = train(eta=float(eta), progress=progress, **settings)
        run["uv_prediction"] = uv_prediction(run["eta_lam0"], run["width"]) if run["eta_lam0"] else None
        runs.append(run)
        if out is not None:
            from .cli.render import finite

            stored[repr(float(eta))] = finite(run)
            temporary = Path(out).with_name(Path(out).name + f".tmp{os.getpid()}")
            temporary.write_text(json.dumps({"key": key, "settings": key_settings, "runs": stored},
                                            allow_nan=False, default=str))
            os.replace(temporary, out)
    return runs


def orbit_figure(runs: list, path: str, keep: int = 128) -> None:
    """Left: the sharpness orbit diagram against eta (the last ``keep`` measurements of each run's EoS window,
    divided by the optimizer's threshold, so that 1 is ``2/eta`` for GD; ``div`` marks a diverged run, the
    number under each column the period, ``-`` none). Right: the Welch spectra of the EoS windows, log10 of the
    power normalised per eta, one row per eta."""
    from . import plots

    target = plots.check_path(path)
    plt = plots.plt
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = []
    for run in runs:
        if run["outcome"]["name"] == "diverged":
            left.annotate("div", (run["eta"], 1.0), fontsize=7, ha="center", color="tab:red")
            continue
        steps = np.asarray(run["sharpness"]["step"])
        values = np.asarray(run["sharpness"]["value"], dtype=float) / run["threshold"]
        window = run.get("eos_window")
        values = values[(steps >= window["start"]) & (steps <= window["end"])] if window else values[len(values) // 2:]
        tail = values[-keep:]
        left.plot(np.full(len(tail), run["eta"]), tail, ".", ms=2, color="tab:orange" if window else "tab:gray")
        label = "-" if run.get("period") is None else str(run["period"])
        left.annotate(label, (run["eta"], 0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                      textcoords="offset points", fontsize=7, ha="center")
        if run.get("power_spectrum"):
            rows.append((run["eta"], run["power_spectrum"]))
    left.axhline(1, color="tab:red", ls="--", lw=1)
    etas_all = [run["eta"] for run in runs]
    margin = 0.05 * (max(etas_all) - min(etas_all) or 1)
    left.set_xlim(min(etas_all) - margin, max(etas_all) + margin)
    left.set_xlabel(r"$\eta$")
    left.set_ylabel(f"sharpness / threshold (last {keep} steps of the EoS window)")
    left.set_title("orbit diagram of the sharpness (bottom: period, '-' none)", fontsize=9)
    if rows:
        etas = np.array([eta for eta, _ in rows])
        frequency = np.asarray(rows[0][1]["frequency"])
        image = []
        for _, spectrum in rows:
            power = np.interp(frequency, spectrum["frequency"], spectrum["power"])
            image.append(np.log10(np.maximum(power / max(power.max(), 1e-300), 1e-12)))
        mesh = right.pcolormesh(frequency, etas, np.array(image), shading="nearest", cmap="viridis", vmin=-5, vmax=0)
        figure.colorbar(mesh, ax=right, label="log10 power / max (per eta)")
        right.set_xlabel("frequency (cycles per step)")
        right.set_ylabel(r"$\eta$")
        right.set_title("Welch spectra of the sharpness over the EoS window", fontsize=9)
    else:
        right.text(0.5, 0.5, "no edge-of-stability window", ha="center", transform=right.transAxes)
    first = runs[0]
    figure.suptitle(f"{first.get('model') or first['arch']} on {first.get('data') or first['dataset']} "
                    f"({first['samples']} examples), {first['optimizer']}, {first['steps']} steps", fontsize=9)
    plots._save(figure, target)


# ---------------------------------------------------------------------------------------- command line
def parse_etas(text: str) -> list:
    """``--eta``: ``E``, ``E1,E2,...`` or ``A:B:N`` (``N`` values from ``A`` to ``B``, ends included)."""
    try:
        if ":" in text:
            first, last, count = text.split(":")
            count = int(count)
            if count < 1:
                raise ValueError
            etas = list(np.linspace(float(first), float(last), count))
        else:
            etas = [float(e) for e in text.split(",")]
    except ValueError:
        raise UserInputError(f"--eta must be a number, a comma-separated list or A:B:N, got {text!r}") from None
    for eta in etas:
        if not (math.isfinite(eta) and eta > 0):
            raise DomainError("--eta", eta, "a positive number")
    return [float(round(e, 12)) for e in etas]


def cli_settings(dataset=None, data=None, arch=None, model=None, optimizer="gd", set_values=None,
                 dtype="float64") -> dict:
    """The data, model and optimizer options of ``sharpness nn``, checked together (one of ``--dataset`` and
    ``--data``, one of ``--arch`` and ``--model``; ``beta`` exactly for the momentum optimizers)."""
    if dataset is not None and data is not None:
        raise UserInputError("give --dataset or --data, not both")
    if arch is not None and model is not None:
        raise UserInputError("give --arch or --model, not both")
    if data is None and (dataset or "digits") not in DATASETS:
        raise UnknownNameError("dataset", dataset, DATASETS)
    if model is None and (arch or "mlp") not in ARCHITECTURES:
        raise UnknownNameError("architecture", arch, ARCHITECTURES)
    if optimizer not in OPTIMIZERS:
        raise UnknownNameError("optimizer", optimizer, OPTIMIZERS)
    if dtype not in DTYPES:
        raise UnknownNameError("dtype", dtype, DTYPES)
    values = dict(set_values or {})
    unknown = [name for name in values if name != "beta"]
    if unknown:
        raise UnknownNameError("parameter", unknown[0], ["beta"], " of nn (the momentum of heavy-ball and nesterov)")
    beta = 0.0
    if optimizer == "gd":
        if "beta" in values:
            raise UserInputError("--set beta applies to --optimizer heavy-ball or nesterov, not gd")
    else:
        if "beta" not in values:
            raise UserInputError(f"--optimizer {optimizer} needs the momentum: --set beta=VALUE (0 <= beta < 1)")
        try:
            beta = float(values["beta"])
        except ValueError:
            raise DomainError("beta", values["beta"], "a number in [0, 1)") from None
        from analysis.optimizers import check_beta

        beta = check_beta(beta)
    if data is not None:
        read_npz(data)  # refused before any work
    if model is not None:
        load_factory(model)
    return {"dataset": None if data else (dataset or "digits"), "data": data, "arch": None if model else (arch or "mlp"),
            "model": model, "optimizer": optimizer, "beta": beta, "dtype": dtype}


def sweep_table(runs: list) -> list:
    """One row per run: eta, eta*lam0, outcome, regimes, final sharpness / threshold, period, HVPs per measurement,
    and the UV model's outcome and regimes at the same eta*lam0."""
    rows = []
    for r in runs:
        uv = r.get("uv_prediction")
        final = r["final"]["sharpness"]
        rows.append({"eta": r["eta"], "eta_lam0": r["eta_lam0"], "outcome": r["outcome"]["name"],
                     "regimes": list(dict.fromkeys(x["name"] for x in r["regimes"])),
                     "final_sharpness_times_eta_over_2": None if final is None else final * r["eta"] / 2,
                     "final_sharpness_over_threshold": None if final is None else final / r["threshold"],
                     "threshold": r["threshold"], "period": r.get("period"),
                     "period_status": (r.get("period_detail") or {}).get("status"),
                     "hvps_mean": r.get("hvps_mean"),
                     "uv_outcome": uv["outcome"]["name"] if uv else None,
                     "uv_regimes": list(dict.fromkeys(uv["regimes"])) if uv else None})
    return rows


def report_section(steps: int, samples: int, eta: float = 0.15, optimizer: str = "gd", beta: str = "0") -> tuple:
    """``(argv, compute)`` for the report's real-network section: the ``sharpness nn`` command line and the library
    call that prints the same JSON (up to ``elapsed``, the wall time): the MLP on the first ``samples`` digits at
    ``eta``, sharpness every 5 steps with at most 30 products per measurement (the report's settings so far)."""
    momentum = ["--optimizer", optimizer, "--set", f"beta={beta}"] if optimizer != "gd" else []
    argv = ["nn", "--arch", "mlp", "--eta", f"{eta:g}", *momentum, "--steps", str(steps), "--samples", str(samples),
            "--measure-every", "5", "--lanczos-steps", "30", "--quiet"]
    chosen = cli_settings(optimizer=optimizer, set_values={"beta": beta} if optimizer != "gd" else None)
    settings = dict(chosen, steps=int(steps), width=64, seed=0, measure_every=5, lanczos_steps=30,
                    samples=int(samples), top_k=1, tol=None, time_budget=None, threads=1)
    return argv, lambda: eta_sweep([eta], **settings)[0]


# ---------------------------------------------------------------------------------------------- UV model
def uv_prediction(eta_lam0: float, width: int, steps: int = 2000, model: str = "uv", parameterization: str = "sp",
                  target: float = 1.0) -> dict:
    r"""A width-n model's regimes at the same :math:`\eta\lambda_0` (default: the UV model in SP, Kalra et al.'s
    comparison): unit step, the network's width, target ``target``, zero initial output and initial kernel
    :math:`\lambda_0 = \eta\lambda_0` (only the product matters for the linear stability threshold; the width sets
    how fast a catapult develops, the paper's Fig. 3 phase diagram). The names of the step, width, output and
    kernel come from the model's description."""
    from analysis import load_model

    from .iterated_map import IteratedMap

    derived = load_model(model, parameterization)
    spec = derived.description
    output, kernel = (s.name for s in spec.state)
    target_name = next(p.name for p in derived.model.parameters
                       if p.name not in (spec.step.name, spec.width.name) and p.default is None)
    values = {spec.step.name: 1, spec.width.name: width, target_name: target}
    result = IteratedMap(derived, **values).run(steps, init={output: 0, kernel: float(eta_lam0)})
    return {"outcome": result.outcome, "regimes": [r["name"] for r in result.regimes],
            "parameters": {"model": model, "parameterization": parameterization, **values, output + "0": 0,
                           kernel + "0": float(eta_lam0)}}
