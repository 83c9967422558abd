"""Real networks on digits (PyTorch, CPU): the sharpness by the block Krylov solver and the edge of stability."""
import numpy as np
import pytest

from numerics import nn


@pytest.fixture(autouse=True)
def one_thread():
    """One PyTorch and one BLAS thread (as `sharpness nn` runs): oversubscribed threads on a shared 2-core machine
    cost a factor of 3 on these tiny networks."""
    try:
        import torch
    except ImportError:  # the numpy-only tests still run
        yield
        return
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


def test_top_eigenvalue_is_largest_algebraic():
    """An operator with a large negative eigenvalue: the solver returns the top algebraic one (rel 1e-10)."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    eigenvalues = np.concatenate([[-50.0, 7.0], rng.uniform(-3, 3, 58)])
    matrix = basis @ np.diag(eigenvalues) @ basis.T
    assert nn.top_eigenvalue(lambda v: matrix @ v, 60, 30) == pytest.approx(7.0, rel=1e-10)


def test_sharpness_against_eigvalsh_on_a_small_network():
    """30 HVPs on a 43-parameter MLP equal eigvalsh of the full autograd Hessian (relative 1e-8)."""
    torch = pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    inputs = torch.randn(20, 4, dtype=torch.float64)
    targets = torch.randn(20, 3, dtype=torch.float64)
    params = list(model.parameters())
    shapes = [p.shape for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of_flat(vector):
        chunks, offset = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            chunks.append(vector[offset:offset + size].reshape(shape))
            offset += size
        hidden = torch.tanh(inputs @ chunks[0].T + chunks[1])
        return 0.5 * ((hidden @ chunks[2].T + chunks[3] - targets) ** 2).sum(dim=1).mean()

    hessian = torch.autograd.functional.hessian(loss_of_flat, flat).numpy()
    expected = np.linalg.eigvalsh(hessian)[-1]
    assert nn.sharpness(model, inputs, targets, 30) == pytest.approx(expected, rel=1e-8)


def test_mlp_reaches_the_edge_of_stability():
    """MLP on 512 digits at eta = 0.15 (eta lam0 ~ 1.06): progressive sharpening, then the sharpness hovers at
    2/eta; its median over steps 400-800 is within 10 % of 2/eta (measured 1.063)."""
    pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    result = nn.train("digits", "mlp", 0.15, 800, width=64, measure_every=5, samples=512)
    names = [r["name"] for r in result["regimes"]]
    assert "progressive sharpening" in names and "edge of stability" in names
    assert names.index("progressive sharpening") < names.index("edge of stability")
    steps = np.array(result["sharpness"]["step"])
    late = np.array(result["sharpness"]["value"])[steps >= 400]
    assert abs(np.median(late) / result["threshold"] - 1) < 0.10


def test_large_step_diverges_and_is_labelled():
    pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    result = nn.train("digits", "cnn", 0.4, 50, width=64, measure_every=5, samples=256)
    assert result["outcome"]["name"] == "diverged"
