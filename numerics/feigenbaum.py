r"""Feigenbaum's constants and the estimates of them from a cascade: ratios of flip gaps (delta), ratios of
distances on superstable orbits (alpha), their Aitken acceleration and the digits that agree.

Shared by :mod:`numerics.flips` (cascades), :mod:`numerics.branches` (continuation) and :mod:`numerics.plots`,
which is why it lives apart from each (Feigenbaum 1978; decimal expansions of OEIS A006890 and A006891).
"""
from __future__ import annotations

import math

import mpmath

FEIGENBAUM_DELTA = mpmath.mpf("4.669201609102990671853203820466201617258185577475768632745651343004134330211314737138689744023948013817165984855189815134408627142027932522312442988890890859944935463236713411532481714219947455644365823793202009561058330575458617652222070385410646749494284981453391726200568755665952339875603825637225")
FEIGENBAUM_ALPHA = mpmath.mpf("2.502907875095892822283902873218215786381271376727149977336192056779235340")


def correct_digits(estimate) -> int:
    """Number of significant digits of ``estimate`` that agree with Feigenbaum's delta."""
    error = abs(mpmath.mpf(estimate) - FEIGENBAUM_DELTA)
    return int(math.floor(-mpmath.log10(error / FEIGENBAUM_DELTA))) if error > 0 else 99


def aitken(sequence) -> list:
    r"""Aitken's :math:`\Delta^2` on a sequence whose error shrinks geometrically (terms with a zero second
    difference are skipped)."""
    out = []
    for i in range(len(sequence) - 2):
        denominator = (sequence[i + 2] - sequence[i + 1]) - (sequence[i + 1] - sequence[i])
        if denominator != 0:
            out.append(sequence[i + 2] - (sequence[i + 2] - sequence[i + 1]) ** 2 / denominator)
    return out


def alpha_estimates(distances) -> dict:
    r"""Ratio estimates :math:`\alpha_j = |d_j / d_{j+1}|` of Feigenbaum's :math:`\alpha` from the distances
    :math:`d_j` of the critical point to its nearest neighbour on the superstable orbit of period :math:`2^j`, and
    their acceleration by Aitken's :math:`\Delta^2` applied **twice**: the error of the ratios is a sum of two
    geometric sequences, :math:`(-1/\alpha)^j` (measured ratio of successive errors -0.3995 on ``uv-eos``) and
    then :math:`\delta^{-j}` (0.21 after one pass), and each pass removes one. Returns
    ``{"alpha", "alpha_aitken"}`` (lists; mpmath numbers if given)."""
    ratios = [abs(distances[i] / distances[i + 1]) for i in range(len(distances) - 1)]
    return {"alpha": ratios, "alpha_aitken": aitken(aitken(ratios))}


def alpha_correct_digits(estimate) -> int:
    """Number of significant digits of ``estimate`` that agree with Feigenbaum's alpha."""
    error = abs(mpmath.mpf(estimate) - FEIGENBAUM_ALPHA)
    return int(math.floor(-mpmath.log10(error / FEIGENBAUM_ALPHA))) if error > 0 else 99
