r"""Real networks on real data, on the CPU: an MLP and a small CNN on scikit-learn's bundled ``digits``
(1,797 images of 8x8 pixels; nothing is downloaded), MSE loss on one-hot targets, full-batch GD.

Sharpness is the top eigenvalue of the loss Hessian by Lanczos with full reorthogonalisation on exact
Hessian-vector products (double backward in PyTorch), at most ``lanczos_steps`` (default 30) products per
measurement; the largest *algebraic* Ritz value is taken, which is not the largest in magnitude when the
Hessian has a large negative eigenvalue. Regimes use :func:`numerics.classify.label_regimes`, as for the UV
model. PyTorch is an optional dependency (``pip install -e .[torch]``).
"""
from __future__ import annotations

import math

import numpy as np

from analysis.errors import UserInputError

ARCHITECTURES = ("mlp", "cnn")
DATASETS = ("digits",)


def _torch():
    try:
        import torch
    except ImportError:
        raise UserInputError("the nn command needs PyTorch: pip install torch==2.13.0 && pip install -e .[torch]") from None
    return torch


def load_data(dataset: str, samples: int | None = None):
    """Inputs scaled to [0, 1] and one-hot targets centred to zero mean per class (float64 tensors)."""
    if dataset not in DATASETS:
        raise UserInputError(f"unknown dataset {dataset!r}; expected one of: {', '.join(DATASETS)}")
    torch = _torch()
    from sklearn.datasets import load_digits

    data = load_digits()
    inputs, labels = data.data / 16.0, data.target
    if samples is not None:
        inputs, labels = inputs[:samples], labels[:samples]
    targets = np.eye(10)[labels]
    targets -= targets.mean(axis=0)
    return torch.tensor(inputs, dtype=torch.float64), torch.tensor(targets, dtype=torch.float64)


def build(arch: str, width: int, seed: int):
    """The network (PyTorch default initialisation, seeded), float64. Smooth (tanh) activations, so that the
    Hessian is defined everywhere."""
    if arch not in ARCHITECTURES:
        raise UserInputError(f"unknown architecture {arch!r}; expected one of: {', '.join(ARCHITECTURES)}")
    torch = _torch()
    torch.manual_seed(seed)
    nn = torch.nn
    if arch == "mlp":
        model = nn.Sequential(nn.Linear(64, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 10))
    else:
        channels = max(4, width // 8)
        model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, channels, 3, padding=1), nn.Tanh(),
                              nn.Conv2d(channels, channels, 3, padding=1), nn.Tanh(), nn.Flatten(),
                              nn.Linear(channels * 64, 10))
    return model.double()


def _flat_parameters(model):
    return [p for p in model.parameters() if p.requires_grad]


def loss_of(model, inputs, targets):
    return 0.5 * ((model(inputs) - targets) ** 2).sum(dim=1).mean()


def lanczos_top(hvp, size: int, steps: int, seed: int = 0) -> float:
    r"""Largest algebraic eigenvalue of the symmetric operator ``hvp`` by ``steps`` Lanczos iterations with full
    reorthogonalisation (Paige's ``T_k``; the top Ritz value converges first for a well-separated top eigenvalue)."""
    rng = np.random.default_rng(seed)
    steps = min(steps, size)
    basis = np.zeros((steps, size))
    alphas, betas = [], []
    vector = rng.standard_normal(size)
    vector /= np.linalg.norm(vector)
    previous, beta = np.zeros(size), 0.0
    for k in range(steps):
        basis[k] = vector
        w = hvp(vector) - beta * previous
        alpha = float(w @ vector)
        w -= alpha * vector
        w -= basis[: k + 1].T @ (basis[: k + 1] @ w)  # full reorthogonalisation
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        if beta < 1e-12 * max(1.0, abs(alpha)) or k == steps - 1:
            break
        betas.append(beta)
        previous, vector = vector, w / beta
    tridiagonal = np.diag(alphas) + np.diag(betas[: len(alphas) - 1], 1) + np.diag(betas[: len(alphas) - 1], -1)
    return float(np.linalg.eigvalsh(tridiagonal)[-1])


def sharpness(model, inputs, targets, lanczos_steps: int = 30) -> float:
    torch = _torch()
    params = _flat_parameters(model)
    loss = loss_of(model, inputs, targets)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    size = flat_grad.numel()

    def hvp(vector):
        product = torch.autograd.grad(flat_grad, params, torch.tensor(vector, dtype=flat_grad.dtype),
                                      retain_graph=True)
        return torch.cat([p.reshape(-1) for p in product]).detach().numpy()

    return lanczos_top(hvp, size, lanczos_steps)


def train(dataset: str, arch: str, eta: float, steps: int, width: int = 128, seed: int = 0, measure_every: int = 5,
          lanczos_steps: int = 30, samples: int | None = None, progress=None) -> dict:
    """Full-batch GD; loss every step, sharpness every ``measure_every`` steps. Overflow or NaN ends the run
    with the outcome ``diverged``."""
    torch = _torch()
    if eta <= 0 or not math.isfinite(eta):
        raise UserInputError(f"--eta must be a positive number, got {eta}")
    inputs, targets = load_data(dataset, samples)
    model = build(arch, width, seed)
    params = _flat_parameters(model)
    losses, sharp, sharp_steps = [], [], []
    outcome = {"name": "completed"}
    for step in range(steps + 1):
        loss = loss_of(model, inputs, targets)
        if not torch.isfinite(loss) or loss.item() > 1e12:
            outcome = {"name": "diverged", "step": step}
            break
        losses.append(loss.item())
        if step % measure_every == 0:
            sharp.append(sharpness(model, inputs, targets, lanczos_steps))
            sharp_steps.append(step)
        if step < steps:
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= eta * g
        if progress:
            progress()
    from .classify import label_regimes

    threshold = 2 / eta
    sampled_loss = np.array(losses)[sharp_steps]
    regimes = label_regimes(np.array(sharp), sampled_loss, threshold, measure_every,
                            outcome["step"] if outcome["name"] == "diverged" else -1)
    return {"dataset": dataset, "arch": arch, "eta": eta, "steps": steps, "width": width, "seed": seed,
            "parameters": int(sum(p.numel() for p in params)), "samples": int(inputs.shape[0]),
            "threshold": threshold, "initial_sharpness": sharp[0] if sharp else None,
            "eta_lam0": eta * sharp[0] if sharp else None, "outcome": outcome, "regimes": regimes,
            "loss": losses, "sharpness": {"step": sharp_steps, "value": sharp},
            "final": {"loss": losses[-1] if losses else None, "sharpness": sharp[-1] if sharp else None}}


def uv_prediction(eta_lam0: float, width: int, steps: int = 2000, model: str = "uv", parameterization: str = "sp",
                  target: float = 1.0) -> dict:
    r"""A width-n model's regimes at the same :math:`\eta\lambda_0` (default: the UV model in SP, Kalra et al.'s
    comparison): unit step, the network's width, target ``target``, zero initial output and initial kernel
    :math:`\lambda_0 = \eta\lambda_0` (only the product matters for the linear stability threshold; the width sets
    how fast a catapult develops, the paper's Fig. 3 phase diagram). The names of the step, width, output and
    kernel come from the model's description."""
    from analysis import load_model

    from .iterated_map import IteratedMap

    derived = load_model(model, parameterization)
    spec = derived.description
    output, kernel = (s.name for s in spec.state)
    target_name = next(p.name for p in derived.model.parameters
                       if p.name not in (spec.step.name, spec.width.name) and p.default is None)
    values = {spec.step.name: 1, spec.width.name: width, target_name: target}
    result = IteratedMap(derived, **values).run(steps, init={output: 0, kernel: float(eta_lam0)})
    return {"outcome": result.outcome, "regimes": [r["name"] for r in result.regimes],
            "parameters": {"model": model, "parameterization": parameterization, **values, output + "0": 0,
                           kernel + "0": float(eta_lam0)}}
