r"""One classifier of orbits and one labeller of regimes, shared by every measure.

Outcomes (:func:`classify_orbits`; ``run``, ``basin``, ``sweep``, ``phase-diagram`` and ``bifurcation`` all call
it, on the last :data:`TAIL` states of every orbit, so they never disagree about the same orbit)

* ``diverged``: a state became non-finite (overflow) within the steps;
* ``converged``: the last states agree to ``tolerance`` relative to :math:`1 + \max|s|`;
* ``periodic``: the smallest period :math:`p \le` :data:`MAX_PERIOD` with :math:`s_t = s_{t-p}` over the last
  :math:`2p` states (to the same tolerance);
* ``chaotic``: bounded, no period up to :data:`MAX_PERIOD`, and a largest Lyapunov exponent along the tail
  above :data:`CHAOS_EXPONENT` (tangent vectors propagated with the compiled Jacobian);
* ``undetermined``: the data cannot decide; ``reason`` says why: fewer than :data:`TAIL` states after the
  start (too short to resolve periods up to :data:`MAX_PERIOD`: a catapult may still be under way), or no
  period and no positive exponent (quasi-periodic, or converging more slowly than the run is long).

Regimes (:func:`label_regimes`; the phases of Kalra, He & Barkeshli, arXiv 2311.02076, Sec. 4, Fig. 2), on the
sharpness :math:`S_t`, the loss :math:`L_t` and the threshold of the optimizer, written :math:`2/\eta` below
(GD's); under momentum it is the optimizer's own, derived in :mod:`analysis.optimizers` (:math:`(2 + 2\beta)/\eta`
heavy-ball, :math:`(2 + 2\beta)/(\eta(1 + 2\beta))` Nesterov), and callers pass it as ``threshold``
(:attr:`numerics.IteratedMap.threshold`, :func:`numerics.nn.train`):

* *catapult*: a loss spike (Lewkowycz et al. 2020): after :math:`S_t` exceeded :math:`2/\eta`, the loss rises
  above twice its running minimum and comes back below the level it started from, within the run, with a lower
  sharpness than at the start of the spike. The episode is the spike, from the rise to the return; a phase
  in which the loss only falls is not part of it. A spike that never comes back is not a catapult;
* *divergence*: the final stretch from the first level that the (period-2 envelope of the) loss never falls
  below again, over which it grows by more than a factor :data:`DIVERGENCE_GROWTH`, in a run that
  overflowed or whose sharpness stays above :math:`2/\eta` throughout the stretch (Cohen et al. 2021: GD on a
  quadratic with :math:`\eta S > 2` diverges geometrically);
* *edge of stability*: the smoothed sharpness and the sharpness itself (its period-2 envelope) are at least
  90% of :math:`2/\eta` and the state oscillates (the
  loss increments change sign) with steps larger than the convergence tolerance (an oscillation at the level
  of round-off of a converged loss is not an edge of stability) (Cohen et al. 2021);
* *progressive sharpening*: the smoothed sharpness rises while below 90% of :math:`2/\eta`;
* *early sharpness reduction*: it falls before any rise, below :math:`2/\eta`;
* *intermediate saturation*: neither (relative change per step below ``flat``).

Per-step labels (trends on a centred moving average over an even window of 8 to 32 samples, which cancels
period-2 oscillations) are merged into maximal runs; runs shorter than 3 samples are absorbed into their predecessor
(into their successor after a catapult or divergence, which are never widened).
"""
from __future__ import annotations

import functools

import numpy as np

OUTCOMES = ("converged", "periodic", "chaotic", "undetermined", "diverged")
MAX_PERIOD = 64
TAIL = 3 * MAX_PERIOD  # states needed to resolve every period up to MAX_PERIOD (2p compared, p more to start)
TOLERANCE = 1e-9
CHAOS_EXPONENT = 1e-3
DIVERGENCE_GROWTH = 100.0
REGIMES = ("early sharpness reduction", "intermediate saturation", "progressive sharpening", "edge of stability",
           "catapult", "divergence")


def largest_lyapunov(jacobian, orbits: np.ndarray, params: np.ndarray) -> np.ndarray:
    r"""Mean log growth of a tangent vector along consecutive states of every lane, :math:`\frac1T\sum_t
    \log|J(s_t) v_t|` with :math:`v_t` renormalised (``orbits`` (lanes, T, d), ``params`` (lanes, m);
    ``jacobian`` the vectorised compiled Jacobian returning a nested list of entries)."""
    lanes, count, d = orbits.shape
    vector = np.full((lanes, d), 1 / np.sqrt(d))
    total = np.zeros(lanes)
    with np.errstate(all="ignore"):
        for t in range(count - 1):
            entries = jacobian(*orbits[:, t, :].T, *params.T)
            matrix = np.stack([np.broadcast_to(np.asarray(e, dtype=float), (lanes,))
                               for row in entries for e in row], axis=-1).reshape(lanes, d, d)
            vector = np.einsum("lij,lj->li", matrix, vector)
            norm = np.linalg.norm(vector, axis=1)
            total += np.log(norm)
            vector = vector / np.where(norm > 0, norm, 1)[:, None]
    return total / max(1, count - 1)


def _smallest_periods(orbits, finite, tolerance, max_period):
    """:func:`_smallest_periods_loop`, interpreted for a few lanes (no numba import: a short ``run`` answers
    sooner), compiled for many: the same rule as the kernels (``numerics.compile.SMALL_WORK``; a stored value
    costs about what a map step costs interpreted, ~0.5 us)."""
    from .compile import SMALL_WORK

    if orbits.size <= SMALL_WORK:
        return _smallest_periods_loop(orbits, finite, tolerance, max_period)
    return _compiled_periods()(orbits, finite, tolerance, max_period)


@functools.lru_cache(maxsize=None)
def _compiled_periods():
    import numba

    return numba.njit(cache=True, nogil=True)(_smallest_periods_loop)


def _smallest_periods_loop(orbits, finite, tolerance, max_period):
    r"""The smallest :math:`p \le` ``max_period`` with :math:`|s_{t+p} - s_t| \le` ``tolerance`` :math:`(1 +
    \max|s|)` over the last :math:`p + 1` pairs of every finite lane (0 where there is none): the last
    :math:`2p + 1` states repeat with period :math:`p`. Compiled, lane by lane with an early exit, because an
    orbit diagram classifies up to a million lanes."""
    lanes, kept, d = orbits.shape
    period = np.zeros(lanes, dtype=np.int64)
    for lane in range(lanes):
        if not finite[lane]:
            continue
        scale = 0.0
        for t in range(kept):
            for i in range(d):
                scale = max(scale, abs(orbits[lane, t, i]))
        bound = tolerance * (1.0 + scale)
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
                period[lane] = p
                break
    return period


def classify_orbits(orbits: np.ndarray, diverged: np.ndarray, jacobian=None, params=None,
                    tolerance: float = TOLERANCE, exponents=None) -> dict:
    """Outcome codes (into :data:`OUTCOMES`), periods (0 where none) and reasons for lanes ``orbits`` (lanes, kept,
    d): the last states of each orbit, oldest first; ``diverged`` marks lanes that overflowed. Without
    ``jacobian`` a bounded aperiodic lane is ``undetermined``; ``exponents(orbits, params)``, where given, computes
    what :func:`largest_lyapunov` computes with ``jacobian`` (e.g. the compiled ``CompiledModel.tail_lyapunov``).
    Returns ``{"code", "period", "exponent",
    "reason"}`` (arrays over lanes; ``reason`` a list of strings, empty where decided)."""
    lanes, kept = orbits.shape[:2]
    code = np.full(lanes, OUTCOMES.index("undetermined"))
    exponent = np.full(lanes, np.nan)
    finite = np.isfinite(orbits).all(axis=(1, 2)) & ~np.asarray(diverged, bool)
    period = _smallest_periods(np.ascontiguousarray(orbits, dtype=float), finite, float(tolerance),
                               min(MAX_PERIOD, (kept - 1) // 2))
    code[period == 1] = OUTCOMES.index("converged")
    code[period > 1] = OUTCOMES.index("periodic")
    open_lanes = finite & (period == 0)
    long_enough = kept >= TAIL
    reason = [""] * lanes
    if long_enough and jacobian is not None and open_lanes.any():
        lanes_open = np.nonzero(open_lanes)[0]
        if exponents is not None:
            exponent[lanes_open] = exponents(np.ascontiguousarray(orbits[lanes_open], dtype=float),
                                             np.ascontiguousarray(params[lanes_open], dtype=float))
        else:
            exponent[lanes_open] = largest_lyapunov(jacobian, orbits[lanes_open], params[lanes_open])
        chaotic = np.zeros(lanes, bool)
        chaotic[lanes_open] = exponent[lanes_open] > CHAOS_EXPONENT
        code[chaotic] = OUTCOMES.index("chaotic")
    for lane in np.nonzero(code == OUTCOMES.index("undetermined"))[0]:
        if not finite[lane]:
            continue
        if not long_enough:
            reason[lane] = (f"too short: {kept - 1} steps cannot resolve periods up to {MAX_PERIOD} "
                            f"(needs at least {TAIL}); the transient may still be under way")
        elif jacobian is None:
            reason[lane] = f"no period up to {MAX_PERIOD}; no Lyapunov exponent computed"
        else:
            reason[lane] = (f"no period up to {MAX_PERIOD} and largest Lyapunov exponent "
                            f"{exponent[lane]:.2e} <= {CHAOS_EXPONENT:g}: quasi-periodic or still converging")
    code[~finite] = OUTCOMES.index("diverged")
    period[~finite] = 0
    return {"code": code, "period": period, "exponent": exponent, "reason": reason}


def outcome_dict(classified: dict, lane: int = 0, diverged_at: int | None = None) -> dict:
    """The JSON outcome of one lane: ``{"name", ...}`` with ``period``, ``lyapunov``, ``step`` or ``reason``."""
    name = OUTCOMES[int(classified["code"][lane])]
    outcome = {"name": name}
    if name == "periodic":
        outcome["period"] = int(classified["period"][lane])
    elif name == "chaotic":
        outcome["lyapunov"] = float(classified["exponent"][lane])
    elif name == "diverged" and diverged_at is not None:
        outcome["step"] = int(diverged_at)
    elif name == "undetermined":
        outcome["reason"] = classified["reason"][lane]
    return outcome


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


def divergence_start(loss: np.ndarray, sharpness: np.ndarray, threshold: float, overflowed: bool):
    """First index of the divergence stretch (module docstring), or ``None`` if there is none."""
    count = len(loss)
    if count < 3:
        return None
    envelope = np.maximum(loss, np.concatenate([[loss[0]], loss[:-1]]))  # period-2 envelope
    with np.errstate(invalid="ignore"):
        future_min = np.minimum.accumulate(envelope[::-1])[::-1]
        # The stretch starts at the first level the loss never falls below again (a failed catapult, whose loss
        # dips but never returns to where it started, is part of the divergence).
        never_lower = np.nonzero(envelope[:-1] <= future_min[1:])[0]
    if not len(never_lower):
        return None
    start = int(never_lower[0])
    final = envelope[-1] if np.isfinite(envelope[-1]) else np.inf
    if start >= count - 1 or not final > DIVERGENCE_GROWTH * max(envelope[start], 1e-300):
        return None
    if not overflowed and not np.all(sharpness[start:] > threshold):
        return None
    return start


def label_regimes(sharpness: np.ndarray, loss: np.ndarray, threshold: float, stride: int = 1,
                  diverged_at: int = -1, flat: float = 1e-4, moving=None) -> list:
    """Regimes of a trajectory (module docstring). ``stride`` is the thinning of the arrays; ``moving`` marks the
    samples whose state moved by more than the convergence tolerance (``None``: all); ``start``/``end`` are step
    numbers."""
    count = len(sharpness)
    if count < 2:
        return []
    with np.errstate(all="ignore"):  # overflowing runs carry inf in the loss; they are labelled divergence
        labels = _labels(np.asarray(sharpness, float), np.asarray(loss, float), threshold, stride, diverged_at,
                         flat, count, np.ones(count, bool) if moving is None else np.asarray(moving, bool))
    runs = []
    for t, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = t
        else:
            runs.append([label, t, t])
    events = ("catapult", "divergence")  # labelled on the loss itself: never widened, never absorbed
    merged = []
    for index, (label, start, end) in enumerate(runs):
        short = end - start + 1 < 3 and label not in events
        if short and (not merged or merged[-1][0] in events) and index + 1 < len(runs):
            runs[index + 1][1] = start  # after an event, a short run joins its successor
            continue
        if merged and (short or merged[-1][0] == label):
            merged[-1][2] = end
        else:
            merged.append([label, start, end])
    return [{"name": label, "start": int(start * stride), "end": int(end * stride)} for label, start, end in merged]


def _labels(sharpness, loss, threshold, stride, diverged_at, flat, count, moving):
    # An even window cancels the period-2 oscillation of GD near 2/eta exactly, so trends are those of the mean.
    window = 2 * max(4, min(16, count // 200))
    smooth = _smooth(sharpness, window)
    # Trends on the mean of consecutive pairs: it cancels a period-2 oscillation exactly and, unlike the wide
    # window, does not smear a fast drop over the following steps.
    change = np.gradient(_smooth(sharpness, 2)) / (threshold * stride)
    # The sharpness itself (its period-2 envelope) must be near 2/eta too for an edge of stability.
    near = np.maximum(sharpness, np.concatenate([sharpness[:1], sharpness[:-1]])) >= 0.9 * threshold
    increments = np.diff(loss, prepend=loss[0])
    oscillating = np.zeros(count, bool)
    sign_flip = (np.sign(increments[1:]) * np.sign(increments[:-1]) < 0) & moving[1:]
    for i in np.nonzero(sign_flip)[0]:
        oscillating[max(0, i - window): i + window] = True
    oscillating &= moving
    labels = np.empty(count, dtype=object)
    running_min = np.minimum.accumulate(loss)
    exceeded = np.maximum.accumulate(sharpness > threshold)
    catapult = np.zeros(count, bool)
    i = 0
    while i < count:
        if exceeded[i] and loss[i] > 2 * running_min[i] and loss[i] > 1e-12:
            start = max(0, i - 1)
            before = running_min[i]
            while i < count and loss[i] > before:
                i += 1
            if i < count and sharpness[i] < sharpness[start]:
                catapult[start:i + 1] = True
        i += 1
    seen_increase = False
    for t in range(count):
        if catapult[t]:
            labels[t] = "catapult"
        elif smooth[t] >= 0.9 * threshold and near[t] and oscillating[t]:
            labels[t] = "edge of stability"
        elif abs(change[t]) < flat or not moving[t]:
            labels[t] = "intermediate saturation"
        elif change[t] > 0 and smooth[t] < 0.9 * threshold:
            labels[t] = "progressive sharpening"
            seen_increase = True
        elif change[t] < 0 and not seen_increase and sharpness[t] < threshold:
            labels[t] = "early sharpness reduction"
        else:
            labels[t] = "edge of stability" if near[t] and oscillating[t] else "intermediate saturation"
    start = divergence_start(loss, sharpness, threshold, diverged_at >= 0)
    if start is not None:
        labels[start:] = "divergence"
    return labels
