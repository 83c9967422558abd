"""Parameterizations of the built-in networks (``sharpness nn --parameterization``, ``--init-scale``;
numerics.nn.architectures): the ``uv`` architecture on one example is the UV model, ``ntk`` its SP map and ``mup``
its muP map, at round-off, through ``nn`` itself; the MLP's initial sharpness under muP does not grow with the width,
under SP and PyTorch's default it does; the default stays PyTorch's initialization, bit for bit."""
import json

import numpy as np
import pytest

from analysis import load_model
from analysis.errors import UserInputError
from numerics.cli import main
from numerics.iterated_map import IteratedMap

torch = pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")
from numerics import nn  # noqa: E402

# Both sides compute the same exact map in float64, one in function space (the compiled UV map), one on the 2n
# weights (PyTorch's SGD step, autograd): each step differs by a few ulps, and over 30 steps of a non-chaotic orbit
# (converging, or one catapult) the Jacobian amplifies them by at most ~1e2 (measured: 1e-16 to 1e-14), so 1e-11
# relative to 1 + |state| is round-off with a margin of 1e3 and far below any difference of the maps (the sp run
# below leaves the UV SP map by 4e-5).
ROUND_OFF = 1e-11
STEPS = 30


def one_example(tmp_path, x=1.0, y=1.0) -> str:
    path = tmp_path / "one.npz"
    np.savez(path, X=np.array([[x]]), y=np.array([y]))
    return str(path)


def network_orbit(parameterization, width, eta, steps=STEPS, seed=0, init_scale=1.0, x=1.0, y=1.0):
    """``(f, lam)`` at every step of GD (torch.optim.SGD at lr eta, as numerics.nn.train steps) on the uv
    architecture, lam = |grad_w f|^2, the NTK in the trainable weights (the learning-rate metric)."""
    net = nn.build("uv", width, seed, (1,), 1, parameterization=parameterization, init_scale=init_scale)
    inputs = torch.tensor([[x]], dtype=torch.float64)
    targets = torch.tensor([[y]], dtype=torch.float64)
    params = list(net.parameters())
    optimizer = torch.optim.SGD(params, lr=eta)
    f, lam = [], []
    for _ in range(steps + 1):
        out = net(inputs)[0, 0]
        gradient = torch.autograd.grad(out, params)
        f.append(out.item())
        lam.append(sum(float((g ** 2).sum()) for g in gradient))
        optimizer.zero_grad()
        nn.mse_loss(net(inputs), targets).backward()
        optimizer.step()
    return np.array(f), np.array(lam)


def uv_orbit(parameterization, width, eta, f0, lam0, steps=STEPS, y=1.0):
    return IteratedMap(load_model("uv", parameterization), values={"eta": eta, "n": width, "y": y}).run(
        steps, init={"f": f0, "lam": lam0})


def relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (1 + np.abs(np.asarray(b)))))


@pytest.mark.parametrize("parameterization, uv, width, eta", [
    ("ntk", "sp", 64, 0.5), ("ntk", "sp", 64, 1.2), ("ntk", "sp", 1024, 1.2),
    ("mup", "mup", 64, 0.5), ("mup", "mup", 64, 1.2), ("mup", "mup", 1024, 0.9)])
def test_uv_architecture_is_the_uv_model(parameterization, uv, width, eta):
    """ntk is the UV model's SP map (f = v.u/sqrt(n), u, v ~ N(0, 1), one rate), mup its muP map (f = v.u/n, rate
    eta n on u, v ~ N(0, 1)): f and lam at every step, from the network's own start, at round-off. eta = 1.2 starts
    at eta*lam0 = 2.5, a catapult in SP and the edge of stability in muP."""
    f, lam = network_orbit(parameterization, width, eta)
    orbit = uv_orbit(uv, width, eta, f[0], lam[0])
    assert relative(f, orbit.trajectory["f"]) < ROUND_OFF
    assert relative(lam, orbit.trajectory["lam"]) < ROUND_OFF
    assert abs(lam[0] - 2) < 6 / np.sqrt(width)  # |u|^2 + |v|^2 = 2n on average, chi-square spread 2/sqrt(n)


def test_sp_is_not_the_uv_models_sp():
    """Yang & Hu's sp (W ~ N(0, 1/fan_in), one rate) puts the rate eta n on the UV model's v: its lam0 is
    1 + n on average (here 81), not 2, and its orbit is not the UV SP map's."""
    f, lam = network_orbit("sp", 64, 0.01)
    assert 40 < lam[0] < 90  # |u|^2 + n |w_v|^2 with u ~ N(0, 1), w_v ~ N(0, 1/64): 1 + 64 on average
    orbit = uv_orbit("sp", 64, 0.01, f[0], lam[0])
    assert relative(lam, orbit.trajectory["lam"]) > 1e5 * ROUND_OFF  # measured 4e-5: lam moves little at eta*lam0 0.8


def test_init_scale_scales_the_uv_start():
    """init_scale s multiplies every initial weight's standard deviation: under ntk the start is s u, s v with the
    same draws, so f0 scales by s^2 and lam0 by s^2, and the orbit is still the UV model's."""
    f1, lam1 = network_orbit("ntk", 64, 0.3, steps=0)
    f2, lam2 = network_orbit("ntk", 64, 0.3, init_scale=0.5)
    assert f2[0] == pytest.approx(0.25 * f1[0], rel=1e-14) and lam2[0] == pytest.approx(0.25 * lam1[0], rel=1e-14)
    orbit = uv_orbit("sp", 64, 0.3, f2[0], lam2[0])
    assert relative(f2, orbit.trajectory["f"]) < ROUND_OFF


def test_uv_architecture_through_the_cli(tmp_path, capsys):
    """``sharpness nn --arch uv --parameterization mup`` on one example: the loss at every step is (f - y)^2/2 of
    the UV muP map, and the measured sharpness (top Hessian eigenvalue in the weights, tol 1e-9: eigenvalue error
    ~1e-18 relative) its derived sharpness, both at round-off."""
    data = one_example(tmp_path)
    assert main(["nn", "--data", data, "--arch", "uv", "--width", "64", "--parameterization", "mup", "--set",
                 "eta=1.2", "--steps", str(STEPS), "--measure-every", "1", "--tol", "1e-9", "--json", "--quiet"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert (run["parameterization"], run["init_scale"], run["parameters"]) == ("mup", 1.0, 128)
    f, lam = network_orbit("mup", 64, 1.2, steps=0)
    orbit = uv_orbit("mup", 64, 1.2, f[0], lam[0])
    assert relative(run["loss"], orbit.trajectory["loss"]) < ROUND_OFF
    assert relative(run["sharpness"]["value"], orbit.trajectory["sharpness"]) < ROUND_OFF
    assert run["uv_prediction"]["parameters"]["parameterization"] == "mup"


def test_pytorch_default_is_unchanged():
    """The default parameterization is PyTorch's own initialization, bit for bit (every number of earlier runs
    stays), and init_scale 1 touches nothing."""
    torch.manual_seed(3)
    reference = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.Tanh(),
                                    torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 10)).double()
    for net in (nn.build("mlp", 16, 3), nn.build("mlp", 16, 3, parameterization="pytorch", init_scale=1.0)):
        assert all(torch.equal(a, b) for a, b in zip(net.parameters(), reference.parameters()))
    scaled = nn.build("mlp", 16, 3, init_scale=2.0)
    assert all(torch.equal(a, 2 * b) for a, b in zip(scaled.parameters(), reference.parameters()))


def test_layer_scales_are_the_abc_table():
    """The one-learning-rate form of Tensor Programs IV/V: muP's multipliers n, 1, 1/n and variances 1/(k n), 1/n,
    1/n on the input, hidden and output weights (k the input fan-in), ntk's 1/fan_in and 1; the mup MLP's
    weights are drawn with those variances."""
    assert nn.layer_scales("mup", "input", 64, 256)["weight"] == (256.0, 1 / (64 * 256))
    assert nn.layer_scales("mup", "hidden", 256, 256)["weight"] == (1.0, 1 / 256)
    assert nn.layer_scales("mup", "output", 256, 10)["weight"] == (1 / 256, 1 / 256)
    assert nn.layer_scales("ntk", "hidden", 256, 256)["weight"] == (1 / 256, 1.0)
    assert nn.layer_scales("sp", "output", 256, 10)["weight"] == (1.0, 1 / 256)
    net = nn.build("mlp", 512, 0, parameterization="mup")
    from torch.nn.utils import parametrize

    weights = [layer.parametrizations.weight.original if parametrize.is_parametrized(layer, "weight")
               else layer.weight for layer, _ in nn.layers(net)]
    # sample variances of 32768, 262144 and 5120 Gaussian draws: relative standard error sqrt(2/N) <= 2 %
    for weight, variance in zip(weights, (1 / (64 * 512), 1 / 512, 1 / 512)):
        assert float(weight.detach().var()) == pytest.approx(variance, rel=0.1)


def test_refusals(tmp_path, capsys):
    """A user's --model keeps its own initialization: --parameterization or --init-scale with it is refused in
    one line (exit 2); so are an unknown parameterization and a non-positive scale."""
    model = tmp_path / "mine.py"
    model.write_text("import torch\n\ndef net(shape, outputs):\n    return torch.nn.Linear(shape[0], outputs)\n")
    data = one_example(tmp_path)
    for extra, message in ((["--model", f"{model}:net", "--parameterization", "mup"], "keeps its own"),
                           (["--model", f"{model}:net", "--init-scale", "2"], "keeps its own"),
                           (["--arch", "uv", "--parameterization", "muq"], "parameterization"),
                           (["--arch", "uv", "--init-scale", "0"], "--init-scale")):
        assert main(["nn", "--data", data, *extra, "--set", "eta=0.1", "--steps", "2", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(UserInputError, match="keeps its own"):
        nn.train(data=data, model=f"{model}:net", eta=0.1, steps=1, parameterization="ntk")


@pytest.fixture(scope="module")
def client():
    """One single-threaded in-process Dask worker: the grid machinery, without spawning processes (the runs are
    seeded and single-threaded, so where they run changes nothing; tests/numerics/nn/test_grid.py checks that on
    two worker processes)."""
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as local:
        yield local


def test_phase_diagram_cells_are_the_runs_made_one_by_one(client, tmp_path):
    """A grid over eta x width x parameterization x init_scale (16 runs of 20 steps on 32 digits): every cell of
    its phase diagram is the cell of the same run made alone with numerics.nn.train, and the UV regime is the one
    of uv_early_regime at that run's eta*lam0, width and steps in the matching parameterization; the agreement
    rate is the share of agreeing cells."""
    from numerics import Axis, Categories
    from numerics.nn.phase import phase_cell

    settings = dict(samples=32, steps=20, measure_every=2)
    grid = nn.network_grid([Axis("eta", [0.05, 0.4]), Axis("width", [8, 32]),
                            Categories("parameterization", ("ntk", "mup")), Axis("init_scale", [0.5, 1.0])],
                           client=client, **settings)
    diagram = grid.phase_diagram()
    assert len(diagram.cells) == 16
    for cell, point in zip(grid.cells, diagram.cells):
        alone = nn.train("digits", "mlp", **cell, **settings)
        assert point == phase_cell(alone)
        assert (point.parameterization, point.init_scale) == (cell["parameterization"], cell["init_scale"])
        assert point.uv_parameterization == ("mup" if cell["parameterization"] == "mup" else "sp")
        assert point.uv_early_regime == nn.uv_early_regime(alone.eta_lam0, cell["width"], 20, point.uv_parameterization)
        assert point.agrees == (point.early_regime == point.uv_early_regime)
    assert diagram.agreement_rate == sum(c.agrees for c in diagram.cells) / 16
    row = grid.table()[0]
    assert {"eta_lam0", "early_regime", "final_sharpness_over_threshold", "uv_parameterization", "uv_early_regime",
            "agrees"} <= set(row)
    payload = grid.to_dict()["phase_diagram"]
    assert payload["compared"] == 16 and set(payload["by_parameterization"]) == {"ntk", "mup"}


@pytest.mark.slow  # a local Dask cluster of worker processes, each importing torch
def test_grid_cli_with_parameterization_and_phase_plot(tmp_path, capsys):
    """``--vary parameterization=ntk,mup --vary init_scale=...`` on the CLI, with ``--phase-plot``: the JSON's
    table has the phase columns and its phase_diagram the agreement; the request prints itself back."""
    from numerics.cli import networks, parser

    plot = tmp_path / "phase.png"
    argv = ["nn", "--samples", "32", "--steps", "10", "--vary", "eta=0.1", "--vary", "width=8",
            "--vary", "parameterization=ntk,mup", "--out", str(tmp_path / "g.json"), "--phase-plot", str(plot),
            "--json", "--quiet"]
    args = parser.build_parser().parse_args(argv)
    request = networks.network_request(args)
    assert request.to_argv()[request.to_argv().index("parameterization=ntk,mup") - 1] == "--vary"
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["parameterization"] for row in result["table"]] == ["ntk", "mup"]
    assert result["phase_diagram"]["compared"] == 2 and plot.stat().st_size > 0
    assert main(["nn", "--samples", "32", "--vary", "eta=0.1,0.2", "--vary", "parameterization=ntk,muq"]) == 2
    err = capsys.readouterr().err
    assert "muq" in err and len(err.strip().splitlines()) == 1


def initial_sharpness(parameterization, width, samples=16, seed=0):
    inputs, targets = nn.load_data("digits", samples)
    net = nn.build("mlp", width, seed, parameterization=parameterization)
    # residual 1e-4 of the eigenvalue: its error is ~1e-8 relative, nothing against the tolerances below
    return float(nn.hessian_eigenvalues(net, inputs, targets, 1, tol=1e-4).values[0])


@pytest.mark.slow  # the Hessian of a width-1024 network: 1.1M parameters
def test_initial_sharpness_over_widths():
    """The MLP's initial sharpness on 16 digits (seed 0) at widths 64, 256, 1024. Under muP it converges: at 256
    within 3/sqrt(n) = 0.19 of its value at 1024 (the kernel at initialization fluctuates by O(1/sqrt(n));
    measured 0.057, seed 1: 0.13), and at 64, where finite-width corrections are large, within a factor 2
    (measured 1.79, seed 1: 1.53). Under PyTorch's default and sp it grows with the width (the output layer's
    contribution to the kernel is |h|^2 ~ n at the one rate), past that factor 2 already at 512: measured x3.0
    and x3.5 from 64 to 512 (width 1024 under muP alone: its Hessian of 1.1M parameters takes 25 s here)."""
    mup = {n: initial_sharpness("mup", n) for n in (64, 256, 1024)}
    assert abs(mup[256] / mup[1024] - 1) < 3 / np.sqrt(256)
    assert 0.5 < mup[64] / mup[1024] < 2
    for parameterization in ("pytorch", "sp"):
        assert initial_sharpness(parameterization, 512) / initial_sharpness(parameterization, 64) > 2


def test_early_sharpness_under_mup_does_not_depend_on_the_width():
    """Under muP the early sharpness trajectory (eta = 0.1, eta*lam0 = 1.1, 10 steps on 32 digits, measured every
    5) at widths 256 and 512 agree within 3/sqrt(256) = 0.19 relative at every measurement (measured 0.03 over 20
    steps), where PyTorch's default differs by 0.36 at the start (13.3 against 20.8)."""
    runs = [nn.train("digits", "mlp", eta=0.1, steps=10, width=n, samples=32, measure_every=5,
                     parameterization="mup") for n in (256, 512)]
    first, second = (np.array(run.sharpness["value"]) for run in runs)
    assert len(first) == 3 and np.max(np.abs(first - second) / second) < 3 / np.sqrt(256)
