r"""The public object of the numerical layer: a derived map bound to parameter values.

>>> from numerics import IteratedMap
>>> cubic = IteratedMap("uv-eos", values={"k": 1.2})
>>> trajectory = cubic.run(500)
>>> trajectory.outcome
Outcome(name='periodic', period=2)
>>> round(cubic.lyapunov(steps=20000).exponents[0], 3)    # half the log |multiplier| of the period-2 orbit
-0.193

One object binds the compiled map, its parameter values and a default initial state (as DynamicalSystems.jl's
``DeterministicIteratedMap``); every measure is a method returning a typed result with ``.to_dict()`` (the JSON
that the command line prints) and, where a figure exists, ``.plot(ax=None)``. Outcomes and regimes come from the
one classifier of :mod:`numerics.classify`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from analysis import DerivedModel
from analysis.errors import DomainError, UserInputError
from analysis.values import to_count, to_floats, value_mapping

from . import budget
from .classify import (OUTCOMES, TAIL, Outcome, batch_statistics, classify_orbits, divergence_start, label_regimes,
                       lane_outcome, roundoff_sensitive, roundoff_stretch)
from .compile import LANE_BLOCK, compile_model
from .axis import Axis

# Labelled at every step up to this many steps (fast phenomena such as a catapult last a few steps and would
# vanish from a thinned series); longer runs are labelled on the thinned series.
FULL_RESOLUTION_REGIME_STEPS = 2_000_000
# The outcome of a run is decided on its last half, at most this many steps (periods up to half of it, and the
# Lyapunov estimate over it); at least the last numerics.classify.TAIL steps.
RUN_WINDOW = 65_536
# Runs that pass through a chaotic transient are rerun at higher precision (mpmath kernels) where cheap, to measure
# how much their final numbers depend on round-off.
ROUNDOFF_RERUN_WORK = 200_000  # steps x dimension (about 2 s per precision in mpmath)
ROUNDOFF_DIGITS = (30, 50)
# Long work runs in chunks of about this many map steps (lanes x steps): between chunks ``progress(done, total)``
# is called and Ctrl-C (KeyboardInterrupt) takes effect, which it cannot inside a compiled kernel.
CHUNK_STEPS = 5_000_000
# Lane-steps per call of the parallel orbit kernel between progress reports: about 0.1 s of work at its rate
# (~2e9 lane-steps/s here), so that the calls' start-up (threads, buffers) stays a few per cent of the time.
GRID_CHUNK_STEPS = 200_000_000
# The outcome names indexed by code, as Python strings (an object array: indexing a numpy unicode array and
# converting back costs 5x more, 0.4 ms for an orbit diagram of 10,000 lanes)
_OUTCOME_NAMES = np.array(OUTCOMES, dtype=object)


def varying_map(model, vary: str, values: Optional[Mapping] = None, *, max_memory=None,
                force: bool = False) -> "IteratedMap":
    """The map of a measure that varies parameter ``vary`` itself (an orbit diagram, a cascade): ``vary`` need
    not be given in ``values`` (it is bound to 1 until the measure sets it)."""
    bound = IteratedMap.__new__(IteratedMap)
    model = model if isinstance(model, DerivedModel) else DerivedModel(model)
    model.model.parameter(vary)
    bound._bind(model, values, (vary,), max_memory, force)
    return bound


def _evaluate(function, states: np.ndarray, params: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        value = function(*states.T, *params)
    return np.broadcast_to(np.asarray(value, dtype=float), states.shape[:1]).copy()


class _Result:
    """Shared behaviour of measure results: JSON via ``to_dict`` and a one-screen ``repr``."""

    def to_dict(self) -> dict:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _axes(self, ax):
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        return ax


@dataclass
class Trajectory(_Result):
    """A run of the map (:meth:`IteratedMap.run`); ``to_dict()`` is ``sharpness run --json``.

    Attributes
    ----------
    model, parameterization : str
        The model and its parameterization.
    parameters : dict
        ``{name: float}``, the parameter values.
    initial : dict
        ``{state name: float}``, the initial state.
    steps, every : int
        Steps run, and the thinning of ``trajectory`` (every ``every``-th step is kept).
    threshold : float
        The optimizer's linear stability threshold on the sharpness at these values
        (:func:`analysis.optimizers.model_threshold`: :math:`2/\\eta` for GD).
    final : dict
        The final state by name, with its ``sharpness`` and ``loss``.
    outcome : Outcome
        The classified end of the run (:class:`numerics.classify.Outcome`).
    regimes : list of Regime
        The regimes in order (:class:`numerics.classify.Regime`), labelled every ``regime_resolution`` steps.
    regime_resolution : int
        Steps between the samples the regimes were labelled on.
    trajectory : dict
        Per-sample lists: ``step``, each state variable, ``sharpness``, ``loss``.
    optimizer : str
        ``gd``, ``heavy-ball`` or ``nesterov``; in JSON only when not ``gd``.
    threshold_name : str
        What outputs call the threshold: its formula (``2/eta``, ``2*(beta + 1)/eta``) or ``threshold`` where it
        is a number (:func:`analysis.optimizers.threshold_name`); not in JSON.
    """

    model: str
    parameterization: str
    parameters: dict
    initial: dict
    steps: int
    every: int
    threshold: float
    final: dict
    outcome: Outcome
    regimes: list
    regime_resolution: int
    trajectory: dict
    optimizer: str = "gd"  # the threshold is the optimizer's own (analysis.optimizers); "optimizer" in JSON if not gd
    threshold_name: str = "2/eta"

    @property
    def gap(self) -> float:
        """The threshold minus the final sharpness: how far below the threshold the run ends."""
        return self.threshold - self.final["sharpness"]

    def to_dict(self) -> dict:
        return {"model": self.model, "parameterization": self.parameterization, "parameters": self.parameters,
                "initial": self.initial, "steps": self.steps, "every": self.every, "threshold": self.threshold,
                "final": self.final, "outcome": self.outcome.to_dict(), "gap": self.gap,
                "regimes": [r.to_dict() for r in self.regimes],
                "regime_resolution": self.regime_resolution, "trajectory": self.trajectory,
                **({"optimizer": self.optimizer} if self.optimizer != "gd" else {})}

    def plot(self, ax=None):
        """Sharpness against step with the threshold and the regimes shaded."""
        from .plots import draw_trajectory

        return draw_trajectory(self._axes(ax), self.to_dict(), self.threshold_name)

    def __repr__(self) -> str:
        regimes = ", ".join(f"{r.name} {r.start}-{r.end}" for r in self.regimes)
        return (f"Trajectory({self.model}, {self.steps} steps: outcome {self.outcome}, final sharpness "
                f"{self.final['sharpness']:.6g} ({self.threshold_name} = {self.threshold:.6g}); regimes: {regimes})")


@dataclass
class OrbitDiagram(_Result):
    """The last ``keep`` states for each value of the varied parameter, with each orbit's outcome."""

    model: str
    vary: str
    values: np.ndarray
    state: list
    orbits: np.ndarray
    diverged: np.ndarray
    outcomes: list = field(default_factory=list)
    periods: list = field(default_factory=list)

    def to_dict(self, arrays: bool = False) -> dict:
        """The JSON of ``sharpness bifurcation --json``; ``arrays``: numpy arrays in place of the lists of
        ``values``, ``diverged`` and ``orbits`` (for :func:`numerics.serialize.dumps_json`, which writes them in
        bulk, the same text)."""
        listed = (lambda a: a) if arrays else (lambda a: a.tolist())
        return {"model": self.model, "vary": self.vary, "values": listed(self.values), "state": self.state,
                "diverged": listed(self.diverged), "orbits": listed(self.orbits), "outcomes": self.outcomes,
                "periods": self.periods}

    def plot(self, ax=None, flips=()):
        from .plots import draw_orbits

        return draw_orbits(self._axes(ax), self, flips)


@dataclass
class Basin(_Result):
    """Outcome (codes into :data:`numerics.classify.OUTCOMES`), period and final sharpness over a grid of
    initial states; for a Gram model also ``realizable``, whether any network has each initial state
    (:func:`analysis.evaluate.realizable`: ``True``/``False``/``None`` undecided), since the map also iterates
    states no parameters have, and their outcome is the map's, not a network's."""

    model: str
    axes: tuple
    grids: tuple
    threshold: float
    classes: np.ndarray
    period: np.ndarray
    final_sharpness: np.ndarray
    realizable: Optional[np.ndarray] = None

    @property
    def counts(self) -> dict:
        return {name: int((self.classes == i).sum()) for i, name in enumerate(OUTCOMES)}

    @property
    def unrealizable(self) -> int:
        """How many initial states no parameters realize (0 for a coordinate model)."""
        return 0 if self.realizable is None else int((self.realizable == False).sum())  # noqa: E712 - object array

    def to_dict(self) -> dict:
        payload = {"model": self.model, "axes": list(self.axes), "grids": [g.tolist() for g in self.grids],
                   "threshold": self.threshold, "classes": list(OUTCOMES), "class": self.classes.tolist(),
                   "period": self.period.tolist(), "final_sharpness": self.final_sharpness.tolist(),
                   "counts": self.counts}
        if self.realizable is not None:
            payload["realizable"] = self.realizable.tolist()
            payload["unrealizable"] = self.unrealizable
        return payload

    def plot(self, ax=None):
        from .plots import draw_basin

        return draw_basin(self._axes(ax), self)


@dataclass
class LyapunovSpectrum(_Result):
    """Lyapunov exponents (largest first) with batch-means standard errors, or the divergence step."""

    model: str
    state: list
    steps: int
    transient: int
    exponents: Optional[list]
    stderr: Optional[list]
    diverged_at: Optional[int]
    final: Optional[dict] = None

    def to_dict(self) -> dict:
        payload = {"model": self.model, "state": self.state, "steps": self.steps, "exponents": self.exponents,
                   "stderr": self.stderr, "diverged_at": self.diverged_at}
        if self.final is not None:
            payload["final"] = self.final
        if self.diverged_at is not None:
            payload["outcome"] = {"name": "diverged", "step": self.diverged_at}
        return payload


class IteratedMap:
    r"""The derived GD map of a model, compiled and bound to parameter values.

    Parameters
    ----------
    model:
        a :class:`analysis.DerivedModel` (``load_model("uv", "mup")``), or a name or path (first
        parameterization; pass a DerivedModel for another).
    values:
        ``{parameter name: value}``, apart from the options (so that a parameter may be called anything):
        floats, ints, SymPy numbers or numeric text. Unknown names raise
        :class:`~analysis.errors.UnknownNameError`, missing ones :class:`~analysis.errors.MissingValueError`
        (both list the expected names), out-of-domain ones :class:`~analysis.errors.DomainError`.

    Attributes
    ----------
    model: the :class:`analysis.DerivedModel`; compiled: its kernels; values: ``{symbol: exact value}``;
    parameters: ``{name: float}``; threshold: the optimizer's linear stability threshold on the sharpness
    (:func:`analysis.optimizers.model_threshold`; :math:`2/\eta` for GD).
    """

    def __init__(self, model, values: Optional[Mapping] = None, *, max_memory=None, force: bool = False):
        self._bind(model, values, (), max_memory, force)

    def _bind(self, model, values, placeholders, max_memory, force) -> None:
        self.model = model if isinstance(model, DerivedModel) else DerivedModel(model)
        self.values = self.model.model.bind_values(value_mapping(values), placeholders=placeholders)
        self.compiled = compile_model(self.model)
        self.max_memory, self.force = max_memory, force
        self._realizable = {}  # initial state -> analysis.evaluate.realizable's verdict at these values
        self.parameters = {name: float(v) for name, v in zip(self.compiled.parameter_names,
                                                                  self.compiled.parameter_vector(self.values))}
        self._params = self.compiled.parameter_vector(self.values)
        with np.errstate(all="ignore"):
            step = float(self.compiled.step_size(*self._params))
        if not (np.isfinite(step) and step > 0 and np.isfinite(2.0 / step)):
            raise DomainError("the step", step, "a positive number whose threshold 2/step is finite in float64")
        # The optimizer's own threshold, derived (DerivedModel.threshold: 2/step for GD).
        self.threshold = float(self.compiled.threshold_size(*self._params))

    @property
    def value_map(self) -> dict:
        """``{parameter name: exact value}``: what ``values=`` would rebuild this map with."""
        return {p.name: self.values[p.symbol] for p in self.model.model.parameters}

    def with_values(self, changes: Mapping) -> "IteratedMap":
        """A copy with the parameter values in ``changes`` (``{name: value}``) changed."""
        return IteratedMap(self.model, {**self.value_map, **value_mapping(changes)}, max_memory=self.max_memory,
                           force=self.force)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:g}" for k, v in self.parameters.items())
        return f"IteratedMap({self.model.name!r} ({self.model.parameterization}), {values})"

    # ------------------------------------------------------------------------------------------------ state
    def initial_state(self, init: Optional[dict] = None) -> np.ndarray:
        r"""The initial state as floats in state order: ``init`` (``{name: value}``) over the model's defaults.

        Gram models: a state that no parameter configuration realizes (:func:`analysis.evaluate.realizable`; for
        ``uv`` that is :math:`\lambda < 2\kappa|f|`) is refused."""
        from analysis.evaluate import realizable

        bound = self.model.model.bind_initial(init, self.values)
        state = np.array([float(bound[s]) for s in self.compiled.state_symbols])
        if not np.all(np.isfinite(state)):
            raise DomainError("the initial state", dict(zip(self.compiled.state_names, state)), "finite")
        key = tuple(bound.items())
        if key not in self._realizable:  # memoised per process too; here without computing the derivation's key
            self._realizable[key] = realizable(self.model.derivation, bound, self.values)
        if self._realizable[key] is False:
            shown = ", ".join(f"{n} = {v:g}" for n, v in zip(self.compiled.state_names, state))
            raise DomainError("the initial state", shown, "realizable: no parameters of the network have this "
                              "state (their Gram matrix would not be positive semidefinite)")
        return state

    def _check_lanes(self, lanes: int, steps: int, keep: int, what: str, inputs_per_lane: int = 0,
                     kept: Optional[int] = None) -> None:
        """Refuse (budget) ``lanes`` orbits of ``steps`` steps keeping ``keep`` states each: the kept states, the
        starts and parameters of each lane (the kernel's inputs), the classification (4 numbers per lane) and
        ``inputs_per_lane`` floats of other inputs per lane; and the ``kept`` (default ``keep``) states that the
        kernel classifies, of a block of lanes per core."""
        d = self.compiled.dimension
        per_lane = 8 * ((keep + 1) * d + len(self._params) + 4 + inputs_per_lane)
        blocks = min(lanes, (os.cpu_count() or 1) * LANE_BLOCK) * 8 * (keep if kept is None else kept) * d
        budget.check_memory(lanes * per_lane + blocks, what,
                            f"at most {int(budget.memory_budget(self.max_memory) // per_lane):,} lanes fit",
                            self.max_memory)
        budget.check_work(lanes * steps, what, self.force)

    def _grid_states(self, starts: np.ndarray, params: np.ndarray, steps: int, keep: int, what: str, progress=None,
                     kept: Optional[int] = None, along: Optional[int] = None):
        """Last ``keep`` of ``steps`` states of every lane and the classification of its last ``kept`` (default
        ``keep``) states (:meth:`numerics.compile.CompiledModel.classified_orbits`: the one classifier, inside the
        orbit kernel's pass), after budget checks; in chunks of steps when long. ``along``: the lanes differ in
        that parameter only, and ``params`` holds its values (the others are this map's)."""
        lanes, d = starts.shape
        kept = keep if kept is None else kept
        self._check_lanes(lanes, steps, keep, what, kept=kept)
        starts = np.ascontiguousarray(starts, dtype=float)
        params = np.ascontiguousarray(params, dtype=float)
        lane_params = (params,) if along is None else (params, self._params)
        chunk = max(kept, GRID_CHUNK_STEPS // lanes)
        kernels = self.compiled.kernels_for(lanes * steps)
        advance = kernels.generated_orbits if along is None else getattr(kernels, f"generated_orbits_along_{along}")
        done = 0
        while steps - done > chunk + kept:  # the last chunk keeps the states; earlier ones only advance
            starts = np.ascontiguousarray(advance(starts, *lane_params, chunk, 1)[:, -1, :])
            done += chunk
            if progress:
                progress(done, steps)
        orbits, classified = self.compiled.classified_orbits(starts, params if along is None else lane_params,
                                                             steps - done, keep, kept, kernels, along)
        if progress and done:
            progress(steps, steps)
        return orbits, classified

    def _trajectory(self, start, steps: int, every: int, tail: int, progress=None):
        """The trajectory kernel over ``steps`` steps, in chunks (multiples of ``every``) when long: the thinned
        rows, the last ``tail`` states and the divergence step (-1 if none)."""
        kernel = self.compiled.kernels_for(steps).generated_trajectory
        if steps <= CHUNK_STEPS:
            return kernel(start, self._params, steps, every, tail)
        chunk = max(every, CHUNK_STEPS // every * every)
        rows, state, done, kept = [start[None]], start, 0, None
        while True:
            length = steps - done if steps - done < chunk + every else chunk
            out, tail_states, diverged_at = kernel(state, self._params, length, every, tail)
            rows.append(out[1:])
            # A chunk shorter than the tail returns its own start too: the tail continues the previous chunk's.
            finite_steps = diverged_at - 1 if diverged_at >= 0 else length
            if kept is not None and len(tail_states) == finite_steps + 1:
                tail_states = np.concatenate([kept[:-1], tail_states])[-tail:]
            kept = tail_states
            if diverged_at >= 0:
                return np.concatenate(rows), tail_states, done + diverged_at
            done += length
            if progress:
                progress(done, steps)
            if done >= steps:
                return np.concatenate(rows), tail_states, -1
            state = tail_states[-1]

    # ------------------------------------------------------------------------------------------------ measures
    def run(self, steps: int, init: Optional[dict] = None, every: int = 1, progress=None) -> Trajectory:
        """Iterate ``steps`` times from ``init`` (defaults: the model's), keeping every ``every``-th state.

        The outcome is classified on the last :data:`numerics.classify.TAIL` states, the regimes are labelled at
        full resolution up to :data:`FULL_RESOLUTION_REGIME_STEPS` steps. ``progress(done, total)`` is called
        between chunks of :data:`CHUNK_STEPS` steps."""
        steps, every = to_count("steps", steps), to_count("every", every)
        start = self.initial_state(init)
        d = self.compiled.dimension
        rows = steps // every + 1
        regime_every = 1 if steps <= FULL_RESOLUTION_REGIME_STEPS else every
        # Arrays per kept row: the state, sharpness, loss and the JSON lists (about 4x the raw floats).
        needed = rows * (d + 2) * 8 * 5 + (steps + 1) * (d + 3) * 8 * (regime_every == 1 and every > 1)
        budget.check_memory(needed, f"a run of {steps:,} steps keeping every {every}",
                            "thin it with {every} or more", self.max_memory,
                            every=max(every + 1, int(np.ceil(needed / budget.memory_budget(self.max_memory) * every))))
        budget.check_work(steps * (1 + (regime_every == 1 and every > 1)), f"a run of {steps:,} steps", self.force)
        params = self._params
        tail = min(steps, max(TAIL, min(steps // 2, RUN_WINDOW))) + 1
        # every > steps keeps only the initial state; the kernel needs an int64, so pass at most steps + 1.
        thinned, tail_states, diverged_at = self._trajectory(start, steps, min(every, steps + 1), tail, progress)
        valid = thinned[np.isfinite(thinned).all(axis=1)]
        sharpness = _evaluate(self.compiled.sharpness_numpy, valid, params)
        loss = _evaluate(self.compiled.loss_numpy, valid, params)
        if regime_every == every:
            full = valid
        else:
            full = self.compiled.kernels_for(steps).generated_trajectory(start, params, steps, 1, tail)[0]
            full = full[np.isfinite(full).all(axis=1)]
        regime_sharpness = sharpness if full is valid else _evaluate(self.compiled.sharpness_numpy, full, params)
        regime_loss = loss if full is valid else _evaluate(self.compiled.loss_numpy, full, params)
        scale = 1 + np.abs(full).max(axis=1)
        moving = np.concatenate([[True], np.abs(np.diff(full, axis=0)).max(axis=1) > 1e-9 * scale[1:]])
        # log R_ii of Benettin's frame at every step, along the run's own states: the outcome's Lyapunov window
        # (column 0) and the search for a chaotic transient (every column) share it.
        logs_offset = 0
        if regime_every == 1:
            logs = self.compiled.stretch_sums(full[None], params[None], 1, d)[0]
        else:  # thinned: only the stored tail is at full resolution
            logs = self.compiled.stretch_sums(tail_states[None], params[None], 1, d)[0]
            logs_offset = (diverged_at if diverged_at >= 0 else steps + 1) - len(tail_states)

        def window_sums(orbits, _params, batch):
            count = orbits.shape[1] - 1
            return logs[len(logs) - count:].reshape(1, -1, batch, d).sum(axis=2)

        classified = classify_orbits(tail_states[None], [diverged_at >= 0], window_sums, params[None])
        outcome = lane_outcome(classified, 0, diverged_at if diverged_at >= 0 else None)
        last = tail_states[-1]
        final = self._final(last)
        bounded = divergence_start(regime_loss, regime_sharpness, self.threshold, diverged_at >= 0)
        bounded = len(logs) if bounded is None else max(0, bounded * regime_every - logs_offset)
        transient = roundoff_stretch(logs[:bounded])
        if transient is not None:
            transient["window"] = [s + logs_offset for s in transient["window"]]
            measured = self._roundoff_spread(start, steps, final, diverged_at)
            outcome = dataclasses.replace(outcome, roundoff_sensitive=roundoff_sensitive(measured, final),
                                          roundoff={**transient, **measured})
        trajectory = {"step": [i * every for i in range(len(valid))]}  # Python ints: every may exceed int64
        trajectory.update({name: valid[:, i].tolist() for i, name in enumerate(self.compiled.state_names)})
        trajectory["sharpness"] = sharpness.tolist()
        trajectory["loss"] = loss.tolist()
        return Trajectory(
            model=self.model.name, parameterization=self.model.parameterization, parameters=dict(self.parameters),
            initial={n: float(v) for n, v in zip(self.compiled.state_names, start)}, steps=steps, every=every,
            threshold=self.threshold, final=final, outcome=outcome,
            regimes=label_regimes(regime_sharpness, regime_loss, self.threshold, regime_every, diverged_at, moving=moving),
            regime_resolution=regime_every, trajectory=trajectory, optimizer=self.model.optimizer,
            threshold_name=self.compiled.threshold_name)

    def _final(self, state: np.ndarray) -> dict:
        """The final state by name, with its sharpness and loss."""
        final = {name: float(v) for name, v in zip(self.compiled.state_names, state)}
        final["sharpness"] = float(_evaluate(self.compiled.sharpness_numpy, state[None, :], self._params)[0])
        final["loss"] = float(_evaluate(self.compiled.loss_numpy, state[None, :], self._params)[0])
        return final

    def _roundoff_spread(self, start: np.ndarray, steps: int, final: dict, diverged_at: int) -> dict:
        """How much the end of a run that passed through a chaotic transient depends on the arithmetic: the same run
        with the mpmath kernels at each of :data:`ROUNDOFF_DIGITS` digits, where cheap (up to
        :data:`ROUNDOFF_RERUN_WORK` steps x state dimension). A perturbed float64 start would not do: the
        transient amplifies what round-off seeds *during* the run (a transverse oscillation that had decayed below
        1e-16), which a start perturbation, contracted before the transient, does not reach. Returns
        ``{"precision_runs": [{"digits", "final" | "step"}], "final_spread" | "step_range"}`` (spreads over
        float64 and these runs)."""
        import mpmath
        import sympy as sp

        if steps * self.compiled.dimension > ROUNDOFF_RERUN_WORK:
            return {"precision_runs": [], "note": f"not rerun at higher precision: more than "
                                                  f"{ROUNDOFF_RERUN_WORK // self.compiled.dimension:,} steps"}
        runs = []
        for digits in ROUNDOFF_DIGITS:
            with mpmath.workdps(digits):
                values = [mpmath.mpf(sp.N(self.values[s], digits + 10)) for s in self.compiled.parameter_symbols]
                state, diverged = [mpmath.mpf(float(v)) for v in start], None
                largest = mpmath.mpf(np.finfo(float).max)  # as an mpf: no conversion per comparison
                for t in range(1, steps + 1):
                    state = self.compiled.step_mpmath(*state, *values)
                    # nan compares False and inf exceeds the largest float: both end the run, as overflow would
                    if not all(abs(v) <= largest for v in state):
                        diverged = t  # where float64 would overflow
                        break
            if diverged is None:
                runs.append({"digits": digits, "final": self._final(np.array([float(v) for v in state]))})
            else:
                runs.append({"digits": digits, "step": diverged})
        spread = {"precision_runs": runs}
        if diverged_at >= 0 or any("step" in run for run in runs):
            spread["step_range"] = [int(min(r.get("step", steps) for r in runs + [{"step": diverged_at}])),
                                    int(max(r.get("step", steps) for r in runs + [{"step": diverged_at}]))]
        finals = [final] * (diverged_at < 0) + [run["final"] for run in runs if "final" in run]
        if len(finals) > 1:
            with np.errstate(invalid="ignore"):
                spread["final_spread"] = {name: float(np.ptp([f[name] for f in finals])) for name in final}
        return spread

    def orbit_diagram(self, axis, steps: int = 2000, keep: int = 200, init: Optional[dict] = None,
                      progress=None) -> OrbitDiagram:
        """The last ``keep`` of ``steps`` states for each value of the parameter of ``axis`` (an
        :class:`~numerics.axis.Axis`, or ``(name, values)``; each value validated against the parameter's
        domain), all from ``init``; each orbit classified."""
        axis = Axis.of(axis)
        steps, keep = to_count("steps", steps), to_count("keep", keep)
        if keep > steps:
            raise DomainError("keep", keep, f"at most steps ({steps})")
        vary = axis.name
        parameter = self.model.model.parameter(vary)
        grid = to_floats(vary, axis.array, parameter.domain)
        start = self.initial_state(init)
        orbits, classified = self._grid_states(np.broadcast_to(start, (grid.size, start.size)), grid, steps, keep,
                                               f"an orbit diagram of {grid.size:,} values x {keep} kept states",
                                               progress, kept=max(keep, min(TAIL, steps)),
                                               along=self.compiled.parameter_names.index(vary))
        codes = classified["code"]
        return OrbitDiagram(self.model.name, vary, grid, list(self.compiled.state_names), orbits,
                            codes == OUTCOMES.index("diverged"), _OUTCOME_NAMES[codes].tolist(),
                            classified["period"].tolist())

    def basin(self, axes, steps: int = 2000, init: Optional[dict] = None, progress=None) -> Basin:
        """Outcome of GD from a grid of initial states: ``axes`` are two :class:`~numerics.axis.Axis` (or
        ``(name, values)``) of state variables, each of at least two increasing values; the other state variables
        start at ``init``/defaults."""
        steps = to_count("steps", steps)
        axes = [Axis.of(axis) for axis in axes]
        if len(axes) != 2 or axes[0].name == axes[1].name:
            raise UserInputError("basin needs exactly two axes over two different state variables")
        grids = []
        for axis in axes:
            self.model.model.state_variable(axis.name)
            grid = to_floats(axis.name, axis.array)  # the value bounds, as for a value given alone
            if grid.size < 2 or not np.all(np.diff(grid) > 0):
                raise DomainError(f"the axis of {axis.name}", axis.to_text(), "at least two increasing values")
            grids.append(grid)
        axes = [(axis.name,) for axis in axes]
        lanes = grids[0].size * grids[1].size
        # Before any allocation: the grid's own arrays (mesh, starts, parameters per lane) and the orbits.
        self._check_lanes(lanes, steps, 1, f"a basin of {lanes:,} initial states",
                          inputs_per_lane=2 + self.compiled.dimension + len(self._params), kept=min(TAIL, steps))
        mesh_x, mesh_y = np.meshgrid(*grids)
        start = np.tile(self.initial_state(init), (lanes, 1))
        start[:, self.compiled.state_names.index(axes[0][0])] = mesh_x.ravel()
        start[:, self.compiled.state_names.index(axes[1][0])] = mesh_y.ravel()
        params = np.tile(self._params, (lanes, 1))
        # Only the final state is kept (its sharpness); the last TAIL states are classified inside the kernel.
        orbits, classified = self._grid_states(start, params, steps, 1, f"a basin of {lanes:,} initial states",
                                               progress, kept=min(TAIL, steps))
        finite = classified["code"] != OUTCOMES.index("diverged")
        sharpness = np.where(finite, _evaluate(self.compiled.sharpness_numpy, orbits[:, -1, :], params.T), np.nan)
        from analysis.evaluate import realizable_states

        shape = mesh_x.shape
        realizable = realizable_states(self.model.derivation, dict(zip(self.compiled.state_symbols, start.T)),
                                       self.values)
        return Basin(self.model.name, (axes[0][0], axes[1][0]), tuple(grids), self.threshold,
                     classified["code"].reshape(shape), classified["period"].reshape(shape), sharpness.reshape(shape),
                     None if realizable is None else realizable.reshape(shape))

    def lyapunov(self, steps: int = 100_000, transient: int = 1000, batches: int = 20,
                 init: Optional[dict] = None, progress=None) -> LyapunovSpectrum:
        r"""All Lyapunov exponents by Benettin's method (Benettin et al. 1980; Shimada & Nagashima 1979):
        :math:`Q_{t+1} R_{t+1} = J(s_t) Q_t`, :math:`\lambda_i = \langle \log |R_{ii}| \rangle`, after
        ``transient`` steps; ``stderr`` is the standard error of the means of ``batches`` equal batches. A run
        that overflows (in the transient too) reports the step."""
        steps, batches = to_count("steps", steps), to_count("batches", batches, 2)
        transient = to_count("transient", transient, 0)
        if steps < batches:
            raise DomainError("steps", steps, f"at least batches ({batches})")
        d = self.compiled.dimension
        budget.check_memory(steps * d * 8, f"a Lyapunov run of {steps:,} steps",
                            f"at most {budget.memory_budget(self.max_memory) // (d * 8):,} steps fit",
                            self.max_memory)
        budget.check_work((steps * (d + 1)) + transient, f"a Lyapunov run of {transient + steps:,} steps", self.force)
        state = self.initial_state(init)
        total, done = transient + steps, 0
        kernels = self.compiled.kernels_for(transient + steps * (d + 1))
        common = dict(model=self.model.name, state=list(self.compiled.state_names), steps=steps, transient=transient)
        while transient - done > 0:  # the transient in chunks (progress and Ctrl-C between them)
            length = min(CHUNK_STEPS, transient - done)
            _, tail_states, diverged_at = kernels.generated_trajectory(state, self._params, length, length, 1)
            if diverged_at >= 0:
                return LyapunovSpectrum(**common, exponents=None, stderr=None, diverged_at=int(done + diverged_at))
            state, done = tail_states[-1], done + length
            if progress:
                progress(done, total)
        logs = np.empty((steps, d))
        frame = np.eye(d)
        measured = 0
        while measured < steps:
            length = min(CHUNK_STEPS // (d + 1), steps - measured)
            chunk_logs, final_state, diverged_at, frame = kernels.generated_tangent(
                state, self._params, 0, length, frame)
            if diverged_at >= 0:
                return LyapunovSpectrum(**common, exponents=None, stderr=None,
                                        diverged_at=int(transient + measured + diverged_at))
            logs[measured: measured + length] = chunk_logs
            state, measured = final_state, measured + length
            if progress:
                progress(transient + measured, total)
        per_batch = logs[: (steps // batches) * batches].reshape(batches, -1, d).mean(axis=1)
        exponents, stderr = batch_statistics(per_batch, axis=0)  # the classifier's estimator and error
        order = np.argsort(-exponents)
        return LyapunovSpectrum(**common, exponents=exponents[order].tolist(), stderr=stderr[order].tolist(),
                                diverged_at=None,
                                final={n: float(v) for n, v in zip(self.compiled.state_names, state)})
