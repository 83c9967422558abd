"""Real networks under the optimizers people train with (issue 22, item 4): mini-batch SGD (`nn --batch-size`) with
its batch sharpness, and Adam (`nn --optimizer adam`) with its preconditioned sharpness, each against an independent
computation (a hand-written loop, dense Hessians, numpy's Adam on a linear network)."""
import json

import numpy as np
import pytest

from numerics.cli import main

torch = pytest.importorskip("torch", reason="PyTorch is the optional [torch] extra")

from numerics import nn  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """One PyTorch and one BLAS thread, as `sharpness nn` runs (tiny networks on a shared 2-core machine)."""
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


def cli_json(capsys, *argv) -> dict:
    assert main(["nn", *argv, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


SAME_RUN = ("loss", "sharpness", "top_eigenvalues", "hvps_per_measurement", "regimes", "outcome", "threshold",
            "eos_window", "power_spectrum", "period_detail", "uv_prediction")


@pytest.mark.parametrize("optimizer, beta", [("gd", None), ("heavy-ball", "0.5")])
def test_batch_size_n_is_full_batch_to_the_bit(capsys, tiny_data, optimizer, beta):
    """`--batch-size N` (N = 20 examples) is full-batch GD (and heavy-ball) step for step: the loss at every step,
    every eigenvalue, the regimes and the UV comparison are *equal* (not close: a permuted batch would differ in
    round-off), and it adds the batch sharpness; a smaller batch changes the trajectory."""
    argv = ["--data", tiny_data, "--arch", "mlp", "--width", "8", "--steps", "30", "--set", "eta=0.3",
            "--measure-every", "3", "--optimizer", optimizer] + (["--set", f"beta={beta}"] if beta else [])
    full = cli_json(capsys, *argv)
    batched = cli_json(capsys, *argv, "--batch-size", "20")
    for key in SAME_RUN:
        assert batched[key] == full[key], key
    assert full["batch_size"] is None and full["batch_sharpness"] is None and batched["batch_size"] == 20
    assert batched["regimes_of"] == full["regimes_of"] == "sharpness"
    assert batched["batch_sharpness"]["step"] == full["sharpness"]["step"]
    smaller = cli_json(capsys, *argv, "--batch-size", "10")
    assert smaller["loss"][0] == full["loss"][0] and smaller["loss"][1:] != full["loss"][1:]
    assert smaller["regimes_of"] == "batch_sharpness"


def test_mini_batches_are_the_documented_draws(tiny_data):
    """B = 6 of N = 20 (3 batches per epoch, 2 examples dropped each epoch), heavy-ball: the run's loss is that of
    a hand-written torch.optim.SGD loop whose batches are drawn as the docs say (a permutation per epoch from
    default_rng([seed, 0]), cut in order, each batch sorted), to round-off (rel 1e-13: the same float64 operations;
    the full loss is recorded before each step)."""
    seed, batch = 3, 6
    run = nn.train(data=tiny_data, arch="mlp", width=8, steps=12, eta=0.2, seed=seed, batch_size=batch,
                   optimizer="heavy-ball", beta=0.5, measure_every=4)
    inputs, targets = nn.load_data(data=tiny_data)
    model = nn.build("mlp", 8, seed, (4,), 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    draws = np.random.default_rng([seed, 0])
    batches = []
    while len(batches) < 12:
        order = draws.permutation(20)
        batches += [np.sort(order[i:i + batch]) for i in (0, 6, 12)]  # 18-19: the two left over
    losses = []
    for step in range(13):
        losses.append(nn.mse_loss(model(inputs), targets).item())
        if step < 12:
            index = torch.as_tensor(batches[step])
            optimizer.zero_grad()
            nn.mse_loss(model(inputs[index]), targets[index]).backward()
            optimizer.step()
    assert run.loss == pytest.approx(losses, rel=1e-13)
    assert run.threshold == pytest.approx(3 / 0.2, rel=1e-14)  # heavy-ball's (2 + 2 beta)/eta


def dense_hessian_and_gradient(model, inputs, targets):
    """The gradient and the dense Hessian of the MSE over the model's parameters (torch.autograd.functional on a
    flat parameter vector through torch.func.functional_call: no Hessian-vector product of numerics.nn)."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(vector):
        pieces, offset = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            pieces[name] = vector[offset:offset + size].reshape(shape)
            offset += size
        outputs = torch.func.functional_call(model, pieces, (inputs,))
        return 0.5 * ((outputs - targets) ** 2).sum(dim=1).mean()

    gradient = torch.autograd.functional.jacobian(loss, flat).numpy()
    return gradient, torch.autograd.functional.hessian(loss, flat).numpy()


def test_batch_sharpness_against_dense_hessians(tiny_data):
    """SGD with B = 5 on a 67-parameter MLP: at steps 0, 4 and 8 the reported batch sharpness (mean and spread over
    8 batches) equals E_B[g_B^T H_B g_B / |g_B|^2] computed from dense batch Hessians, on the batches drawn as the
    docs say (default_rng([seed, 1, step]), 8 x choice(N, B, replace=False)), with the network replayed by hand
    (rel 1e-10: a double-backward product against a dense Hessian, the same float64 quantities)."""
    seed, batch = 1, 5
    run = nn.train(data=tiny_data, arch="mlp", width=8, steps=8, eta=0.3, seed=seed, batch_size=batch,
                   measure_every=4)
    assert run.batch_sharpness["step"] == [0, 4, 8] and run.batch_sharpness["batches"] == 8
    inputs, targets = nn.load_data(data=tiny_data)
    model = nn.build("mlp", 8, seed, (4,), 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    training = nn.training_batches(20, batch, seed)
    for step in range(9):
        if step % 4 == 0:
            draws = np.random.default_rng([seed, 1, step])
            values = []
            for _ in range(8):
                index = torch.as_tensor(np.sort(draws.choice(20, batch, replace=False)))
                gradient, hessian = dense_hessian_and_gradient(model, inputs[index], targets[index])
                values.append(gradient @ hessian @ gradient / (gradient @ gradient))
            k = step // 4
            assert run.batch_sharpness["mean"][k] == pytest.approx(np.mean(values), rel=1e-10)
            assert run.batch_sharpness["std"][k] == pytest.approx(np.std(values, ddof=1), rel=1e-8)
        index = torch.as_tensor(next(training))
        optimizer.zero_grad()
        nn.mse_loss(model(inputs[index]), targets[index]).backward()
        optimizer.step()
    assert run.regimes_of == "batch_sharpness" and run.threshold == pytest.approx(2 / 0.3)


ZERO_LINEAR = '''import torch


def zero_linear(input_shape, outputs):
    """A linear network started at zero weights (the numpy side of the test needs no copy of torch's draw)."""
    layer = torch.nn.Linear(input_shape[0], outputs)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    return layer
'''


def numpy_adam_on_linear(inputs, targets, eta, steps, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (PyTorch's convention, bias correction included) on L = (1/2N) sum |W x + b - y|^2 from W = 0, b = 0,
    by hand in numpy: the loss before each step and the preconditioner diagonal after each step, parameters in
    torch's order (W row by row, then b)."""
    count, features = inputs.shape
    outputs = targets.shape[1]
    weight, bias = np.zeros((outputs, features)), np.zeros(outputs)
    first = np.zeros(outputs * features + outputs)
    second = np.zeros_like(first)
    losses, preconditioners = [], [None]
    for t in range(1, steps + 2):
        residual = inputs @ weight.T + bias - targets
        losses.append(0.5 * (residual ** 2).sum(axis=1).mean())
        if t == steps + 1:
            break
        gradient = np.concatenate([(residual.T @ inputs / count).reshape(-1), residual.mean(axis=0)])
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * gradient ** 2
        update = eta * (first / (1 - beta1 ** t)) / (np.sqrt(second / (1 - beta2 ** t)) + eps)
        weight = weight - update[:outputs * features].reshape(outputs, features)
        bias = bias - update[outputs * features:]
        preconditioners.append(np.sqrt(second / (1 - beta2 ** t)) + eps)
    return np.array(losses), preconditioners


def linear_hessian(inputs, outputs):
    """The Hessian of the linear network's MSE in closed form, in torch's parameter order: with X~ = [X, 1] and
    A = X~^T X~ / N, H[(i, j), (k, l)] = delta_ik A[j, l] over W[i, j] (j < d) and b[i] (j = d)."""
    count, features = inputs.shape
    tilde = np.hstack([inputs, np.ones((count, 1))])
    block = tilde.T @ tilde / count
    size = outputs * (features + 1)
    order = [i * (features + 1) + j for i in range(outputs) for j in range(features)] + \
            [i * (features + 1) + features for i in range(outputs)]  # (i, j) blocks -> torch's W then b
    full = np.kron(np.eye(outputs), block)
    return full[np.ix_(order, order)].reshape(size, size)


def test_preconditioned_sharpness_of_a_linear_network_against_numpy(capsys, tmp_path, regression_data):
    """`nn --optimizer adam --model zero.py:zero_linear` on 30 examples (3 features, 2 targets; 8 parameters): the
    loss is numpy's Adam to round-off (rel 1e-10 over 40 steps: the same formulas in another order), and at every
    measurement the preconditioned sharpness is the largest eigenvalue of P^{-1} H, P from numpy's second moment
    and H in closed form, by numpy.linalg.eigvals (rel 1e-8: Lanczos at residual 1e-9, so the eigenvalue error is
    ~1e-18 relative; the trajectories agree to ~1e-12); null at step 0. Also beta1 = 0.8 and eps = 1e-6 reach
    torch.optim.Adam, and the threshold is (2 + 2 beta1)/((1 - beta1) eta)."""
    model = tmp_path / "zero.py"
    model.write_text(ZERO_LINEAR)
    eta, steps, beta1, eps = 0.05, 40, 0.8, 1e-6
    result = cli_json(capsys, "--data", regression_data, "--model", f"{model}:zero_linear", "--optimizer", "adam",
                      "--set", f"eta={eta}", "--set", f"beta1={beta1}", "--set", f"eps={eps}", "--steps", str(steps),
                      "--measure-every", "5", "--tol", "1e-9")
    data = np.load(regression_data)
    inputs, targets = data["X"].astype(float), data["y"].astype(float)
    losses, preconditioners = numpy_adam_on_linear(inputs, targets, eta, steps, beta1=beta1, eps=eps)
    np.testing.assert_allclose(result["loss"], losses, rtol=1e-10)
    hessian = linear_hessian(inputs, 2)
    record = result["preconditioned_sharpness"]
    assert record["step"] == list(range(0, steps + 1, 5)) and record["value"][0] is None
    for step, value in zip(record["step"][1:], record["value"][1:]):
        expected = np.linalg.eigvals(hessian / preconditioners[step][:, None]).real.max()
        assert value == pytest.approx(expected, rel=1e-8), step
    assert (result["beta1"], result["beta2"], result["eps"]) == (beta1, 0.999, eps)
    assert result["threshold"] == pytest.approx((2 + 2 * beta1) / ((1 - beta1) * eta), rel=1e-14)
    assert result["regimes_of"] == "preconditioned_sharpness" and result["uv_prediction"] is None
    assert result["batch_sharpness"] is None and "sharpness" not in result["threshold_ratios"]


def test_mlp_under_adam_hovers_at_its_threshold():
    """The digits MLP (width 64, 256 examples) under Adam at eta = 0.003 (defaults beta1 = 0.9: threshold 38/eta =
    12,667): the preconditioned sharpness rises from 0.16 of the threshold to it by step ~100 and hovers there
    (Cohen et al. 2022): over steps 100-200 its median / threshold is within 10 % of 1 and its peak below 1.2
    (measured 0.968 and 1.064), and the regimes include the edge of stability. The full-batch sharpness, which
    Adam does not control, is not near 2/eta or 38/eta."""
    run = nn.train("digits", "mlp", 0.003, 200, width=64, samples=256, measure_every=5, optimizer="adam")
    ratios = run.threshold_ratios["preconditioned_sharpness"]
    assert run.threshold == pytest.approx(38 / 0.003)
    assert abs(ratios["median"] - 1) < 0.10 and ratios["peak"] < 1.2
    assert run.preconditioned_sharpness["value"][1] / run.threshold < 0.5  # it rose to the threshold
    assert "edge of stability" in [r.name for r in run.regimes]
    assert run.sharpness["value"][-1] < 0.5 * (2 / 0.003)


def test_text_output_prints_each_quantity_with_its_threshold(capsys, tiny_data):
    """The text of a mini-batch run names the batch size and prints the sharpness and the batch sharpness each
    with the threshold 2/eta and their median and peak ratios; Adam's prints the preconditioned sharpness with
    its derived threshold."""
    base = ["nn", "--data", tiny_data, "--arch", "mlp", "--width", "8", "--steps", "10", "--quiet",
            "--measure-every", "2"]
    assert main(base + ["--set", "eta=0.2", "--batch-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "mini-batch (batches of 5, seed 0) gd" in out and "BS_end/thr" in out
    lines = [line for line in out.splitlines() if "threshold 10 " in line]
    assert [line.split()[1] for line in lines] == ["sharpness", "batch"] and all("median" in x for x in lines)
    assert main(base + ["--set", "eta=0.01", "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "full-batch adam (beta1 = 0.9, beta2 = 0.999, eps = 1e-08)" in out and "PS_end/thr" in out
    assert "preconditioned sharpness" in out and "threshold 3800 " in out
    assert "-2*(beta1 + 1)/(eta*(beta1 - 1))" in out  # the derived formula, as the models print it
