r"""Mini-batch SGD iterated: the random map of :mod:`analysis.stochastic`, compiled from the derived batch maps.

Each step draws one batch uniformly among the :math:`\binom mB` batches (``numpy.random.default_rng(seed)``, one
integer per step) and applies that batch's derived map (the ``mean_square`` derivation). A run is judged *in
distribution* (:func:`judge`), on the loss along the last half of the run:

``diverged``
    a state is not finite (the step is reported);
``converged``
    the loss over the last quarter stays below :data:`CONVERGED_LOSS` times the initial loss (at least 1):
    SGD has reached a common minimum of the examples, where every batch map stands still;
``stationary``
    the running mean of the loss over the third and the fourth quarter agree within
    :data:`SIGMAS` combined standard errors (batch means, :data:`BATCHES` batches each): the iterates fluctuate
    in a stationary distribution whose mean loss is reported with its error;
``undetermined``
    otherwise: the mean loss still drifts, the run is too short to say.

The Lyapunov exponents of the random product :math:`J_{\mathcal B_t}(\theta_t) \cdots J_{\mathcal B_1}(\theta_1)`
are Benettin's (as :meth:`numerics.IteratedMap.lyapunov`), with the same batch-means error.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import numpy as np
import sympy as sp

from analysis.errors import DomainError
from analysis.values import to_count

from .classify import batch_statistics

CONVERGED_LOSS = 1e-20
SIGMAS = 3.0
BATCHES = 10
CHUNK = 10_000  # steps between progress reports


@dataclasses.dataclass
class StochasticOutcome:
    """How an SGD run ends, judged in distribution (module docstring)."""

    name: str
    reason: str
    mean_loss: Optional[float] = None
    mean_loss_stderr: Optional[float] = None
    step: Optional[int] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclasses.dataclass
class StochasticTrajectory:
    """A run of mini-batch SGD (:func:`run`); ``to_dict()`` is ``sharpness run --optimizer sgd --json``. Fields as
    :class:`numerics.iterated_map.Trajectory` where shared; ``threshold`` is GD's (the mean map's), and
    ``mean_square`` the mean-square threshold at the minimum reached (``None`` if none)."""

    model: str
    parameters: dict
    initial: dict
    steps: int
    every: int
    seed: int
    batch_size: int
    examples: int
    threshold: float
    threshold_name: str
    final: dict
    outcome: StochasticOutcome
    trajectory: dict
    optimizer: str = "sgd"

    def to_dict(self) -> dict:
        return {"model": self.model, "optimizer": self.optimizer, "parameters": self.parameters,
                "initial": self.initial, "steps": self.steps, "every": self.every, "seed": self.seed,
                "batch_size": self.batch_size, "examples": self.examples, "threshold": self.threshold,
                "final": self.final, "outcome": self.outcome.to_dict(), "trajectory": self.trajectory}


@functools.lru_cache(maxsize=16)
def _compiled(derived):
    """The batch maps and their Jacobians of ``derived`` (a DerivedModel under SGD), as Python functions of
    (state..., parameters...)."""
    result = derived.result("mean_square")
    states = [s.symbol for s in derived.model.state]
    parameters = [p.symbol for p in derived.model.parameters]
    maps, jacobians = [], []
    for image in result.batch_maps:
        exprs = [image[s] for s in states]
        maps.append(sp.lambdify(states + parameters, exprs, "math"))
        jacobians.append(sp.lambdify(states + parameters, sp.Matrix(exprs).jacobian(states).tolist(), "math"))
    return maps, jacobians


def _draws(seed: int, count: int, batches: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(batches, size=count)


def judge(loss: np.ndarray, diverged_at: Optional[int]) -> StochasticOutcome:
    """The outcome of a run from its loss at every step (module docstring)."""
    if diverged_at is not None:
        return StochasticOutcome("diverged", f"the state is not finite at step {diverged_at}", step=diverged_at)
    steps = len(loss) - 1
    if steps < 4 * BATCHES:
        return StochasticOutcome("undetermined", f"too short to judge: at least {4 * BATCHES} steps are needed")
    quarter = steps // 4
    third, fourth = loss[-2 * quarter:-quarter], loss[-quarter:]
    scale = max(1.0, float(loss[0]))
    if np.max(fourth) <= CONVERGED_LOSS * scale:
        return StochasticOutcome("converged", f"the loss stays below {CONVERGED_LOSS:g} x max(1, initial loss) over "
                                              "the last quarter", float(np.mean(fourth)), 0.0)
    means = []
    for window in (third, fourth):
        usable = window[: len(window) // BATCHES * BATCHES].reshape(BATCHES, -1).mean(axis=1)
        means.append(batch_statistics(usable))
    (m3, e3), (m4, e4) = means
    spread = SIGMAS * float(np.hypot(e3, e4))
    if abs(m4 - m3) <= spread:
        return StochasticOutcome("stationary", f"the running mean of the loss is {m4:.4g} ± {e4:.2g} over the last "
                                               f"quarter and agrees with the third quarter's {m3:.4g} ± {e3:.2g}",
                                 float(m4), float(e4))
    return StochasticOutcome("undetermined", f"the running mean of the loss still drifts: {m3:.4g} ± {e3:.2g} then "
                                             f"{m4:.4g} ± {e4:.2g} over the last two quarters", float(m4), float(e4))


def _iterate(bound, start: np.ndarray, steps: int, seed: int, progress=None):
    maps, _ = _compiled(bound.model)
    params = [float(v) for v in bound._params]
    draws = _draws(seed, steps, len(maps))
    states = np.empty((steps + 1, len(start)))
    states[0] = start
    state = list(map(float, start))
    diverged_at = None
    with np.errstate(all="ignore"):
        for t in range(steps):
            try:
                state = maps[draws[t]](*state, *params)
            except (OverflowError, ZeroDivisionError, ValueError):
                state = [np.inf] * len(start)
            states[t + 1] = state
            if not np.all(np.isfinite(states[t + 1])) or np.max(np.abs(states[t + 1])) > 1e150:
                diverged_at = t + 1
                states = states[: t + 2]
                break
            if progress and (t + 1) % CHUNK == 0:
                progress(t + 1, steps)
    return states, diverged_at, draws


def run(bound, steps: int, init: Optional[dict] = None, every: int = 1, seed: int = 0,
        progress=None) -> StochasticTrajectory:
    """``steps`` steps of mini-batch SGD from ``init`` with batches drawn by ``seed``; ``bound`` an
    :class:`~numerics.IteratedMap` of a model under ``optimizer="sgd"``."""
    steps, every = to_count("steps", steps), to_count("every", every)
    seed = to_count("seed", seed, 0)
    spec = bound.model.description
    start = bound.initial_state(init)
    states, diverged_at, _ = _iterate(bound, start, steps, seed, progress)
    finite = states[np.isfinite(states).all(axis=1)]
    with np.errstate(all="ignore"):
        loss = np.asarray(bound.compiled.loss_numpy(*finite.T, *bound._params), dtype=float) * np.ones(len(finite))
        sharpness = np.asarray(bound.compiled.sharpness_numpy(*finite.T, *bound._params), dtype=float) \
            * np.ones(len(finite))
    outcome = judge(loss, diverged_at)
    kept = np.arange(0, len(finite), every)
    names = bound.compiled.state_names
    final = {n: float(v) for n, v in zip(names, finite[-1])}
    final.update(sharpness=float(sharpness[-1]), loss=float(loss[-1]))
    trajectory = {"step": kept.tolist(), **{n: finite[kept, i].tolist() for i, n in enumerate(names)},
                  "sharpness": sharpness[kept].tolist(), "loss": loss[kept].tolist()}
    return StochasticTrajectory(bound.model.name, dict(bound.parameters), {n: float(v) for n, v in zip(names, start)},
                                steps, every, seed, spec.batch_size, len(spec.example_losses), bound.threshold,
                                bound.compiled.threshold_name, final, outcome, trajectory)


def lyapunov(bound, steps: int = 100_000, transient: int = 1000, batches: int = 20, init: Optional[dict] = None,
             seed: int = 0, progress=None):
    r"""Lyapunov exponents of the random product of the batch Jacobians along an SGD run (Benettin's QR method,
    :math:`\lambda_i = \langle \log|R_{ii}| \rangle` after ``transient`` steps), with the batch-means standard
    error of :meth:`numerics.IteratedMap.lyapunov`; the batches are drawn by ``seed``."""
    from .iterated_map import LyapunovSpectrum

    steps, batches = to_count("steps", steps), to_count("batches", batches, 2)
    transient, seed = to_count("transient", transient, 0), to_count("seed", seed, 0)
    if steps < batches:
        raise DomainError("steps", steps, f"at least batches ({batches})")
    _, jacobians = _compiled(bound.model)
    names = list(bound.compiled.state_names)
    common = dict(model=bound.model.name, state=names, steps=steps, transient=transient)
    states, diverged_at, draws = _iterate(bound, bound.initial_state(init), transient + steps, seed, progress)
    if diverged_at is not None:
        return LyapunovSpectrum(**common, exponents=None, stderr=None, diverged_at=int(diverged_at))
    params = [float(v) for v in bound._params]
    d = len(names)
    frame = np.eye(d)
    logs = np.empty((steps, d))
    for i in range(steps):
        t = transient + i
        matrix = np.array(jacobians[draws[t]](*states[t], *params), dtype=float)
        q, r = np.linalg.qr(matrix @ frame)
        signs = np.where(np.diag(r) < 0, -1.0, 1.0)
        frame = q * signs
        with np.errstate(divide="ignore"):
            logs[i] = np.log(np.abs(np.diag(r)))
    per_batch = logs[: (steps // batches) * batches].reshape(batches, -1, d).mean(axis=1)
    exponents, stderr = batch_statistics(per_batch, axis=0)
    order = np.argsort(-exponents)
    return LyapunovSpectrum(**common, exponents=exponents[order].tolist(), stderr=stderr[order].tolist(),
                            diverged_at=None, final={n: float(v) for n, v in zip(names, states[-1])})
