r"""The central flow of a model: the time-averaged dynamics of GD at the edge of stability, integrated.

>>> from numerics import central_flow
>>> flow = central_flow("uv-eos", 200, values={"k": 1.5})
>>> flow.events[0].type, round(flow.final["sharpness"], 9), round(flow.final["sigma2"], 9)
('enter-eos', 2.0, 0.074074074)

Cohen, Damian, Talwalkar, Kolter & Lee, *Understanding Optimization in Deep Learning with Central Flows*, ICLR
2025 (Sec. 3). The vector field is derived (:func:`analysis.derivations.central_flow.central_flow`):
:math:`\dot z = g(z) + \sigma^2 h(z)` with :math:`g = -\eta K\nabla L`, :math:`h = -\tfrac{\eta}{2} K \nabla S`,
time in GD steps. It is a hybrid system, integrated by scipy's ``solve_ivp`` (DOP853, ``rtol`` 1e-10 by default)
one phase at a time:

* gradient flow (:math:`\sigma^2 = 0`) while :math:`S < 2/\eta`, up to the terminal event :math:`S = 2/\eta`
  (``enter-eos``);
* on :math:`S = 2/\eta`, :math:`\sigma^2 = -(\nabla S\cdot g)/(\nabla S\cdot h)` (so :math:`\dot S = 0`), up to
  the terminal event :math:`\sigma^2 = 0` (``leave-eos``), after which gradient flow lowers :math:`S`. Drift off
  the constraint (integration error) is corrected by :math:`\dot S = -\kappa (S - 2/\eta)` (Baumgarte's
  stabilisation, :data:`CONSTRAINT_RATE`) and by a Newton projection at every switch.

A start with :math:`S > 2/\eta` is first projected onto :math:`S = 2/\eta` along the flow of :math:`-K\nabla S`
(the limit :math:`\sigma^2 \to \infty` of the flow, i.e. of the authors' substeps), in zero time
(``projected_start``). One critical eigenvalue is assumed: where the second eigenvalue also reaches
:math:`2/\eta` the multiplier becomes a matrix (the paper's semidefinite complementarity problem, not solved
here), and the integration stops there with the event ``multiple-critical`` and ``complete = False``.

The predicted time-averaged loss is :math:`L + \sigma^2/\eta`. With ``gd=True`` GD itself is run from the same
start and compared, over a window, with the flow at :math:`t + 1/2` against GD's two-step averages
:math:`(w_t + w_{t+1})/2`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np
import sympy as sp

from analysis.values import value_mapping
from analysis import DerivedModel
from analysis.errors import DomainError, UnsupportedOptionError, UserInputError

from .compile import compile_model

# Baumgarte's rate (per GD step) pulling S back to 2/eta on the EoS phase: the flow's own rates are eta * S = 2 per
# step at most there, so a unit rate adds no stiffness while erasing an integration drift within a few steps.
CONSTRAINT_RATE = 1.0
# Relative tolerance on S = 2/eta for a state to count as on the constraint (a start, an entry).
ON_CONSTRAINT = 1e-9
# A second eigenvalue within this relative distance of 2/eta at an entry counts as critical too.
SECOND_CRITICAL = 1e-7
# Phases at most (a flow that enters and leaves the EoS more often than this chatters; reported, not integrated).
MAX_PHASES = 200
DEFAULT_SAMPLES = 401
# The integrator's largest step, in GD steps. DOP853 controls the error at its steps, not that of its dense output
# between them (a degree-7 interpolant): at 5-step strides on xy-quartic the interpolant put S off 2/eta by 2e-8
# relative mid-step while the steps themselves held it to 4e-10; strides of one GD step keep both below 1e-9.
MAX_STEP = 1.0
# The loss comparison with GD skips steps whose predicted loss is below this fraction of the starting loss.
LOSS_FLOOR = 1e-10


@dataclass(frozen=True)
class FlowEvent:
    """A switch of the hybrid flow: ``type`` (``enter-eos``, ``leave-eos``, ``multiple-critical``,
    ``degenerate``), the ``time`` (GD steps) and the ``state`` there (``{name: float}``)."""

    type: str
    time: float
    state: dict

    def to_dict(self) -> dict:
        return {"type": self.type, "time": self.time, "state": self.state}


class _Field:
    """The derived central-flow field compiled at bound parameter values (numpy, one state at a time)."""

    def __init__(self, derived: DerivedModel, values: dict):
        if derived.optimizer != "gd":
            raise UnsupportedOptionError(f"central flows are derived for GD only, not {derived.optimizer}; leave "
                                         "out {optimizer}", optimizer=None)
        flow = derived.central_flow
        if flow.gradient_field is None:
            raise UserInputError(f"no central flow for model {derived.name!r}: {flow.notes}")
        self.compiled = compiled = compile_model(derived)
        self.params = compiled.parameter_vector(values)
        self.names = compiled.state_names
        if list(flow.states) != compiled.state_symbols:
            raise UserInputError(f"the central flow of {derived.name!r} is over {flow.states}, not the state")
        arguments = compiled.state_symbols + compiled.parameter_symbols

        def compiled_list(expressions):
            function = sp.lambdify(arguments, list(expressions), modules=[np], cse=True)
            return lambda x: np.array(function(*x, *self.params), dtype=float)

        self._gradient_field = compiled_list(flow.gradient_field[s] for s in flow.states)
        metric = compiled_list(flow.metric)
        size = len(flow.states)
        self._metric = lambda x: metric(x).reshape(size, size)
        gradient = derived.grad_sharpness
        if gradient.gradient is not None:
            self._grad_sharpness = compiled_list(gradient.gradient[s] for s in flow.states)
        else:  # dS/dtheta_k = T_ijk u_i u_j at the unit top eigenvector u (first-order perturbation theory)
            tensor = compiled_list(np.ravel(np.array(gradient.third_derivatives, dtype=object)))
            hessian = compiled_list(derived.hessian_spectrum.hessian)

            def contracted(x):
                _, vectors = np.linalg.eigh(hessian(x).reshape(size, size))
                top = vectors[:, -1]
                return np.einsum("ijk,i,j->k", tensor(x).reshape(size, size, size), top, top)

            self._grad_sharpness = contracted
        self._second = self._second_eigenvalue_function(derived, compiled_list)
        with np.errstate(all="ignore"):
            self.step = float(compiled.step_size(*self.params))
            self.threshold = float(compiled.threshold_size(*self.params))

    def _second_eigenvalue_function(self, derived, compiled_list):
        """``x -> the second largest Hessian eigenvalue (multiplicity counted)``, or ``None`` where part of the
        spectrum has no closed form in a Gram model (then a second critical eigenvalue cannot be detected)."""
        spectrum = derived.hessian_spectrum
        if spectrum.hessian is not None:  # coordinate model: the whole Hessian
            size = spectrum.hessian.rows
            hessian = compiled_list(spectrum.hessian)
            return lambda x: np.linalg.eigvalsh(hessian(x).reshape(size, size))[-2] if size > 1 else -np.inf
        if spectrum.unresolved:
            return None
        symbols = self.compiled.parameter_symbols
        bound = dict(zip(symbols, self.params))
        multiplicities = [int(round(float(sp.sympify(m).subs(bound)))) for _, m in spectrum.eigenvalues]
        branches = compiled_list(e for e, _ in spectrum.eigenvalues)

        def second(x):
            values = np.repeat(branches(x), np.maximum(multiplicities, 0))
            return np.sort(values)[-2] if values.size > 1 else -np.inf

        return second

    # -------------------------------------------------------------------------------------------- the field
    def sharpness(self, x) -> float:
        return float(self.compiled.sharpness_numpy(*x, *self.params))

    def loss(self, x) -> float:
        return float(self.compiled.loss_numpy(*x, *self.params))

    def pieces(self, x):
        """``(g, h, grad S)`` at ``x``."""
        grad = self._grad_sharpness(x)
        return self._gradient_field(x), -self.step / 2 * self._metric(x) @ grad, grad

    def sigma2(self, x) -> float:
        r""":math:`\sigma^2 = -(\nabla S\cdot g)/(\nabla S \cdot h)`, the multiplier that makes :math:`\dot S = 0`."""
        g, h, grad = self.pieces(x)
        return float(-(grad @ g) / (grad @ h))

    def gradient_rhs(self, t, x):
        return self._gradient_field(x)

    def eos_rhs(self, t, x):
        g, h, grad = self.pieces(x)
        sigma2 = -(grad @ g + CONSTRAINT_RATE * (self.sharpness(x) - self.threshold)) / (grad @ h)
        return g + sigma2 * h

    def second_eigenvalue(self, x) -> float:
        return float(self._second(x)) if self._second is not None else float("nan")

    def onto_constraint(self, x):
        r"""Newton's method for :math:`S = 2/\eta` along :math:`K\nabla S` (a few iterations from a nearby point)."""
        for _ in range(8):
            gap = self.sharpness(x) - self.threshold
            if abs(gap) <= 1e-15 * self.threshold:
                break
            grad = self._grad_sharpness(x)
            direction = self._metric(x) @ grad
            x = x - gap * direction / (grad @ direction)
        return x


@dataclass
class CentralFlow:
    r"""The central flow of a model from one start (:func:`central_flow`); ``to_dict()`` is ``sharpness
    central-flow --json``.

    Attributes
    ----------
    model, parameterization : str
    parameters : dict
        ``{name: float}``.
    initial : dict
        The start ``{state name: float}`` (before any projection).
    time : float
        The flow's horizon in GD steps.
    step, threshold : float
        :math:`\eta` and :math:`2/\eta`.
    rtol : float
        The integrator's relative tolerance (DOP853).
    events : list of FlowEvent
        Switches in time order.
    projected_start : dict or None
        Where the start had :math:`S > 2/\eta`: ``{"from", "to"}`` (states) and ``{"sharpness_before"}``.
    final : dict
        At the end: each state variable, ``sharpness``, ``sigma2``, ``loss``, ``predicted_loss`` and ``phase``
        (``eos`` or ``gradient``), ``time`` (below ``time`` if the integration stopped early).
    trajectory : dict
        Columns ``time``, each state variable, ``sharpness``, ``sigma2``, ``loss``, ``predicted_loss`` at uniform
        times and at every event.
    complete : bool
        Whether the flow was integrated up to ``time``; ``reason`` says why not.
    max_constraint_violation : float
        :math:`\max |S/(2/\eta) - 1|` over the EoS part of ``trajectory`` (0 without one).
    gd, gd_comparison : dict or None
        With ``gd=True``: GD from the same start and the comparison (:func:`central_flow`).
    """

    model: str
    parameterization: str
    parameters: dict
    initial: dict
    time: float
    step: float
    threshold: float
    rtol: float
    events: list
    projected_start: Optional[dict]
    final: dict
    trajectory: dict
    complete: bool
    reason: str
    max_constraint_violation: float
    gd: Optional[dict] = None
    gd_comparison: Optional[dict] = None
    _segments: list = field(default_factory=list, repr=False)
    _field: object = field(default=None, repr=False)

    def at(self, t) -> dict:
        """The flow at time(s) ``t`` (a number or an array within ``[0, final time]``), from the integrator's dense
        output: ``{state name, "sharpness", "sigma2", "loss", "predicted_loss"}``, floats or arrays."""
        times = np.atleast_1d(np.asarray(t, dtype=float))
        end = self._segments[-1][1]
        if times.size and (times.min() < 0 or times.max() > end * (1 + 1e-12)):
            raise DomainError("t", f"[{times.min():g}, {times.max():g}]", f"within [0, {end:g}]")
        states = np.empty((times.size, len(self._field.names)))
        sigma2 = np.zeros(times.size)
        for index, moment in enumerate(times):
            _, stop, phase, solution, state = next(s for s in reversed(self._segments) if s[0] <= moment) \
                if moment > 0 else self._segments[0]
            states[index] = solution(min(moment, stop)) if solution is not None else state
            if phase == "eos":
                sigma2[index] = self._field.sigma2(states[index])
        columns = _columns(self._field, states, sigma2)
        if np.ndim(t) == 0:
            return {k: float(v[0]) for k, v in columns.items()}
        return columns

    def to_dict(self) -> dict:
        out = {"model": self.model, "parameterization": self.parameterization, "parameters": self.parameters,
               "initial": self.initial, "time": self.time, "step": self.step, "threshold": self.threshold,
               "rtol": self.rtol, "complete": self.complete, "reason": self.reason,
               "events": [e.to_dict() for e in self.events], "projected_start": self.projected_start,
               "final": self.final, "max_constraint_violation": self.max_constraint_violation,
               "trajectory": self.trajectory}
        if self.gd is not None:
            out.update(gd=self.gd, gd_comparison=self.gd_comparison)
        return out

    def plot(self, path=None):
        """The figure of ``sharpness central-flow --plot``: state, sharpness and loss (flow, predicted loss, and GD
        when compared) against time; written to ``path`` if given, else returned (a matplotlib figure)."""
        from .plots import central_flow_figure

        return central_flow_figure(self.to_dict(), path)

    def __repr__(self) -> str:
        events = ", ".join(f"{e.type}@{e.time:.6g}" for e in self.events) or "no events"
        return (f"CentralFlow({self.model}, t = {self.final['time']:g}: {events}; final phase {self.final['phase']}, "
                f"sharpness {self.final['sharpness']:.10g})")


def _columns(flow_field: _Field, states: np.ndarray, sigma2: np.ndarray) -> dict:
    sharpness = np.array([flow_field.sharpness(x) for x in states])
    loss = np.array([flow_field.loss(x) for x in states])
    columns = {name: states[:, i] for i, name in enumerate(flow_field.names)}
    return {**columns, "sharpness": sharpness, "sigma2": sigma2, "loss": loss,
            "predicted_loss": loss + sigma2 / flow_field.step}


def central_flow(model, time, values: Optional[Mapping] = None, *, init: Optional[Mapping] = None,
                 parameterization: Optional[str] = None, rtol: float = 1e-10, atol: float = 1e-13,
                 samples: int = DEFAULT_SAMPLES, gd: bool = False, window=None) -> CentralFlow:
    r"""Integrate the central flow of ``model`` for ``time`` GD steps (module docstring).

    Parameters
    ----------
    model:
        a registered name, a model file's path or an :class:`analysis.DerivedModel`.
    time:
        the horizon in GD steps (positive).
    values:
        the model's parameter values ``{name: value}`` (defaults filled in), as everywhere in the toolkit.
    init:
        the start ``{state name: value}`` (defaults: the model's).
    parameterization:
        for a name or path (default the model's first).
    rtol, atol:
        DOP853's tolerances (``rtol <= 1e-10`` keeps states to about 1e-8 relative over long runs; the tests check
        that halving it moves the states by less than 1e-9).
    samples:
        uniform times of ``trajectory`` (events are added).
    gd:
        also run GD from the same start for ``floor(time)`` steps and compare (``gd``, ``gd_comparison``).
    window:
        ``(A, B)``: the GD steps compared (default the second half, ``(time/2, time)``).

    Returns
    -------
    CentralFlow

    Raises
    ------
    UnsupportedOptionError
        under a momentum optimizer (central flows are derived for GD only).
    DomainError, UnknownNameError, MissingValueError
        bad values, time, start or window.
    """
    from scipy.integrate import solve_ivp

    derived = model if isinstance(model, DerivedModel) else DerivedModel(model, parameterization)
    try:
        time = float(time)
    except (TypeError, ValueError):
        raise DomainError("time", time, "a positive number of GD steps") from None
    if not (np.isfinite(time) and time > 0):
        raise DomainError("time", time, "a positive number of GD steps")
    if not (0 < rtol < 1e-3) or not atol > 0:
        raise DomainError("rtol", rtol, "a number in (0, 1e-3), with atol > 0")
    if int(samples) < 2:
        raise DomainError("samples", samples, "at least 2")
    bound = derived.model.bind_values(value_mapping(values))
    flow_field = _Field(derived, bound)
    start = _initial_state(derived, flow_field, init, bound)
    names = flow_field.names
    as_dict = lambda x: {n: float(v) for n, v in zip(names, x)}  # noqa: E731
    threshold = flow_field.threshold
    options = {"method": "DOP853", "rtol": rtol, "atol": atol, "dense_output": True, "max_step": MAX_STEP}

    events, segments = [], []
    projected = None
    x = start.copy()
    if flow_field.sharpness(x) > threshold * (1 + ON_CONSTRAINT):
        before = flow_field.sharpness(x)
        x = _project(flow_field, x, options)
        projected = {"from": as_dict(start), "to": as_dict(x), "sharpness_before": before}
    t, complete, reason = 0.0, True, ""
    phase = "eos" if abs(flow_field.sharpness(x) / threshold - 1) <= ON_CONSTRAINT and flow_field.sigma2(x) > 0 \
        else "gradient"
    if phase == "eos":
        x = flow_field.onto_constraint(x)
    segments.append((0.0, 0.0, phase, None, x.copy()))
    while t < time:
        if len(segments) > MAX_PHASES:
            complete, reason = False, f"the flow switched phase more than {MAX_PHASES} times (chattering) by t = {t:g}"
            break
        if phase == "eos":
            second = flow_field.second_eigenvalue(x)
            if second >= threshold * (1 - SECOND_CRITICAL):
                events.append(FlowEvent("multiple-critical", t, as_dict(x)))
                complete, reason = False, _multiple_reason(t)
                break
            leave = lambda _, y: flow_field.sigma2(y)  # noqa: E731
            leave.terminal, leave.direction = True, -1
            critical = lambda _, y: flow_field.second_eigenvalue(y) - threshold  # noqa: E731
            critical.terminal, critical.direction = True, 1
            watched = [leave] + ([critical] if flow_field._second is not None else [])
            solution = solve_ivp(flow_field.eos_rhs, (t, time), x, events=watched, **options)
        else:
            enter = lambda _, y: flow_field.sharpness(y) - threshold  # noqa: E731
            enter.terminal, enter.direction = True, 1
            watched = [enter]
            solution = solve_ivp(flow_field.gradient_rhs, (t, time), x, events=watched, **options)
        if solution.status == -1 or not np.all(np.isfinite(solution.y[:, -1])):
            segments.append((t, float(solution.t[-1]), phase, solution.sol, None))
            complete, reason = False, f"the integration failed at t = {solution.t[-1]:g}: {solution.message}"
            break
        end = float(solution.t[-1])
        segments.append((t, end, phase, solution.sol, None))
        t, x = end, solution.y[:, -1].copy()
        if solution.status != 1:
            break
        fired = next(i for i, times in enumerate(solution.t_events) if len(times))
        x = solution.y_events[fired][0].copy()
        if phase == "gradient":
            x = flow_field.onto_constraint(x)
            events.append(FlowEvent("enter-eos", t, as_dict(x)))
            phase = "eos"
        elif fired == 0:
            events.append(FlowEvent("leave-eos", t, as_dict(x)))
            phase = "gradient"
        else:
            events.append(FlowEvent("multiple-critical", t, as_dict(x)))
            complete, reason = False, _multiple_reason(t)
            break
    result = CentralFlow(derived.name, derived.parameterization, dict(zip(flow_field.compiled.parameter_names,
                                                                          map(float, flow_field.params))),
                         as_dict(start), time, flow_field.step, threshold, rtol, events, projected, {}, {}, complete,
                         reason, 0.0, _segments=segments, _field=flow_field)
    end = segments[-1][1]
    times = np.union1d(np.linspace(0.0, end, int(samples)), [e.time for e in events if e.time <= end])
    columns = result.at(times)
    result.trajectory = {"time": times.tolist(), **{k: np.asarray(v).tolist() for k, v in columns.items()}}
    last = result.at(end)
    result.final = {**last, "time": end, "phase": segments[-1][2]}
    on_eos = np.asarray(columns["sigma2"]) > 0
    if on_eos.any():
        result.max_constraint_violation = float(np.max(np.abs(np.asarray(columns["sharpness"])[on_eos] / threshold - 1)))
    if gd:
        result.gd, result.gd_comparison = _compare_with_gd(result, start, window)
    return result


def _multiple_reason(t: float) -> str:
    return (f"at t = {t:g} the top two Hessian eigenvalues are both at 2/eta: the multiplier is then a matrix "
            "(a semidefinite complementarity problem, Cohen et al. 2025, Sec. 3), which is not computed for the "
            "derived models (numerics.nn.central_flow solves it for networks); the flow stops there")


def _initial_state(derived, flow_field: _Field, init, bound) -> np.ndarray:
    from analysis.evaluate import realizable

    initial = derived.model.bind_initial(dict(init or {}), bound)
    state = np.array([float(initial[s]) for s in flow_field.compiled.state_symbols])
    if not np.all(np.isfinite(state)):
        raise DomainError("the initial state", dict(zip(flow_field.names, state)), "finite")
    if realizable(derived.derivation, initial, bound) is False:
        raise DomainError("the initial state", dict(zip(flow_field.names, state)),
                          "realizable (a state some parameters of the network have)")
    if not np.isfinite(flow_field.sharpness(state)):
        raise DomainError("the initial state", dict(zip(flow_field.names, state)), "a state with a finite sharpness")
    return state


def _project(flow_field: _Field, x, options) -> np.ndarray:
    r"""From :math:`S(x) > 2/\eta` onto :math:`S = 2/\eta` along :math:`-K\nabla S`, parametrised by the drop of
    :math:`S` (:math:`dx/d\tau = -K\nabla S/(\nabla S^\top K\nabla S)`, so :math:`S = S_0 - \tau` exactly), then
    Newton onto the constraint."""
    from scipy.integrate import solve_ivp

    def descent(_, y):
        grad = flow_field._grad_sharpness(y)
        direction = flow_field._metric(y) @ grad
        return -direction / (grad @ direction)

    drop = flow_field.sharpness(x) - flow_field.threshold
    solution = solve_ivp(descent, (0.0, drop), x, **{**options, "dense_output": False})
    if solution.status != 0 or not np.all(np.isfinite(solution.y[:, -1])):
        raise DomainError("the initial state", dict(zip(flow_field.names, x)),
                          f"a start from which S decreases to 2/eta along -grad S ({solution.message})")
    return flow_field.onto_constraint(solution.y[:, -1])


def _relative(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), np.finfo(float).tiny)


def _compare_with_gd(result: CentralFlow, start: np.ndarray, window):
    """GD from ``start`` for ``floor(time)`` steps; the flow at ``t + 1/2`` against ``(w_t + w_{t+1})/2`` for the
    steps ``t`` of the window."""
    flow_field = result._field
    steps = int(np.floor(result.final["time"]))
    if steps < 2:
        raise DomainError("time", result.time, "at least 2 GD steps to compare with GD")
    low, high = (steps / 2, steps) if window is None else (float(window[0]), float(window[1]))
    if not (0 <= low < high <= steps):
        raise DomainError("window", f"{window[0]}:{window[1]}", f"A:B with 0 <= A < B <= {steps}")
    compiled = flow_field.compiled
    kernels = compiled.kernels_for(steps)
    with np.errstate(all="ignore"):
        states, _, diverged_at = kernels.generated_trajectory(start, flow_field.params, steps, 1, 2)
    finite = np.isfinite(states).all(axis=1)
    sharpness = np.array([flow_field.sharpness(x) if ok else np.nan for x, ok in zip(states, finite)])
    loss = np.array([flow_field.loss(x) if ok else np.nan for x, ok in zip(states, finite)])
    every = max(1, steps // 4000)
    gd = {"steps": steps, "diverged_at": None if diverged_at < 0 else int(diverged_at), "every": every,
          "trajectory": {"step": list(range(0, steps + 1, every)),
                         **{n: states[::every, i].tolist() for i, n in enumerate(flow_field.names)},
                         "sharpness": sharpness[::every].tolist(), "loss": loss[::every].tolist()}}
    indices = np.arange(int(np.ceil(low)), int(np.floor(high)))  # t with t + 1 <= high
    indices = indices[indices + 1 <= steps]
    comparison = {"window": [low, high], "steps_compared": int(indices.size)}
    if diverged_at >= 0 or indices.size == 0:
        comparison["note"] = "GD diverged: no comparison" if diverged_at >= 0 else "no whole two-step pair in the window"
        return gd, comparison
    flow = result.at(indices + 0.5)
    averaged = (states[indices] + states[indices + 1]) / 2
    flow_states = np.column_stack([flow[n] for n in flow_field.names])
    state_error = np.linalg.norm(averaged - flow_states, axis=1) / np.maximum(np.linalg.norm(flow_states, axis=1),
                                                                           np.finfo(float).tiny)
    sharpness_error = _relative((sharpness[indices] + sharpness[indices + 1]) / 2, flow["sharpness"])
    averaged_loss = (loss[indices] + loss[indices + 1]) / 2
    # A relative error of a loss at round-off (both runs at a minimum) says nothing: compared where the predicted
    # loss is above LOSS_FLOOR times the starting loss.
    resolved = np.asarray(flow["predicted_loss"]) > LOSS_FLOOR * max(loss[0], np.finfo(float).tiny)
    comparison["loss_steps_compared"] = int(resolved.sum())
    loss_error = _relative(averaged_loss[resolved], flow["predicted_loss"][resolved])
    flow_loss_error = _relative(averaged_loss[resolved], flow["loss"][resolved])
    for name, errors in (("state", state_error), ("sharpness", sharpness_error), ("loss", loss_error),
                         ("flow_loss", flow_loss_error)):
        comparison[f"max_rel_error_{name}"] = float(np.max(errors)) if errors.size else None
        comparison[f"median_rel_error_{name}"] = float(np.median(errors)) if errors.size else None
    comparison["note"] = ("flow at t + 1/2 against GD's two-step averages (w_t + w_{t+1})/2 for t in the window; "
                          "loss: GD's averaged loss against the predicted loss L + sigma2/eta (flow_loss: against L), where the predicted loss is above 1e-10 of the starting loss (loss_steps_compared; "
                          "none: null)")
    return gd, comparison
