"""Top-k Hessian eigenvalues of real networks (numerics.nn.spectrum, `sharpness nn --top-k`) against closed forms and an
explicit autograd Hessian; the user's data (--data) and model (--model) and their one-line errors."""
import json

import numpy as np
import pytest

from analysis.errors import UserInputError
from numerics.cli import main

torch = pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")

from numerics import nn  # noqa: E402
from numerics.nn.spectrum import SharpnessTracker, hessian_eigenvalues, top_eigenpairs  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """One PyTorch and one BLAS thread, as `sharpness nn` runs (tiny networks on a shared 2-core machine)."""
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def linear_reference(inputs: np.ndarray, outputs: int, k: int) -> np.ndarray:
    """The Hessian of L = (1/2N) sum |W x + b - y|^2 over (W, b) is block-diagonal, one block (1/N) X~^T X~ per
    output (X~ = [X, 1]): its spectrum is that of (1/N) X~^T X~, each eigenvalue ``outputs`` times."""
    tilde = np.hstack([inputs, np.ones((len(inputs), 1))])
    spectrum = np.linalg.eigvalsh(tilde.T @ tilde / len(inputs))
    return np.sort(np.repeat(spectrum, outputs))[::-1][:k]


@pytest.fixture
def regression_file(tmp_path):
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((50, 30)) * np.linspace(0.2, 2.0, 30)  # distinct scales: a spread spectrum
    path = tmp_path / "data.npz"
    np.savez(path, X=inputs, y=rng.standard_normal((50, 2)))
    return path, inputs


def test_linear_network_top_k_through_data(capsys, regression_file):
    """--data with --arch linear: the top 3 eigenvalues (the top one twice: two outputs) equal numpy's eigvalsh of
    (1/N) X~^T X~ to 1e-10 relative (float64 round-off amplified by the 62 x 62 Hessian's conditioning; the solver
    runs to residual 1e-10, so its own error is below 1e-20)."""
    path, inputs = regression_file
    code, out, err = run(capsys, "nn", "--data", str(path), "--arch", "linear", "--set", "eta=0.01", "--steps", "2",
                         "--measure-every", "1", "--top-k", "3", "--tol", "1e-10", "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    expected = linear_reference(inputs, 2, 3)
    assert result["top_eigenvalues"]["step"] == [0, 1, 2]
    for values in result["top_eigenvalues"]["values"]:  # the Hessian of a linear model does not move
        np.testing.assert_allclose(values, expected, rtol=1e-10)
    assert result["samples"] == 50 and result["parameters"] == 62 and result["task"] == "regression"
    assert len(result["hvps_per_measurement"]) == 3 and min(result["hvps_per_measurement"]) >= 3


def test_linear_network_top_k_through_model(capsys, regression_file, tmp_path):
    """The same Hessian through --model PATH.py:FACTORY (FACTORY(input_shape, outputs) -> torch.nn.Linear)."""
    path, inputs = regression_file
    factory = tmp_path / "mine.py"
    factory.write_text("import torch\n\ndef make(input_shape, outputs):\n"
                       "    assert input_shape == (30,) and outputs == 2\n"
                       "    return torch.nn.Linear(input_shape[0], outputs)\n")
    code, out, err = run(capsys, "nn", "--data", str(path), "--model", f"{factory}:make", "--set", "eta=0.01",
                         "--steps", "0", "--top-k", "3", "--tol", "1e-10", "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    np.testing.assert_allclose(result["top_eigenvalues"]["values"][0], linear_reference(inputs, 2, 3), rtol=1e-10)
    assert result["model"] == f"{factory}:make" and result["arch"] is None


def test_largest_algebraic_against_full_autograd_hessian():
    """A 3-4-2 tanh MLP with targets -20 has a negative eigenvalue (-29.6) larger in magnitude than the top one
    (28.4): the top 3 *algebraic* eigenvalues equal eigvalsh of torch.autograd.functional.hessian (relative
    1e-10: round-off of a 26 x 26 Hessian, solver residual 1e-12)."""
    from torch.func import functional_call

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    inputs = torch.randn(12, 3, dtype=torch.float64)
    targets = -20 * torch.ones(12, 2, dtype=torch.float64)
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(vector):
        parameters, offset = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            parameters[name] = vector[offset:offset + size].reshape(shape)
            offset += size
        return 0.5 * ((functional_call(net, parameters, (inputs,)) - targets) ** 2).sum(dim=1).mean()

    spectrum = np.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat).numpy())
    assert -spectrum[0] > spectrum[-1] > 0  # the case where largest-magnitude and largest-algebraic differ
    result = hessian_eigenvalues(net, inputs, targets, k=3, tol=1e-12)
    np.testing.assert_allclose(result.values, spectrum[::-1][:3], rtol=1e-10)
    assert result.converged and result.vectors.shape == (26, 3)


def test_multiplicity_and_warm_start_on_a_matrix():
    """A symmetric operator with eigenvalues 7 (twice), 6.9 and -50: the block iteration returns [7, 7, 6.9]
    (a single-vector Lanczos cannot see a multiplicity); restarted from those vectors on a perturbed operator it
    needs fewer products than from scratch (warm start)."""
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    eigenvalues = np.concatenate([[-50.0, 7.0, 7.0, 6.9], rng.uniform(-3, 3, 296)])
    matrix = basis @ np.diag(eigenvalues) @ basis.T
    cold = top_eigenpairs(lambda v: matrix @ v, 300, 3, tol=1e-10)
    np.testing.assert_allclose(cold.values, [7.0, 7.0, 6.9], rtol=1e-12)
    noise = rng.standard_normal((300, 300)) * 1e-4
    moved = matrix + (noise + noise.T) / 2
    reference = np.linalg.eigvalsh(moved)[::-1][:3]
    cold_moved = top_eigenpairs(lambda v: moved @ v, 300, 3, tol=1e-10)
    warm = top_eigenpairs(lambda v: moved @ v, 300, 3, start=cold.vectors, tol=1e-10)
    np.testing.assert_allclose(warm.values, reference, rtol=1e-12)
    assert warm.hvps < cold_moved.hvps


def test_tracker_warm_starts_during_training():
    """SharpnessTracker called once per step on a small MLP: the top eigenvalue matches a cold solve at the same
    parameters (relative 1e-8), and warm-started measurements cost fewer products than the first (cold) one."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
    inputs = torch.randn(40, 8, dtype=torch.float64)
    targets = torch.randn(40, 3, dtype=torch.float64)
    tracker = SharpnessTracker(net, inputs, targets, k=2, tol=1e-6)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    for step in range(6):
        tracker(step)
        optimizer.zero_grad()
        nn.mse_loss(net(inputs), targets).backward()
        optimizer.step()
    cold = hessian_eigenvalues(net, inputs, targets, k=2, tol=1e-10)
    tracker(6)
    assert tracker.values[-1][0] == pytest.approx(cold.values[0], rel=1e-8)
    assert np.mean(tracker.hvps[1:]) < tracker.hvps[0]
    assert tracker.to_dict()["step"] == list(range(7))


def test_builtin_architectures_on_images(tmp_path):
    """Every built-in architecture builds for N x C x H x W data (and for vectors where it can) with the right
    output shape; cnn on non-square vectors is a one-line error."""
    images = torch.zeros(2, 1, 6, 6, dtype=torch.float64)
    for arch in nn.ARCHITECTURES:
        model = nn.build(arch, 16, 0, (1, 6, 6), 3)
        assert model(images).shape == (2, 3)
    assert nn.build("resnet", 16, 0, (7,), 2)(torch.zeros(2, 7, dtype=torch.float64)).shape == (2, 2)
    with pytest.raises(UserInputError, match="needs images"):
        nn.build("cnn", 16, 0, (7,), 2)


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("case, fragment", [
    ("missing", "missing key(s) y"),
    ("shape", "X must have shape"),
    ("nan", "X holds NaN"),
    ("nan_y", "y holds NaN"),
    ("mismatch", "X has 10 examples but y has 9"),
    ("labels2d", "integer labels y must have shape (N,)"),
    ("not_npz", "not a readable .npz"),
    ("absent", "no such file"),
])
def test_bad_data_files_one_line_errors(capsys, tmp_path, case, fragment):
    """Bad --data files: one line on stderr, exit status 2, no traceback, before any training."""
    good = np.zeros((10, 4))
    path = tmp_path / "bad.npz"
    if case == "missing":
        _write(path, X=good, labels=np.zeros(10, int))
    elif case == "shape":
        _write(path, X=np.zeros(10), y=np.zeros(10, int))
    elif case == "nan":
        bad = good.copy()
        bad[3, 1] = np.nan
        _write(path, X=bad, y=np.zeros(10, int))
    elif case == "nan_y":
        _write(path, X=good, y=np.array([np.inf] + [0.0] * 9))
    elif case == "mismatch":
        _write(path, X=good, y=np.zeros(9, int))
    elif case == "labels2d":
        _write(path, X=good, y=np.zeros((10, 2), int))
    elif case == "not_npz":
        path.write_text("X,y\n1,2\n")
    else:
        path = tmp_path / "absent.npz"
    code, out, err = run(capsys, "nn", "--data", str(path), "--set", "eta=0.1", "--steps", "5")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fragment in err


@pytest.mark.parametrize("body, fragment", [
    ("def make(input_shape, outputs):\n    return torch.zeros(3)\n", "returned Tensor, not a torch.nn.Module"),
    ("def make(input_shape, outputs):\n    return None\n", "returned NoneType, not a torch.nn.Module"),
    ("def other(input_shape, outputs):\n    return torch.nn.Linear(4, 2)\n", "defines no function 'make'"),
    ("def make(input_shape, outputs):\n    raise RuntimeError('boom')\n", "raised RuntimeError: boom"),
    ("def make(input_shape, outputs):\n    return torch.nn.Linear(4, 5)\n", "output per example has shape (5,)"),
    ("import not_a_module_anywhere\n", "importing"),
])
def test_bad_models_one_line_errors(capsys, tmp_path, body, fragment):
    """--model files that do not give a usable torch.nn.Module: one line, exit status 2, no traceback."""
    data = _write(tmp_path / "d.npz", X=np.zeros((10, 4)), y=np.zeros((10, 2)))
    factory = tmp_path / "mine.py"
    factory.write_text("import torch\n" + body)
    code, out, err = run(capsys, "nn", "--data", data, "--model", f"{factory}:make", "--set", "eta=0.1", "--steps", "3")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fragment in err


@pytest.mark.parametrize("argv, fragment", [
    (["--arch", "transformer"], "unknown architecture 'transformer'"),
    (["--dtype", "float16"], "unknown dtype 'float16'"),
    (["--optimizer", "lamb"], "unknown optimizer 'lamb'"),
    (["--optimizer", "sgd"], "--optimizer sgd needs the batch size: --batch-size B"),
    (["--optimizer", "adam", "--batch-size", "4"], "adam runs full batch"),
    (["--optimizer", "adam", "--set", "beta=0.9"], "not adam (Adam's momentum is --set beta1=B)"),
    (["--optimizer", "adam", "--set", "beta1=1"], "beta1 must be a number in [0, 1)"),
    (["--optimizer", "adam", "--set", "beta2=x"], "beta2 must be a number in [0, 1)"),
    (["--optimizer", "adam", "--set", "eps=0"], "eps must be a positive number"),
    (["--optimizer", "heavy-ball", "--set", "beta=0.5", "--set", "eps=1e-8"], "eps applies to --optimizer adam"),
    (["--set", "beta3=0.5"], "unknown parameter 'beta3'"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--batch-size", "2000"], "--batch-size must be at most the 1797 examples trained on"),
    (["--batch-size", "4", "--central-flow"], "not --batch-size"),
    (["--optimizer", "heavy-ball"], "needs the momentum: --set beta=VALUE"),
    (["--optimizer", "nesterov", "--set", "beta=1.5"], "beta must be a number in [0, 1)"),
    (["--set", "beta=0.5"], "applies to --optimizer heavy-ball or nesterov"),
    (["--vary", "eta=0.1:0.2:x"], "--vary 'eta=0.1:0.2:x': expected NAME=A:B:N"),
    (["--vary", "eta=-0.1:0.2:3"], "eta must be a positive number"),
    (["--model", "nofile.py"], "--model must be PATH.py:FACTORY"),
])
def test_bad_options_one_line_errors(capsys, argv, fragment):
    if "--vary" not in argv:
        argv = argv + ["--set", "eta=0.1"]
    code, out, err = run(capsys, "nn", "--steps", "3", *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err


def test_float32_agrees_with_float64(capsys, regression_file):
    """--dtype float32: the same linear-network eigenvalues to 1e-4 relative (float32 products carry ~1e-7 relative
    errors; the float32 solver stops at residual 1e-3 of the top eigenvalue, so eigenvalue errors ~1e-6 S / gap)."""
    path, inputs = regression_file
    code, out, err = run(capsys, "nn", "--data", str(path), "--arch", "linear", "--set", "eta=0.01", "--steps", "0",
                         "--top-k", "3", "--dtype", "float32", "--json", "--quiet")
    assert code == 0, err
    result = json.loads(out)
    assert result["dtype"] == "float32"
    np.testing.assert_allclose(result["top_eigenvalues"]["values"][0], linear_reference(inputs, 2, 3), rtol=1e-4)
