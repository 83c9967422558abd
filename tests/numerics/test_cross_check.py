"""Finite-width parameter-space GD (numpy; PyTorch when installed) against the derived function-space map."""
import numpy as np
import pytest

from analysis import get_model, load_model
from numerics import crosscheck, width_scan
from numerics.parameter_space import ParameterSpaceGD


@pytest.mark.parametrize("parameterization", ["sp", "mup"])
@pytest.mark.parametrize("width", [1, 3, 64, 4096])
def test_round_off_agreement_over_100_steps(parameterization, width):
    """Converging regime (eta lam0 < 2): the map and parameter-space GD agree to 1e-9 or better over 100 steps
    (measured: ~1e-13 and below), the sharpness by Lanczos (eigsh 'LA' on HVPs) to relative 1e-9."""
    result = crosscheck(load_model("uv", parameterization), values={"eta": "0.4", "y": "1"}, width=width, steps=100,
                        seed=width, use_torch=False)
    assert result.outcome["name"] == "completed" and result.compared_steps == 101
    assert result.max_abs_error["f"] <= 1e-9 and result.max_abs_error["lam"] <= 1e-9
    assert result.max_rel_error_sharpness <= 1e-9


def test_parameter_space_sharpness_against_dense_eigvalsh():
    """With a large residual the UV Hessian has negative eigenvalues of nearly the top's magnitude (-r c, n - 1
    times, and the lower root of the 2x2 block); eigsh('LA') must still return the top one of the dense matrix.
    (For the UV Hessian the top is provably the largest in magnitude too; the case where 'LM' and 'LA' differ is
    tested on a general operator in tests/numerics/nn/test_training.py.)"""
    rng = np.random.default_rng(4)
    u, v = rng.standard_normal(40), rng.standard_normal(40)
    # The seed draws u then v with default_rng(seed): the same vectors as above. eta does not enter the Hessian.
    network = ParameterSpaceGD(get_model("uv"), "sp", {"eta": 0.5, "x": 1.0, "y": 30.0}, width=40, seed=4)
    np.testing.assert_array_equal(network.weights(), np.stack([u, v]))
    dense = np.column_stack([network.hvp(e) for e in np.eye(80)])
    spectrum = np.linalg.eigvalsh(dense)
    assert spectrum[0] < -0.5 * spectrum[-1]
    # rel 1e-10: Lanczos is asked for ~1e-14 (EIGSH_TOL); dense eigvalsh is backward stable.
    assert network.sharpness() == pytest.approx(spectrum[-1], rel=1e-10)


def test_chaotic_error_growth_matches_lyapunov():
    """muP, eta = 1.5, width 4, seed 0 ends on the chaotic EoS attractor: the map/GD discrepancy grows from
    round-off at the rate of the largest Lyapunov exponent of the compiled tangent map (within 5 %: a slope
    fitted over a finite window against a finite-time exponent)."""
    result = crosscheck(load_model("uv", "mup"), values={"eta": "1.5", "y": "1"}, width=4, steps=300, seed=0,
                        use_torch=False)
    assert result.lyapunov > 0.3
    assert result.error_growth_rate == pytest.approx(result.lyapunov, rel=0.05)


def test_divergence_is_labelled():
    result = crosscheck(load_model("uv", "mup"), values={"eta": "3", "y": "1"}, width=64, steps=100, seed=0,
                        use_torch=False)
    assert result.outcome["name"] == "diverged" and result.outcome["step"] < 20
    assert np.isfinite(result.max_abs_error["f"])


def test_width_scan_sp_depends_on_width_mup_does_not():
    """muP: from width 16 on, the run ends on the same state (the map has no n and f0 -> 0); SP: the final NTK
    changes with n (the map carries x^2/n)."""
    scan = {p: width_scan(load_model("uv", p), [16, 256, 4096], values={"eta": "1.1", "y": "1"}, steps=300,
                          seed=0) for p in ("sp", "mup")}
    mup = [row.final["lam"] for row in scan["mup"].rows]
    sp_ = [row.final["lam"] for row in scan["sp"].rows]
    # 1e-6: muP runs from initial states that differ by O(1/sqrt(n)) in f and converge to the same point.
    assert max(mup) - min(mup) < 1e-6
    assert max(sp_) - min(sp_) > 0.1
    # 1e-9: round-off agreement, as in test_round_off_agreement_over_100_steps.
    assert all(max(r.errors["max_abs_error_f"], r.errors["max_abs_error_lam"]) < 1e-9 for p in scan for r in scan[p].rows)
    # The typed result is the JSON of `sharpness width-scan --json`, key for key and in order (the flat row keys
    # of before: final_<state>, final_sharpness, the max_* errors, check_outcome).
    row = scan["sp"].to_dict()["rows"][0]
    assert list(row) == ["width", "initial", "outcome", "regimes", "final_f", "final_lam", "final_sharpness",
                         "max_abs_error_f", "max_abs_error_lam", "max_rel_error_sharpness", "check_outcome"]
    assert row["final_lam"] == scan["sp"].rows[0].final["lam"] and row["outcome"] == scan["sp"].rows[0].outcome.to_dict()


def test_torch_path_agrees():
    pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    result = crosscheck(load_model("uv", "sp"), values={"eta": "0.5", "y": "1"}, width=32, steps=50, seed=3,
                        use_torch=True)
    # 1e-9: autograd and the derived map are both float64; only round-off separates them.
    assert result.torch["max_abs_error_f"] <= 1e-9 and result.torch["max_rel_error_sharpness"] <= 1e-9
