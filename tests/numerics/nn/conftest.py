"""Small data files for the real-network tests (numerics.nn)."""
import numpy as np
import pytest


@pytest.fixture
def tiny_data(tmp_path):
    """20 examples of 4 features in 3 classes (an MLP of width 8 trains on them in milliseconds)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, X=rng.standard_normal((20, 4)), y=rng.integers(0, 3, 20))
    return str(path)


@pytest.fixture
def regression_data(tmp_path):
    """30 examples of 3 features with 2 float targets: an MLP of width 8 at eta = 0.8 reaches a long edge of
    stability window within 200 steps."""
    rng = np.random.default_rng(1)
    path = tmp_path / "regression.npz"
    np.savez(path, X=rng.standard_normal((30, 3)), y=rng.standard_normal((30, 2)))
    return str(path)
