r"""The edge-of-stability observables of a sharpness trajectory (Kalra, He & Barkeshli, arXiv 2311.02076, Sec. 7).

Over the longest *edge of stability* regime (the EoS window, :func:`eos_window`), measured every step: the Welch
power spectrum (:func:`power_spectrum`) and the period of the oscillation (:func:`oscillation_period`).
"""
from __future__ import annotations

import numpy as np

PERIODS = (2, 4, 8, 16, 32)
EXPLAINED = 0.9  # fraction of the detrended variance a period must explain (oscillation_period)
MIN_WINDOW = 128  # measurements of an EoS window needed to decide a period (4 x the largest period tested)


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
