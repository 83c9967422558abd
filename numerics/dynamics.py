r"""Measures on any compiled model: trajectories with outcome and regimes, orbit diagrams, Lyapunov spectra.

Every function here takes a :class:`~numerics.compile.CompiledModel` and uses only its interface (state, step,
Jacobian, sharpness, loss, step size), so it works on every registered model.

Regimes (after Kalra, He & Barkeshli, arXiv 2311.02076, Sec. 2, and Cohen et al. 2021), with
:math:`S_t` the sharpness, :math:`L_t` the loss and the stability threshold :math:`2/\eta`:

* *early sharpness reduction*: at the start, :math:`S_t` decreases while below :math:`2/\eta`;
* *intermediate saturation*: :math:`S_t` changes by less than ``flat`` (relative to :math:`2/\eta`) per step;
* *progressive sharpening*: :math:`S_t` increases while :math:`S_t < 0.9 \cdot 2/\eta`;
* *edge of stability*: :math:`S_t \ge 0.9 \cdot 2/\eta` and the loss oscillates (its increments change sign);
* *catapult*: the loss rises above twice its running minimum after :math:`S_t` exceeded :math:`2/\eta`, and comes
  back below the pre-spike level within the run with a lower sharpness than when it started (Lewkowycz et al.
  2020); the episode lasts until the sharpness stops falling. A spike that never comes back down is not a
  catapult;
* *divergence*: the final stretch of monotone loss growth before a non-finite state.

Per-step labels (sharpness trends on a moving average over an even window of 8 to 32 samples, which cancels
period-2 oscillations) are merged into
maximal runs; runs shorter than 3 samples are absorbed into their predecessor, except catapults and divergence.
"""
from __future__ import annotations

import numpy as np

MAX_TRAJECTORY_BYTES = 2 * 1024 ** 3
# Regimes are labelled on every step up to this many steps (fast phenomena such as a catapult last a few steps
# and would vanish from a thinned series); longer runs are labelled on the --every series.
FULL_RESOLUTION_REGIME_STEPS = 2_000_000
REGIMES = ("early sharpness reduction", "intermediate saturation", "progressive sharpening", "edge of stability",
           "catapult", "divergence")


class TrajectoryTooLarge(ValueError):
    pass


def _evaluate(function, states: np.ndarray, params: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        value = function(*states.T, *params)
    return np.broadcast_to(np.asarray(value, dtype=float), states.shape[:1]).copy()


def largest_lyapunov(compiled, states: np.ndarray, params: np.ndarray) -> float:
    """Mean log growth of a tangent vector along consecutive ``states`` (the largest Lyapunov exponent)."""
    vector = np.ones(compiled.dimension) / np.sqrt(compiled.dimension)
    total = 0.0
    for state in states[:-1]:
        jac = np.asarray(compiled.jacobian_numpy(*state, *params), dtype=float).reshape(compiled.dimension, -1)
        vector = jac @ vector
        norm = np.linalg.norm(vector)
        if norm == 0 or not np.isfinite(norm):
            return float("-inf") if norm == 0 else float("inf")
        total += np.log(norm)
        vector /= norm
    return total / max(1, len(states) - 1)


def classify_outcome(compiled, tail: np.ndarray, params: np.ndarray, diverged_at: int, tolerance: float = 1e-9,
                     max_period: int = 64) -> dict:
    """``converged`` / ``periodic`` (with ``period``) / ``chaotic`` / ``diverged`` (with ``step``) from the last
    states. Differences are relative to ``1 + max |state|``; chaos needs a positive largest Lyapunov exponent
    along the tail (no period up to ``max_period`` found)."""
    if diverged_at >= 0:
        return {"name": "diverged", "step": int(diverged_at)}
    scale = 1.0 + np.abs(tail).max()
    close = lambda p: np.abs(tail[-2 * p:] - tail[-3 * p:-p]).max() <= tolerance * scale  # noqa: E731
    if len(tail) >= 3 and close(1):
        return {"name": "converged"}
    for period in range(2, max_period + 1):
        if 3 * period <= len(tail) and close(period):
            return {"name": "periodic", "period": period}
    exponent = largest_lyapunov(compiled, tail, params)
    if exponent > 1e-3:
        return {"name": "chaotic", "lyapunov": exponent}
    return {"name": "periodic", "period": None, "lyapunov": exponent,
            "note": "no period up to %d resolved within the steps; increase --steps" % max_period}


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def label_regimes(sharpness: np.ndarray, loss: np.ndarray, threshold: float, stride: int = 1,
                  diverged_at: int = -1, flat: float = 1e-4) -> list:
    """Regimes of a trajectory (module docstring). ``stride`` is the thinning of the arrays (``--every``);
    ``start``/``end`` are step numbers."""
    count = len(sharpness)
    if count < 2:
        return []
    with np.errstate(all="ignore"):  # overflowing runs carry inf in the loss; they are labelled divergence
        return _label_regimes(sharpness, loss, threshold, stride, diverged_at, flat, count)


def _label_regimes(sharpness, loss, threshold, stride, diverged_at, flat, count):
    # An even window cancels the period-2 oscillation of GD near 2/eta exactly, so trends are those of the mean.
    window = 2 * max(4, min(16, count // 200))
    smooth = _smooth(sharpness, window)
    change = np.gradient(smooth) / (threshold * stride)
    increments = np.diff(loss, prepend=loss[0])
    oscillating = np.zeros(count, bool)
    sign_flip = np.sign(increments[1:]) * np.sign(increments[:-1]) < 0
    for i in np.nonzero(sign_flip)[0]:
        oscillating[max(0, i - window): i + window] = True
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
                # The episode ends when the sharpness has stopped falling: that fall is the catapult's effect.
                while i + 1 < count and smooth[i + 1] < smooth[i] - flat * threshold * stride:
                    i += 1
                catapult[start:i + 1] = True
        i += 1
    seen_increase = False
    for t in range(count):
        if catapult[t]:
            labels[t] = "catapult"
        elif smooth[t] >= 0.9 * threshold and oscillating[t]:
            labels[t] = "edge of stability"
        elif abs(change[t]) < flat:
            labels[t] = "intermediate saturation"
        elif change[t] > 0 and smooth[t] < 0.9 * threshold:
            labels[t] = "progressive sharpening"
            seen_increase = True
        elif change[t] < 0 and not seen_increase and sharpness[t] < threshold:
            labels[t] = "early sharpness reduction"
        else:
            labels[t] = "edge of stability" if sharpness[t] >= 0.9 * threshold else "intermediate saturation"
    if diverged_at >= 0:
        start = count - 1
        while start > 0 and loss[start - 1] <= loss[start]:
            start -= 1
        labels[start:] = "divergence"
    runs = []
    for t, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = t
        else:
            runs.append([label, t, t])
    merged = []
    for label, start, end in runs:
        short = end - start + 1 < 3 and label not in ("catapult", "divergence")
        if merged and (short or merged[-1][0] == label):
            merged[-1][2] = end
        else:
            merged.append([label, start, end])
    return [{"name": label, "start": int(start * stride), "end": int(end * stride)} for label, start, end in merged]


def run(compiled, values: dict, initial: dict, steps: int, every: int = 1, tail: int = 512) -> dict:
    """Iterate the compiled map; return the JSON-ready dict of ``sharpness run`` (see the CLI docs)."""
    rows = steps // every + 1
    needed = rows * (compiled.dimension + 2) * 8
    if needed > MAX_TRAJECTORY_BYTES:
        raise TrajectoryTooLarge(
            f"the trajectory would need {needed / 1024 ** 3:.1f} GiB; thin it with --every "
            f"{int(np.ceil(needed / MAX_TRAJECTORY_BYTES * every))} or more")
    params = compiled.parameter_vector(values)
    start = np.array([float(initial[s]) for s in compiled.state_symbols])
    thinned, tail_states, diverged_at = compiled.trajectory_kernel(start, params, steps, every, tail)
    valid = thinned[np.isfinite(thinned).all(axis=1)]
    sharpness = _evaluate(compiled.sharpness_numpy, valid, params)
    loss = _evaluate(compiled.loss_numpy, valid, params)
    regime_every = 1 if steps <= FULL_RESOLUTION_REGIME_STEPS else every
    if regime_every == every:
        regime_sharpness, regime_loss = sharpness, loss
    else:
        full = compiled.trajectory_kernel(start, params, steps, 1, tail)[0]
        full = full[np.isfinite(full).all(axis=1)]
        regime_sharpness = _evaluate(compiled.sharpness_numpy, full, params)
        regime_loss = _evaluate(compiled.loss_numpy, full, params)
    threshold = 2.0 / float(compiled.step_size(*params))
    outcome = classify_outcome(compiled, tail_states, params, diverged_at)
    last = tail_states[-1]
    final = {name: float(v) for name, v in zip(compiled.state_names, last)}
    final["sharpness"] = float(_evaluate(compiled.sharpness_numpy, last[None, :], params)[0])
    final["loss"] = float(_evaluate(compiled.loss_numpy, last[None, :], params)[0])
    trajectory = {"step": (np.arange(len(valid)) * every).tolist()}
    trajectory.update({name: valid[:, i].tolist() for i, name in enumerate(compiled.state_names)})
    trajectory["sharpness"] = sharpness.tolist()
    trajectory["loss"] = loss.tolist()
    return {
        "model": compiled.model.name, "parameterization": compiled.derivation.parameterization,
        "parameters": {n: float(v) for n, v in zip(compiled.parameter_names, params)},
        "initial": {n: float(v) for n, v in zip(compiled.state_names, start)},
        "steps": steps, "every": every, "threshold": threshold,
        "final": final, "outcome": outcome, "gap": threshold - final["sharpness"],
        "regimes": label_regimes(regime_sharpness, regime_loss, threshold, regime_every, diverged_at),
        "regime_resolution": regime_every,
        "trajectory": trajectory,
    }


def orbit_diagram(compiled, values: dict, initial: dict, vary: str, low: float, high: float, points: int,
                  steps: int, keep: int) -> dict:
    """Last ``keep`` of ``steps`` states for ``points`` values of parameter ``vary`` in ``[low, high]``.

    Returns ``{"values": (points,), "orbits": (points, keep, d), "diverged": bool mask}``.
    """
    index = compiled.parameter_names.index(vary)
    base = compiled.parameter_vector(values)
    grid = np.linspace(low, high, points)
    params = np.tile(base, (points, 1))
    params[:, index] = grid
    start = np.array([float(initial[s]) for s in compiled.state_symbols])
    orbits = compiled.orbit_kernel(np.tile(start, (points, 1)), params, steps, keep)
    diverged = ~np.isfinite(orbits).all(axis=(1, 2))
    return {"values": grid, "orbits": orbits, "diverged": diverged}


BASIN_CLASSES = ("converged", "periodic", "other", "diverged")


def classify_orbits(orbits: np.ndarray, tolerance: float = 1e-9):
    """Codes into :data:`BASIN_CLASSES` and periods (0 if none) of lanes ``orbits`` (lanes, kept steps, d):
    diverged if any state is non-finite, else the smallest p <= kept/3 with |s_t - s_{t-p}| <= tolerance ×
    (1 + max |s|) over the kept steps (p = 1 is converged), else ``other``."""
    lanes, keep = orbits.shape[:2]
    finite = np.isfinite(orbits).all(axis=(1, 2))
    classes = np.full(lanes, BASIN_CLASSES.index("other"))
    periods = np.zeros(lanes, dtype=int)
    scale = 1 + np.nan_to_num(np.abs(orbits), posinf=0).max(axis=(1, 2))
    with np.errstate(invalid="ignore"):  # diverged lanes hold inf - inf; they are classified below
        for period in range(keep // 3, 0, -1):  # the smallest period wins: it is assigned last
            close = (np.abs(orbits[:, period:] - orbits[:, :-period]).max(axis=(1, 2)) <= tolerance * scale) & finite
            periods[close] = period
    classes[periods == 1] = BASIN_CLASSES.index("converged")
    classes[periods > 1] = BASIN_CLASSES.index("periodic")
    classes[~finite] = BASIN_CLASSES.index("diverged")
    periods[~finite] = 0
    return classes, periods


def basin(compiled, values: dict, initial: dict, axes, steps: int, keep: int = 64,
          tolerance: float = 1e-9) -> dict:
    """Where GD from a grid of initial states ends up.

    ``axes`` is two ``(state name, low, high, points)``; the other state variables start at ``initial``. Each
    lane is classified from its last ``keep`` states as ``converged``, ``periodic`` (period <= keep/3),
    ``other`` (bounded, neither) or ``diverged`` (non-finite); ``final_sharpness`` is NaN where diverged.
    Returns ``{"axes", "grids", "classes" (points_y, points_x) codes into BASIN_CLASSES, "final_sharpness",
    "period"}``.
    """
    (name_x, lo_x, hi_x, n_x), (name_y, lo_y, hi_y, n_y) = axes
    grid_x, grid_y = np.linspace(lo_x, hi_x, n_x), np.linspace(lo_y, hi_y, n_y)
    mesh_x, mesh_y = np.meshgrid(grid_x, grid_y)
    start = np.tile([float(initial[s]) for s in compiled.state_symbols], (mesh_x.size, 1))
    start[:, compiled.state_names.index(name_x)] = mesh_x.ravel()
    start[:, compiled.state_names.index(name_y)] = mesh_y.ravel()
    params = np.tile(compiled.parameter_vector(values), (mesh_x.size, 1))
    keep = min(keep, steps)
    orbits = compiled.orbit_kernel(start, params, steps, keep)
    classes, periods = classify_orbits(orbits, tolerance)
    finite = classes != BASIN_CLASSES.index("diverged")
    last = orbits[:, -1, :]
    with np.errstate(all="ignore"):
        sharpness = np.asarray(compiled.sharpness_numpy(*last.T, *params.T), dtype=float)
    sharpness = np.where(finite, sharpness, np.nan)
    shape = (n_y, n_x)
    return {"axes": (name_x, name_y), "grids": (grid_x, grid_y), "classes": classes.reshape(shape),
            "final_sharpness": sharpness.reshape(shape), "period": periods.reshape(shape),
            "threshold": 2.0 / float(compiled.step_size(*compiled.parameter_vector(values)))}


def lyapunov_spectrum(compiled, values: dict, initial: dict, steps: int, transient: int = 1000,
                      batches: int = 20) -> dict:
    r"""All Lyapunov exponents by Benettin's method (Benettin et al. 1980; Shimada & Nagashima 1979):
    :math:`Q_{t+1} R_{t+1} = J(s_t) Q_t`, :math:`\lambda_i = \langle \log |R_{ii}| \rangle`.

    ``stderr`` is the standard error of the batch means over ``batches`` equal batches (batch-means method).
    """
    params = compiled.parameter_vector(values)
    d = compiled.dimension
    state = np.array([float(initial[s]) for s in compiled.state_symbols])
    kernel = compiled.tangent_kernel
    logs, final_state, diverged_at = kernel(state, params, transient, steps)
    if diverged_at >= 0:
        return {"exponents": None, "stderr": None, "diverged_at": int(diverged_at)}
    per_batch = logs[: (steps // batches) * batches].reshape(batches, -1, d).mean(axis=1)
    exponents = per_batch.mean(axis=0)
    order = np.argsort(-exponents)
    stderr = per_batch.std(axis=0, ddof=1) / np.sqrt(batches)
    return {"exponents": exponents[order].tolist(), "stderr": stderr[order].tolist(), "diverged_at": None,
            "final": {n: float(v) for n, v in zip(compiled.state_names, final_state)}}
