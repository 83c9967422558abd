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
    names = [r.name for r in result.regimes]
    assert "progressive sharpening" in names and "edge of stability" in names
    assert names.index("progressive sharpening") < names.index("edge of stability")
    steps = np.array(result.sharpness["step"])
    late = np.array(result.sharpness["value"])[steps >= 400]
    assert abs(np.median(late) / result.threshold - 1) < 0.10


def test_large_step_diverges_and_is_labelled():
    pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    result = nn.train("digits", "cnn", 0.4, 50, width=64, measure_every=5, samples=256)
    assert result.outcome.name == "diverged"


# The JSON of `sharpness nn --json` for one eta, key by key in today's order (the typed Training must not change it).
# Issue 22 added the optimizer's settings (batch_size, beta1, beta2, eps), regimes_of, the batch and the
# preconditioned sharpness and the threshold ratios, each beside its kin; issue 25 the parameterization and the
# initialization scale, beside the width.
JSON_KEYS = ["dataset", "data", "arch", "model", "task", "dtype", "optimizer", "beta", "batch_size", "beta1", "beta2",
             "eps", "eta", "steps", "tol", "width", "parameterization", "init_scale", "seed", "top_k", "measure_every", "parameters", "samples",
             "samples_total", "samples_note", "threshold", "regimes_of", "initial_sharpness", "eta_lam0", "outcome",
             "regimes", "loss", "sharpness", "top_eigenvalues", "batch_sharpness", "preconditioned_sharpness",
             "threshold_ratios", "hvps_per_measurement", "hvps_mean", "eigen_converged", "eos_window",
             "power_spectrum", "period", "period_detail", "elapsed", "final", "uv_prediction"]
PROPERTIES = ["initial_sharpness", "eta_lam0", "hvps_mean", "period", "final", "threshold_ratios"]


def documented_attributes(cls) -> list:
    """The names of the numpy-style ``Attributes`` section of a docstring (``name, other : type`` lines)."""
    import inspect
    import re

    text = inspect.getdoc(cls).split("Attributes\n----------\n", 1)[1]
    return [name.strip() for line in text.splitlines() if re.match(r"^\w[\w, ]* : ", line)
            for name in line.split(" : ")[0].split(",")]


def test_training_fields_are_the_documented_attributes():
    """Every field and property of Training is documented in its Attributes section (which help() shows) and
    nothing else is; together they are exactly the JSON's keys."""
    import dataclasses
    import pydoc

    documented = documented_attributes(nn.Training)
    fields = [f.name for f in dataclasses.fields(nn.Training)]
    assert len(documented) == len(set(documented))
    assert set(documented) == set(fields) | set(PROPERTIES)
    assert all(isinstance(getattr(nn.Training, name), property) for name in PROPERTIES)
    assert set(documented) == set(JSON_KEYS)
    page = pydoc.render_doc(nn.Training)
    assert all(name in page for name in documented)


def test_to_dict_and_from_dict_round_trip(tiny_data, regression_data):
    """A completed, a diverged, a heavy-ball run, one with an edge-of-stability window, its spectrum and period
    detail, a mini-batch and an Adam run: Training.from_dict(JSON of to_dict()) equals the run, and its to_dict() is
    the same JSON text."""
    import json

    pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    settings = dict(data=tiny_data, arch="mlp", width=8, steps=5)
    runs = [nn.train(eta=0.1, **settings), nn.train(eta=100.0, measure_every=1, top_k=2, **settings),
            nn.train(eta=0.2, optimizer="heavy-ball", beta=0.5, **settings),
            nn.train(data=regression_data, arch="mlp", width=8, steps=200, eta=0.8, measure_every=1),
            nn.train(eta=0.2, optimizer="sgd", batch_size=6, **settings),
            nn.train(eta=0.01, optimizer="adam", beta1=0.5, **settings)]
    assert [r.outcome.name for r in runs] == ["completed", "diverged", "completed", "completed", "completed",
                                              "completed"]
    assert runs[4].batch_sharpness["mean"][0] is not None and runs[5].preconditioned_sharpness["value"][0] is None
    assert runs[1].outcome.step is not None and runs[2].beta == 0.5 and runs[0].beta is None
    assert runs[3].eos_window is not None and runs[3].power_spectrum is not None
    for run in runs:
        text = json.dumps(run.to_dict())
        back = nn.Training.from_dict(json.loads(text))
        assert back == run
        assert json.dumps(back.to_dict()) == text
        assert list(run.to_dict()) == JSON_KEYS
        assert isinstance(back.outcome, nn.training.Outcome) and all(isinstance(r, nn.training.Regime)
                                                                      for r in back.regimes)
    assert repr(runs[1]).startswith("Training(mlp on ") and "outcome diverged at step" in repr(runs[1])
    assert "\n" not in repr(runs[3])


def test_cli_json_is_the_run_field_by_field(capsys, tiny_data):
    """`sharpness nn --json` for one eta is the sweep's Training written field by field in today's key order
    (derived entries recomputed here from the fields); the wall time ``elapsed`` is left out."""
    import json

    pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
    from numerics.cli import main

    assert main(["nn", "--data", tiny_data, "--arch", "mlp", "--width", "8", "--steps", "5", "--set", "eta=0.1",
                 "--measure-every", "1", "--json", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    run = nn.eta_sweep([0.1], data=tiny_data, arch="mlp", width=8, steps=5, measure_every=1)[0]
    values = run.sharpness["value"]
    derived = {"initial_sharpness": values[0], "eta_lam0": 0.1 * values[0],
               "hvps_mean": float(np.mean(run.hvps_per_measurement)), "period": run.period_detail["period"],
               "final": {"loss": run.loss[-1], "sharpness": values[-1]},
               "threshold_ratios": {"sharpness": {
                   "threshold": 20.0, "final": values[-1],
                   "median": float(np.median([v / 20.0 for s, v in zip(run.sharpness["step"], values) if s >= 2.5])),
                   "peak": max(v / 20.0 for s, v in zip(run.sharpness["step"], values) if s >= 2.5)}},
               "outcome": run.outcome.to_dict(), "regimes": [r.to_dict() for r in run.regimes]}
    expected = {key: derived[key] if key in derived else getattr(run, key) for key in JSON_KEYS}
    assert list(printed) == JSON_KEYS
    printed.pop("elapsed"), expected.pop("elapsed")
    assert printed == json.loads(json.dumps(expected))
    assert printed["uv_prediction"] is not None
