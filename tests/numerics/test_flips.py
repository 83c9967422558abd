"""Flip points (numerics.flips) against the ones derivable by hand and the EoS reduction."""
import mpmath
import sympy as sp

from analysis import load_model
from numerics import cascade
from numerics.feigenbaum import FEIGENBAUM_DELTA


def test_first_flip_by_multiplier_condition_equals_hand_derivation():
    """The multiplier condition reproduces k = 1 (z = +-1: mu = 1 - 2k = -1) to 1e-35, and the period-2 flip at
    k = sqrt(5) - 1 (2-cycle z1 + z2 analysis of the cubic map) to 1e-35 (refined at 40 digits)."""
    result = cascade("uv-eos", "k", doublings=8, digits=40)
    flips = result.bifurcations
    assert flips[0].exact == 1
    assert abs(flips[0].parameter - 1) < mpmath.mpf(10) ** -35
    with mpmath.workdps(40):
        assert abs(flips[1].parameter - (mpmath.sqrt(5) - 1)) < mpmath.mpf(10) ** -35
    assert [f.period for f in flips] == [1, 2, 4, 8, 16, 32, 64, 128]
    # Ratios approach Feigenbaum's delta: error shrinks by ~delta each doubling; the 6th ratio is within 1e-4.
    errors = [abs(d - FEIGENBAUM_DELTA) for d in result.delta]
    assert errors[-1] < 1e-4
    assert all(b < a for a, b in zip(errors, errors[1:]))


def test_uv_flip_matches_eos_reduction():
    """The first flip of uv-eos (k = 1) is, through the derived k = eta x y (muP), eta = 1/(x y) on uv."""
    uv = load_model("uv", "mup")
    (aligned, _) = uv.eos_map.reductions
    x, y = (uv.model.parameter(name).symbol for name in ("x", "y"))
    assert sp.simplify(aligned.first_flip_step[0] - 1 / (x * y)) == 0
