r"""One classifier of orbits and one labeller of regimes, shared by every measure.

Outcomes (:func:`classify_orbits`; ``run``, ``basin``, ``sweep``, ``phase-diagram`` and ``bifurcation`` all call it
on the last states of every orbit: ``run`` on the last half of the run (at least :data:`TAIL`, at most
``numerics.iterated_map.RUN_WINDOW`` steps), the grid measures on the kept tail). One Lyapunov estimator: Benettin's
QR step (``stretch_frame`` in :mod:`numerics.compile`) along the stored states, averaged in :data:`BATCHES` batch
means (Flegal & Jones 2010), the same estimator and error as ``lyapunov``.

==============  ==============================================================================================
outcome         meaning (JSON keys besides ``name``)
==============  ==============================================================================================
converged       the last 3 states agree to ``tolerance`` relative to :math:`1 + \max|s|`
periodic        the smallest period :math:`p \le` ``max_period`` (half the window) with :math:`s_t = s_{t-p}`
                over the last :math:`2p + 1` states, same tolerance (``period``)
chaotic         no period up to ``max_period``, and the largest Lyapunov exponent over the window exceeds
                :data:`SIGMAS` = 3 standard errors of its batch means (``lyapunov``, ``lyapunov_error`` the standard
                error, ``window`` steps, ``max_period``)
undetermined    the data cannot decide (``reason``): fewer than :data:`TAIL` states, or no period up to
                ``max_period`` and an exponent whose error bar does not exclude zero (quasi-periodic, near a
                bifurcation, a window too short) or that is negative (a longer period, still converging); the
                estimate is given where measured
diverged        a state became non-finite (overflow) (``step``)
==============  ==============================================================================================

A run that passes through a *chaotic transient* (:func:`roundoff_stretch`: a stretch of the bounded part of the
run over which Benettin's frame grows perturbations by at least :data:`ROUNDOFF_AMPLIFICATION`, i.e. a positive
finite-time Lyapunov exponent there) carries ``roundoff`` in its outcome (``finite_time_lyapunov``, ``window``,
``log10_amplification``, and, where cheap, ``precision_runs`` at 30 and 50 digits with ``final_spread`` or
``step_range``) and ``roundoff_sensitive``: false only when the reruns at higher precision agree with float64 to
:data:`ROUNDOFF_AGREEMENT` (and diverge at the same step). A ``diverged`` step with ``roundoff_sensitive`` is
not reproducible in float64.

Regimes (:func:`label_regimes`; the phases of Kalra, He & Barkeshli, arXiv 2311.02076, Sec. 4, Fig. 2), on the
sharpness :math:`S_t`, the loss :math:`L_t` and the threshold of the optimizer, written :math:`2/\eta` below (GD's;
under momentum the optimizer's own, derived in :mod:`analysis.optimizers`, passed as ``threshold``). Trends are
taken on a centred moving average :math:`\bar S` over an even window :math:`w` of 8 to 32 samples (it cancels a
period-2 oscillation).

==========================  ==================================================================================
regime                      meaning
==========================  ==================================================================================
early sharpness reduction   :math:`\bar S` falls, below :math:`2/\eta`, before any rise
progressive sharpening      :math:`\bar S` rises while below :data:`NEAR` = 90 % of :math:`2/\eta`, by at least
                            :data:`MIN_TREND` = 2 % of :math:`2/\eta` over the regime (smaller trends are
                            intermediate saturation)
intermediate saturation     neither: flat (relative change per step below ``flat``), a trend below
                            :data:`MIN_TREND`, or converged (the state no longer moves)
edge of stability           :math:`\bar S \ge 0.9 \cdot 2/\eta`, the sharpness comes up to :math:`0.9 \cdot 2/\eta`
                            within the window, and the state oscillates (loss increments change sign, steps above
                            the convergence tolerance) (Cohen et al. 2021). A stationary periodic or chaotic orbit
                            at the threshold is this one regime from where it settles (the outcome tells which)
catapult                    a transient loss spike (Lewkowycz et al. 2020): after :math:`S_t` exceeded
                            :math:`2/\eta`, the loss rises above twice its running minimum and comes back below it,
                            with a lower sharpness than where the spike started, and the orbit is stable after
                            it (the sharpness stays below :math:`2/\eta` for :math:`w/2` samples); from the rise to
                            the return. A spike inside a stationary oscillation, or one that never comes back, is
                            not a catapult
divergence                  from where the orbit leaves the bounded region it had: the first sample from which
                            the (period-2 envelope of the) loss stays above every value it had before; only if
                            the loss grows by more than :data:`DIVERGENCE_GROWTH` over it, in a run that overflowed
                            or whose sharpness stays above :math:`2/\eta` (Cohen et al. 2021)
==========================  ==================================================================================

Per-sample labels are merged into maximal runs; a run shorter than :math:`w/2` samples (4 to 16: the resolution of
the trends) joins its predecessor (its successor at the start or after an event); catapult and divergence,
labelled on the loss itself, are never absorbed or widened.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

OUTCOMES = ("converged", "periodic", "chaotic", "undetermined", "diverged")
TAIL = 192  # fewest states on which an outcome is decided (periods up to 95, 20 batches of 9 steps)
TOLERANCE = 1e-9
BATCHES = 20  # batch means of the Lyapunov estimate (as `lyapunov --batches`)
SIGMAS = 3.0  # chaotic: the estimate exceeds SIGMAS standard errors (and the reverse for "attracting")
DIVERGENCE_GROWTH = 100.0
ROUNDOFF_AMPLIFICATION = 1e8  # a stretch that amplifies perturbations this much moves the 8th printed digit
ROUNDOFF_AGREEMENT = 1e-9  # reruns at higher precision that agree this well (relative) clear the flag
REGIMES = ("early sharpness reduction", "intermediate saturation", "progressive sharpening", "edge of stability",
           "catapult", "divergence")
# The order of a sweep's "regime" measure: one code per trajectory, the most severe regime it reached
# (numerics.sweeps); kept here, beside the labels, so that plots and sweeps read one list.
REGIME_ORDER = ("intermediate saturation", "early sharpness reduction", "progressive sharpening",
                "edge of stability", "catapult", "divergence")


def characteristic_regime(names, diverged: bool = False) -> str:
    """The one regime that stands for a run (a sweep's ``regime`` measure, a phase diagram's cell): the most severe
    of ``names`` in :data:`REGIME_ORDER` (divergence, else catapult, else edge of stability, else progressive
    sharpening, else early sharpness reduction, else intermediate saturation); ``divergence`` where ``diverged``
    (a run that overflowed before it had two samples to label)."""
    names = set(names)
    if diverged:
        return "divergence"
    return max((name for name in names if name in REGIME_ORDER), key=REGIME_ORDER.index,
               default=REGIME_ORDER[0])


MIN_TREND = 0.02  # a sharpening or reduction regime changes the smoothed sharpness by >= 2 % of the threshold
NEAR = 0.9  # "at the threshold": at least 90 % of it


def max_period(kept: int) -> int:
    """The longest period that ``kept`` stored states resolve: :math:`2p + 1` states repeat with period :math:`p`."""
    return max(0, (kept - 1) // 2)


def lyapunov_window(kept: int, stretch: bool = True) -> tuple:
    """``(batch, window)``: the Lyapunov estimate of a lane with ``kept`` stored states uses its last ``window`` =
    :data:`BATCHES` x ``batch`` steps (0, no estimate, below :data:`TAIL` states or without a stretch), the one
    rule of :func:`classify_orbits` and of the orbit kernel's classifying pass."""
    batch = (kept - 1) // BATCHES
    return batch, (batch * BATCHES if kept >= TAIL and stretch else 0)


def batch_statistics(batch_means: np.ndarray, axis: int = -1):
    r"""Estimate and standard error from batch means (Flegal & Jones 2010, batch means for Markov chain and
    dynamical averages): :math:`\bar m` and :math:`s_m/\sqrt B` over the ``B`` batches along ``axis``
    (:func:`batch_mean_error` on each row). The error is honest when a batch is longer than the correlation time
    of the averaged quantity."""
    batch_means = np.moveaxis(np.asarray(batch_means, dtype=float), axis, -1)
    rows = batch_means.reshape(-1, batch_means.shape[-1])
    with np.errstate(all="ignore"):  # a -inf batch mean (a log 0 stretch) is a -inf estimate, not a warning
        pairs = np.array([batch_mean_error(row, 1.0) for row in rows]).reshape(batch_means.shape[:-1] + (2,))
    return pairs[..., 0], pairs[..., 1]


# Outcome codes (indices into OUTCOMES) as the compiled classifier returns them.
CONVERGED, PERIODIC, CHAOTIC, UNDETERMINED, DIVERGED = range(len(OUTCOMES))
# Stored values up to which the classifier runs interpreted (no numba import: a short ``run`` answers sooner),
# compiled above; the kernels' rule too (numerics.compile.CompiledModel.kernels_for): at about 0.5 us per lane-step
# in CPython (uv-eos; a few times that for the UV map), 5e5 of them take about the time numba needs to load itself
# and the cached machine code (0.5-0.7 s on this 2-core machine).
SMALL_WORK = 500_000


# The lane functions below are the classifier's decisions. classify_orbits runs them (interpreted or compiled by
# numba), and numerics.compile puts their source (LANE_FUNCTIONS) into every model's orbit kernel, which
# classifies each block of lanes as soon as it is computed: both give the same labels bit for bit. They use only
# their arguments and the integer codes above.
def batch_mean_error(values, divisor):
    r"""Mean and batch-means standard error :math:`s_m/\sqrt B` of the ``B`` batch means ``values[i] / divisor``
    (the error is ``inf`` for one batch)."""
    count = values.shape[0]
    total = 0.0
    for i in range(count):
        total += values[i] / divisor
    mean = total / count
    if count < 2:
        return mean, math.inf
    squares = 0.0
    for i in range(count):
        deviation = values[i] / divisor - mean
        squares += deviation * deviation
    return mean, math.sqrt(squares / (count - 1)) / math.sqrt(count)


def lane_lyapunov(sums, batch):
    """The largest Lyapunov exponent and its batch-means error from one lane's per-batch sums of log stretches
    (column 0 of :meth:`numerics.compile.CompiledModel.stretch_sums`, ``batch`` steps each)."""
    estimate, error = batch_mean_error(sums, batch)
    if estimate == -math.inf:  # a vanishing stretch (log 0) is a superstable orbit: decided negative
        error = 0.0
    return estimate, error


def lane_scale(orbits, lane):
    r""":math:`\max |s|` over the stored states of lane ``lane`` of ``orbits`` (lanes, kept, d) (the scale of
    :func:`period_bound`; the orbit kernel takes the same maximum across its lanes)."""
    scale = 0.0
    for t in range(orbits.shape[1]):
        for i in range(orbits.shape[2]):
            scale = max(scale, abs(orbits[lane, t, i]))
    return scale


def period_bound(scale, tolerance):
    r"""How far apart two states a period apart may be: ``tolerance`` :math:`(1 + \max|s|)`."""
    return tolerance * (1.0 + scale)


def lane_period(orbits, lane, bound, max_period):
    r"""The smallest :math:`p \le` ``max_period`` with :math:`|s_{t+p} - s_t| \le` ``bound``
    (:func:`period_bound`) over the last :math:`p + 1` pairs of lane ``lane`` of ``orbits`` (lanes, kept, d), 0
    where there is none: the last :math:`2p + 1` states repeat with period :math:`p`. Early exits: a mismatch ends
    a candidate."""
    kept, d = orbits.shape[1], orbits.shape[2]
    for p in range(1, max_period + 1):
        repeats = True
        for t in range(kept - 2 * p - 1, kept - p):
            for i in range(d):
                if not abs(orbits[lane, t + p, i] - orbits[lane, t, i]) <= bound:
                    repeats = False
                    break
            if not repeats:
                break
        if repeats:
            return p
    return 0


def decide_outcome(finite, period, measured, estimate, error):
    """The outcome code of one lane (module docstring): diverged unless ``finite``; converged (period 1), periodic;
    chaotic where an exponent was ``measured`` and exceeds :data:`SIGMAS` standard errors; else undetermined."""
    if not finite:
        return DIVERGED
    if period == 1:
        return CONVERGED
    if period > 1:
        return PERIODIC
    if measured and estimate - SIGMAS * error > 0:
        return CHAOTIC
    return UNDETERMINED


LANE_FUNCTIONS = (batch_mean_error, lane_lyapunov, lane_scale, period_bound, lane_period, decide_outcome)


def lane_functions_source() -> str:
    """The source of :data:`LANE_FUNCTIONS` with the constants they read, for the generated kernel module
    (``numerics.compile``; each function is preceded by a decorator line that the caller supplies as ``{njit}``)."""
    import inspect

    lines = [f"{name} = {globals()[name]!r}" for name in _CONSTANTS]
    return "\n".join(lines) + "\n\n\n" + "\n\n".join("{njit}\n" + inspect.getsource(f) for f in LANE_FUNCTIONS)


def _periods_loop(orbits, finite, tolerance, max_period):
    """:func:`lane_period` of every finite lane (0 for the others)."""
    period = np.zeros(orbits.shape[0], dtype=np.int64)
    for lane in range(orbits.shape[0]):
        if finite[lane]:
            period[lane] = lane_period(orbits, lane, period_bound(lane_scale(orbits, lane), tolerance), max_period)
    return period


def _lyapunov_loop(sums, batch):
    """:func:`lane_lyapunov` of every row of ``sums`` (lanes, batches): ``(estimates, errors)``."""
    estimate = np.empty(sums.shape[0])
    error = np.empty(sums.shape[0])
    for row in range(sums.shape[0]):
        value, spread = lane_lyapunov(sums[row], batch)
        estimate[row] = value
        error[row] = spread
    return estimate, error


def _decide_loop(finite, period, measured, exponent, error):
    """:func:`decide_outcome` of every lane."""
    code = np.empty(finite.shape[0], dtype=np.int64)
    for lane in range(finite.shape[0]):
        code[lane] = decide_outcome(finite[lane], period[lane], measured[lane], exponent[lane], error[lane])
    return code


_CONSTANTS = ("CONVERGED", "PERIODIC", "CHAOTIC", "UNDETERMINED", "DIVERGED", "SIGMAS")


@functools.lru_cache(maxsize=None)
def _compiled(name):
    """The loop ``name`` compiled by numba, with the lane functions it calls compiled too (a fresh namespace of
    jitted copies: numba calls only jitted functions)."""
    import types

    import numba

    namespace = {"np": np, "math": math, **{constant: globals()[constant] for constant in _CONSTANTS}}
    for function in LANE_FUNCTIONS + (globals()[name],):
        copy = types.FunctionType(function.__code__, namespace, function.__name__, function.__defaults__)
        namespace[function.__name__] = numba.njit(nogil=True, error_model="numpy")(copy)
    return namespace[name]


def _run(name, work, *arguments):
    """Loop ``name`` interpreted up to :data:`SMALL_WORK` stored values, compiled by numba above (same source)."""
    if work <= SMALL_WORK:
        with np.errstate(all="ignore"):
            return globals()[name](*arguments)
    return _compiled(name)(*arguments)


def classify_orbits(orbits: np.ndarray, diverged: np.ndarray, stretch=None, params=None,
                    tolerance: float = TOLERANCE) -> dict:
    """Outcome codes (into :data:`OUTCOMES`) of lanes ``orbits`` (lanes, kept, d): the last states of each orbit,
    oldest first; ``diverged`` marks lanes that overflowed. ``stretch(orbits, params, batch)`` returns the sums of
    the log stretch of a tangent vector over batches of ``batch`` steps along the stored states
    (:meth:`numerics.compile.CompiledModel.stretch_sums`); without it a bounded aperiodic lane is
    ``undetermined``. Returns ``{"code", "period", "exponent", "error", "window", "max_period", "reason"}``
    (arrays over lanes; ``reason`` a list of strings, empty where decided; ``window`` the steps of the Lyapunov
    estimate, 0 where none). The orbit kernel of a grid measure reaches the same result inside its pass
    (:meth:`numerics.compile.CompiledModel.classified_orbits`; :func:`classification`)."""
    orbits = np.ascontiguousarray(orbits, dtype=float)
    lanes, kept = orbits.shape[:2]
    finite = np.isfinite(orbits).all(axis=(1, 2)) & ~np.asarray(diverged, bool)
    longest = max_period(kept)
    batch, window = lyapunov_window(kept, stretch is not None)
    work = orbits.size
    period = _run("_periods_loop", work, orbits, finite, float(tolerance), longest)
    open_lanes = finite & (period == 0)
    exponent = np.full(lanes, np.nan)
    error = np.full(lanes, np.nan)
    if window and open_lanes.any():
        lanes_open = np.nonzero(open_lanes)[0]
        sums = stretch(orbits[lanes_open, kept - 1 - window:], np.ascontiguousarray(params[lanes_open], dtype=float),
                       batch)
        exponent[lanes_open], error[lanes_open] = _run("_lyapunov_loop", work, np.ascontiguousarray(sums[..., 0]),
                                                       batch)
    measured = open_lanes & bool(window)
    code = _run("_decide_loop", lanes, finite, period, measured, exponent, error)
    return classification(code, period, exponent, error, window, kept)


def classification(code, period, exponent, error, window, kept) -> dict:
    """The result of :func:`classify_orbits` from the lane decisions (arrays over lanes: ``code`` from
    :func:`decide_outcome`, ``period`` from :func:`lane_period`, ``exponent`` and ``error`` from
    :func:`lane_lyapunov`, NaN where not measured), ``window`` (the steps of the estimate, 0 if none) and ``kept``
    (the stored states per lane): the reasons of the undetermined lanes are written here."""
    longest = max_period(kept)
    finite = code != DIVERGED
    measured = finite & (period == 0) & (window > 0)
    reason = [""] * len(code)
    for lane in np.nonzero(code == UNDETERMINED)[0]:
        if kept < TAIL:
            reason[lane] = (f"too short: {kept - 1} steps decide nothing (periods and a Lyapunov estimate need at "
                            f"least {TAIL}); the transient may still be under way")
        elif not window:
            reason[lane] = f"no period up to {longest}; no Lyapunov exponent computed"
        else:
            measured_text = (f"no period up to {longest}, and the largest Lyapunov exponent over the last {window} "
                             f"steps, {exponent[lane]:.2e} ± {error[lane]:.1e}, ")
            if exponent[lane] + SIGMAS * error[lane] < 0:
                reason[lane] = measured_text + ("is negative: attracting, but periodic with a longer period or "
                                                "still converging")
            else:
                reason[lane] = measured_text + (f"does not exclude zero ({SIGMAS:g} standard errors): "
                                                "quasi-periodic, near a bifurcation, or the window is too short")
    period = np.where(finite, period, 0)
    return {"code": code, "period": period, "exponent": exponent, "error": error,
            "window": np.where(measured, window, 0), "max_period": longest, "reason": reason}


@dataclass(frozen=True)
class Outcome:
    r"""The outcome of one orbit (module docstring: the table of outcomes and when each is claimed).

    Attributes
    ----------
    name : str
        One of :data:`OUTCOMES`: ``converged``, ``periodic``, ``chaotic``, ``undetermined``, ``diverged``.
    period : int or None
        ``periodic``: the smallest period :math:`p` with :math:`s_t = s_{t-p}` over the last :math:`2p + 1` states.
    step : int or None
        ``diverged``: the first step at which a state was not finite.
    reason : str or None
        ``undetermined``: why the data cannot decide.
    lyapunov : float or None
        ``chaotic`` (and ``undetermined`` where measured): the largest Lyapunov exponent over the window,
        Benettin's QR estimator in :data:`BATCHES` batch means (Benettin et al. 1980; Flegal & Jones 2010).
    lyapunov_error : float or None
        Its standard error (batch means); ``chaotic`` needs ``lyapunov > SIGMAS * lyapunov_error``.
    window : int or None
        Steps the exponent was measured over.
    max_period : int or None
        The longest period that was looked for (half the window).
    roundoff_sensitive : bool or None
        A run through a chaotic transient: whether its end depends on float64 round-off (:func:`roundoff_sensitive`);
        ``None`` for a run without one.
    roundoff : dict or None
        That transient (:func:`roundoff_stretch`: ``finite_time_lyapunov``, ``window``, ``log10_amplification``)
        and the reruns at higher precision (``precision_runs``, ``final_spread`` or ``step_range``).

    ``to_dict()`` holds ``name`` and the fields that apply (``sharpness run --json``'s ``outcome``).
    """

    name: str
    period: Optional[int] = None
    step: Optional[int] = None
    reason: Optional[str] = None
    lyapunov: Optional[float] = None
    lyapunov_error: Optional[float] = None
    window: Optional[int] = None
    max_period: Optional[int] = None
    roundoff_sensitive: Optional[bool] = None
    roundoff: Optional[dict] = None

    def to_dict(self) -> dict:
        """``{"name", ...}`` with the fields that are set, in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.to_dict().items() if k != "roundoff"}
        text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"Outcome({text}{', roundoff=...' if self.roundoff is not None else ''})"


@dataclass(frozen=True)
class Regime:
    """One regime of a trajectory (module docstring: the table of regimes).

    Attributes
    ----------
    name : str
        One of :data:`REGIMES`.
    start : int
        Its first step.
    end : int
        Its last step (inclusive; at the resolution the trajectory was labelled at).
    """

    name: str
    start: int
    end: int

    def to_dict(self) -> dict:
        """``{"name", "start", "end"}``, an entry of ``regimes`` in ``sharpness run --json``."""
        return {"name": self.name, "start": self.start, "end": self.end}

    def __repr__(self) -> str:
        return f"Regime({self.name!r}, {self.start}-{self.end})"


def lane_outcome(classified: dict, lane: int = 0, diverged_at: int | None = None) -> Outcome:
    """The :class:`Outcome` of one lane of :func:`classify_orbits`: ``period`` (periodic); ``lyapunov``,
    ``lyapunov_error``, ``window``, ``max_period`` (chaotic, and undetermined where measured); ``step``
    (diverged); ``reason`` (undetermined)."""
    name = OUTCOMES[int(classified["code"][lane])]
    found = {}
    if name == "periodic":
        found["period"] = int(classified["period"][lane])
    elif name == "diverged" and diverged_at is not None:
        found["step"] = int(diverged_at)
    elif name == "undetermined":
        found["reason"] = classified["reason"][lane]
    if name in ("chaotic", "undetermined") and classified["window"][lane]:
        found.update(lyapunov=float(classified["exponent"][lane]), lyapunov_error=float(classified["error"][lane]),
                     window=int(classified["window"][lane]), max_period=int(classified["max_period"]))
    return Outcome(name, **found)


def roundoff_stretch(logs: np.ndarray, stride: int = 1):
    r"""The stretch of steps over which a perturbation grows most, from ``logs`` (steps, k): :math:`\log R_{ii}(t)`
    of Benettin's frame at every step (:meth:`numerics.compile.CompiledModel.stretch_sums` with ``columns = d``).
    Over steps :math:`a..b` the propagator :math:`P = J_b \cdots J_a` has :math:`\|P\| \ge \prod_t R_{ii}(t)` for
    every :math:`i` (the diagonal of the triangular factor of :math:`P` bounds its largest singular value), so
    :math:`\max_{i, a \le b} \sum_{t=a}^{b} \log R_{ii}(t)` (a maximum-subarray scan per column) is a lower bound
    on the largest amplification of a perturbation over any stretch of the run; column :math:`i > 0` catches a
    direction that grows while a neutral one leads (a transverse oscillation seeded by round-off). Returns
    ``None`` when it is below :data:`ROUNDOFF_AMPLIFICATION`, else ``{"finite_time_lyapunov", "window": [first
    step, last step], "log10_amplification"}``: a chaotic transient (a positive finite-time Lyapunov exponent
    over that window), across which float64 round-off (1e-16 relative) grows to at least 1e-8."""
    if not len(logs):
        return None
    logs = np.asarray(logs, dtype=float).reshape(len(logs), -1)
    best = (-np.inf, 0, 0)
    for column in logs.T:
        # A vanishing stretch (log 0, a superstable point) wipes a perturbation out: counted as log(1e-300).
        gains = np.concatenate([[0.0], np.cumsum(np.nan_to_num(column, neginf=-690.0, posinf=690.0))])
        lowest = np.minimum.accumulate(gains)
        end = int(np.argmax(gains[1:] - lowest[:-1]))
        first = int(np.argmin(gains[:end + 1]))
        best = max(best, (float(gains[end + 1] - gains[first]), first, end))
    growth, first, end = best
    if growth < math.log(ROUNDOFF_AMPLIFICATION):
        return None
    return {"finite_time_lyapunov": growth / (end - first + 1), "window": [int(first * stride), int((end + 1) * stride)],
            "log10_amplification": growth / math.log(10)}


def roundoff_sensitive(measured: dict, final: dict) -> bool:
    """Whether the end of a run that passed through a chaotic transient (:func:`roundoff_stretch`) depends on
    round-off: yes unless the reruns at higher precision (``measured``, from
    :meth:`numerics.IteratedMap.run`) diverge at the same step and end within :data:`ROUNDOFF_AGREEMENT` of
    :math:`1 + |x|` of every final float64 value :math:`x`; yes where they were not run (undecided is not "no")."""
    if not measured.get("precision_runs"):
        return True
    low, high = measured.get("step_range", (0, 0))
    spread = measured.get("final_spread", {})
    return bool(low != high or any(not spread[name] <= ROUNDOFF_AGREEMENT * (1 + abs(value))
                                   for name, value in final.items() if name in spread and np.isfinite(value)))


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over an even ``window`` (edges padded with the end values). Centred, not trailing:
    the labels are drawn after the run, and a trailing average lags behind a fast drop (after a catapult it would
    keep the sharpness near 2/eta for ``window`` steps after it has fallen)."""
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    half = window // 2
    padded = np.concatenate([np.full(half, values[0]), values, np.full(window - 1 - half, values[-1])])
    return np.convolve(padded, kernel, mode="valid")


def _rolling_max(values: np.ndarray, window: int) -> np.ndarray:
    """Centred maximum over ``window`` samples (the envelope of an oscillation, period 2 to ``window``)."""
    half = window // 2
    padded = np.concatenate([np.full(half, -np.inf), values, np.full(window - half, -np.inf)])
    return np.lib.stride_tricks.sliding_window_view(padded, window + 1).max(axis=1)[: len(values)]


def divergence_start(loss: np.ndarray, sharpness: np.ndarray, threshold: float, overflowed: bool):
    """First index of the divergence stretch (module docstring), or ``None`` if there is none: the first sample
    from which the (period-2 envelope of the) loss stays above every value it had before, i.e. where the orbit
    leaves the bounded region it had for good."""
    count = len(loss)
    if count < 3:
        return None
    envelope = np.maximum(loss, np.concatenate([[loss[0]], loss[:-1]]))  # period-2 envelope
    with np.errstate(invalid="ignore"):
        envelope = np.where(np.isnan(envelope), np.inf, envelope)
        future_min = np.minimum.accumulate(envelope[::-1])[::-1]
        past_max = np.maximum.accumulate(envelope)
        leaves = np.nonzero(future_min[1:] > past_max[:-1])[0]
    if not len(leaves):
        return None
    start = int(leaves[0]) + 1
    # A failed catapult, whose loss dips but never back to where it started, is part of the divergence; a loss that
    # grows from the first step diverges from step 0.
    if start == 1 and envelope[1] > envelope[0]:
        start = 0
    final = envelope[-1] if np.isfinite(envelope[-1]) else np.inf
    if start >= count - 1 or not final > DIVERGENCE_GROWTH * max(envelope[max(start - 1, 0)], 1e-300):
        return None
    if not overflowed and not np.all(sharpness[start:] > threshold):
        return None
    return start


def label_regimes(sharpness: np.ndarray, loss: np.ndarray, threshold: float, stride: int = 1,
                  diverged_at: int = -1, flat: float = 1e-4, moving=None) -> list:
    """Regimes of a trajectory (module docstring), a list of :class:`Regime`. ``stride`` is the thinning of the
    arrays; ``moving`` marks the samples whose state moved by more than the convergence tolerance (``None``: all);
    ``start``/``end`` are step numbers."""
    count = len(sharpness)
    if count < 2:
        return []
    sharpness, loss = np.asarray(sharpness, float), np.asarray(loss, float)
    moving = np.ones(count, bool) if moving is None else np.asarray(moving, bool)
    window = _window(count)
    with np.errstate(all="ignore"):  # overflowing runs carry inf in the loss; they are labelled divergence
        labels = _labels(sharpness, loss, threshold, stride, diverged_at, flat, count, moving, window)
    runs = []
    for t, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = t
        else:
            runs.append([label, t, t])
    smooth = _smooth(sharpness, window)
    for _ in range(2):  # merging can join runs into a trend that is still too small: checked again after it
        for run in runs:  # trends below MIN_TREND of the threshold are not trends
            if run[0] in ("progressive sharpening", "early sharpness reduction") and \
                    not abs(smooth[run[2]] - smooth[run[1]]) >= MIN_TREND * threshold:
                run[0] = "intermediate saturation"
        runs = _merge_short(runs, max(2, window // 2))
    return [Regime(label, int(start * stride), int(end * stride)) for label, start, end in runs]


def _window(count: int) -> int:
    """The even smoothing window, 8 to 32 samples; regimes shorter than half of it are not resolved."""
    return 2 * max(4, min(16, count // 200))


def _merge_short(runs: list, shortest: int) -> list:
    """Runs shorter than ``shortest`` samples join a neighbour (their predecessor; their successor at the start or
    after an event); catapult and divergence, labelled on the loss itself, are never absorbed or widened. Equal
    neighbours are joined."""
    events = ("catapult", "divergence")
    changed = True
    while changed:
        changed = False
        joined = []
        for label, start, end in runs:
            if joined and joined[-1][0] == label:
                joined[-1][2] = end
            else:
                joined.append([label, start, end])
        runs = joined
        for index, (label, start, end) in enumerate(runs):
            if label in events or end - start + 1 >= shortest or len(runs) == 1:
                continue
            before = runs[index - 1] if index else None
            after = runs[index + 1] if index + 1 < len(runs) else None
            if before is not None and before[0] not in events:
                runs[index][0] = before[0]
            elif after is not None and after[0] not in events:
                runs[index][0] = after[0]
            elif before is not None and after is not None:
                continue  # between two events: kept
            else:
                continue
            changed = True
            break
    return runs


def _catapults(sharpness, loss, threshold, count, shortest, end):
    """Samples of catapult episodes (module docstring) before sample ``end``."""
    running_min = np.minimum.accumulate(loss)
    exceeded = np.maximum.accumulate(sharpness > threshold)
    envelope = _rolling_max(sharpness, 2)
    catapult = np.zeros(count, bool)
    i = 0
    while i < end:
        if exceeded[i] and loss[i] > 2 * running_min[i] and loss[i] > 1e-12:
            start = max(0, i - 1)
            before = running_min[i]
            while i < end and loss[i] > before:
                i += 1
            after = envelope[i: min(end, i + shortest)]
            # It returns: below the level it rose from, with a lower sharpness, and stable after (the sharpness
            # below the threshold for `shortest` samples): a spike inside a stationary oscillation is not one.
            if i < end and sharpness[i] < sharpness[start] and np.all(after < threshold):
                catapult[start:i + 1] = True
        i += 1
    return catapult


def _labels(sharpness, loss, threshold, stride, diverged_at, flat, count, moving, window):
    # An even window cancels the period-2 oscillation of GD near 2/eta exactly, so trends are those of the mean.
    smooth = _smooth(sharpness, window)
    # Trends on the mean of consecutive pairs: it cancels a period-2 oscillation exactly and, unlike the wide
    # window, does not smear a fast drop over the following steps.
    change = np.gradient(_smooth(sharpness, 2)) / (threshold * stride)
    # The sharpness itself must come near 2/eta too for an edge of stability: its envelope over the window (a
    # chaotic orbit dips below for a few steps at a time; those dips are not regimes).
    near = _rolling_max(sharpness, window) >= NEAR * threshold
    increments = np.diff(loss, prepend=loss[0])
    oscillating = np.zeros(count, bool)
    sign_flip = (np.sign(increments[1:]) * np.sign(increments[:-1]) < 0) & moving[1:]
    for i in np.nonzero(sign_flip)[0]:
        oscillating[max(0, i - window): i + window] = True
    oscillating &= moving
    start = divergence_start(loss, sharpness, threshold, diverged_at >= 0)
    end = count if start is None else start
    catapult = _catapults(sharpness, loss, threshold, count, max(2, window // 2), end)
    labels = np.empty(count, dtype=object)
    seen_increase = False
    for t in range(count):
        if catapult[t]:
            labels[t] = "catapult"
        elif smooth[t] >= NEAR * threshold and near[t] and oscillating[t]:
            labels[t] = "edge of stability"
        elif abs(change[t]) < flat or not moving[t]:
            labels[t] = "intermediate saturation"
        elif change[t] > 0 and smooth[t] < NEAR * threshold:
            labels[t] = "progressive sharpening"
            seen_increase = True
        elif change[t] < 0 and not seen_increase and sharpness[t] < threshold:
            labels[t] = "early sharpness reduction"
        else:
            labels[t] = "edge of stability" if near[t] and oscillating[t] else "intermediate saturation"
    if start is not None:
        labels[start:] = "divergence"
    return labels
