r"""Cross-checks of the derived function-space map against parameter-space GD on finite-width networks.

The parameter-space side is written here from the definitions only (output, loss, gradient, Hessian-vector
product of the UV network), independently of :mod:`analysis`: numpy float64, and PyTorch (CPU, float64, autograd)
when installed. Its sharpness is the largest *algebraic* eigenvalue of the Hessian in the metric of the learning
rates, by Lanczos on Hessian-vector products (scipy ``eigsh(which='LA')`` on a ``LinearOperator``; dense
``eigvalsh`` below 2n = 16, where ARPACK needs more room than the matrix has).

Initialisation (seeded): :math:`u, v \sim \mathcal{N}(0, I_n)` in both parameterizations, the standard
initialisation for which :math:`\lambda_0 \approx 2x^2` at every width.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from analysis.errors import UserInputError

BOUNDED = 1e8
OUTPUT_SCALE = {"sp": lambda n: 1 / np.sqrt(n), "mup": lambda n: 1 / n}
LR_SCALE = {"sp": lambda n: 1.0, "mup": lambda n: float(n)}


class UVNetwork:
    r"""The UV network in parameter space: :math:`f = c\, u\cdot v`, :math:`c = x/\sqrt{n}` (SP) or :math:`x/n`
    (muP), :math:`L = (f - y)^2/2`, learning-rate scale :math:`s` (1 or :math:`n`)."""

    def __init__(self, u, v, x, y, parameterization):
        self.u, self.v = np.array(u, dtype=float), np.array(v, dtype=float)
        self.n = len(self.u)
        self.x, self.y = float(x), float(y)
        self.c = self.x * OUTPUT_SCALE[parameterization](self.n)
        self.s = LR_SCALE[parameterization](self.n)

    @property
    def output(self):
        return self.c * (self.u @ self.v)

    @property
    def ntk(self):
        r""":math:`s\,|\nabla_\theta f|^2 = s\,c^2 (|u|^2 + |v|^2)`."""
        return self.s * self.c ** 2 * (self.u @ self.u + self.v @ self.v)

    def step(self, eta):
        r = self.output - self.y
        grad_u, grad_v = r * self.c * self.v, r * self.c * self.u
        self.u, self.v = self.u - eta * self.s * grad_u, self.v - eta * self.s * grad_v

    def hvp(self, p):
        r""":math:`s\,(\nabla f \nabla f^\top + r\,\nabla^2 f)\,p` with :math:`\nabla^2 f = c\,[[0, I], [I, 0]]`."""
        n = self.n
        pu, pv = p[:n], p[n:]
        r = self.output - self.y
        along = self.c ** 2 * (self.v @ pu + self.u @ pv)
        return self.s * np.concatenate([along * self.v + r * self.c * pv, along * self.u + r * self.c * pu])

    def sharpness(self):
        size = 2 * self.n
        if size <= 16:
            dense = np.column_stack([self.hvp(e) for e in np.eye(size)])
            return float(np.linalg.eigvalsh((dense + dense.T) / 2)[-1])
        operator = LinearOperator((size, size), matvec=self.hvp, dtype=float)
        start = np.concatenate([self.v, self.u])  # the gradient direction: close to the top eigenvector
        return float(eigsh(operator, k=1, which="LA", v0=start, tol=1e-14, return_eigenvectors=False)[0])


def standard_init(width: int, seed: int):
    if width <= 0:
        raise UserInputError(f"--width must be a positive integer, got {width}")
    rng = np.random.default_rng(seed)
    return rng.standard_normal(width), rng.standard_normal(width)


def torch_run(u, v, x, y, eta, parameterization, steps):
    """The same GD in PyTorch (autograd gradients, double-backward HVPs, float64 on the CPU); ``None`` if torch is
    not installed."""
    try:
        import torch
    except ImportError:
        return None
    n = len(u)
    c = x * OUTPUT_SCALE[parameterization](n)
    s = LR_SCALE[parameterization](n)
    theta = torch.tensor(np.concatenate([u, v]), dtype=torch.float64, requires_grad=True)

    def loss_fn(t):
        return 0.5 * (c * (t[:n] @ t[n:]) - y) ** 2

    outputs, kernels, sharpness = [], [], []
    for _ in range(steps + 1):
        with torch.no_grad():
            outputs.append(float(c * (theta[:n] @ theta[n:])))
            kernels.append(float(s * c ** 2 * (theta @ theta)))
        grad, = torch.autograd.grad(loss_fn(theta), theta, create_graph=True)

        def hvp(p, grad=grad):
            vector = torch.tensor(p, dtype=torch.float64)
            return s * torch.autograd.grad(grad, theta, vector, retain_graph=True)[0].numpy()

        operator = LinearOperator((2 * n, 2 * n), matvec=hvp, dtype=float)
        if 2 * n <= 16:
            dense = np.column_stack([hvp(e) for e in np.eye(2 * n)])
            sharpness.append(float(np.linalg.eigvalsh((dense + dense.T) / 2)[-1]))
        else:
            # A fixed start vector (the gradient direction of f) keeps ARPACK deterministic, as in the numpy path.
            start = np.concatenate([theta.detach().numpy()[n:], theta.detach().numpy()[:n]])
            sharpness.append(float(eigsh(operator, k=1, which="LA", v0=start, tol=1e-14,
                                         return_eigenvectors=False)[0]))
        with torch.no_grad():
            theta -= eta * s * grad.detach()
    return np.array(outputs), np.array(kernels), np.array(sharpness)


def crosscheck(compiled, values: dict, width: int, steps: int, seed: int, use_torch: bool = True,
               progress=None) -> dict:
    r"""Parameter-space GD at ``width`` against the function-space map from the same :math:`(f_0, \lambda_0)`.

    Returns the JSON of ``sharpness crosscheck``: ``max_abs_error_f``, ``max_abs_error_lam``,
    ``max_rel_error_sharpness`` (numpy path), per-step ``errors`` and, with torch, the same under ``"torch"``.
    A run that overflows has the ``outcome`` ``{"name": "diverged", "step": t}`` and is compared up to ``t``.
    Where the errors grow (chaos), ``error_growth_rate`` is the slope of :math:`\log|e_t|` fitted over the
    steps where the error is between 1e-13 and 1e-3 of the state's scale, and ``lyapunov`` the largest
    exponent of the compiled tangent map along the function-space orbit (over the same steps).
    """
    names = compiled.parameter_names
    params = compiled.parameter_vector(values)
    get = lambda name: float(params[names.index(name)])  # noqa: E731
    eta, x, y = get("eta"), get("x"), get("y")
    parameterization = compiled.derivation.parameterization
    u, v = standard_init(width, seed)
    network = UVNetwork(u, v, x, y, parameterization)
    params[names.index("n")] = width
    f_param, lam_param, sharp_param = [], [], []
    diverged_at = None
    with np.errstate(all="ignore"):  # overflow is detected below and reported as the outcome "diverged"
        for t in range(steps + 1):
            if not (np.isfinite(network.output) and np.isfinite(network.ntk) and network.ntk < 1e150):
                diverged_at = t
                break
            f_param.append(network.output)
            lam_param.append(network.ntk)
            sharp_param.append(network.sharpness())
            if t < steps:
                network.step(eta)
            if progress:
                progress()
    f_param, lam_param, sharp_param = map(np.array, (f_param, lam_param, sharp_param))
    state = np.array([f_param[0], lam_param[0]])
    function_space = [state]
    with np.errstate(all="ignore"):
        for _ in range(len(f_param) - 1):
            state = np.array(compiled.step_numpy(*state, *params), dtype=float)
            function_space.append(state)
    function_space = np.array(function_space)
    with np.errstate(all="ignore"):
        sharp_fn = np.asarray(compiled.sharpness_numpy(*function_space.T, *params), dtype=float)
    # Compare while the run is bounded: in a blow-up both sides overflow at slightly different steps and their
    # difference says nothing about the map. BOUNDED is far above any converging or oscillating state.
    bounded = np.nonzero(np.abs(np.column_stack([f_param, lam_param])).max(axis=1) < BOUNDED)[0]
    compared = slice(0, int(bounded[-1]) + 1 if len(bounded) else 1)
    error_f = np.abs(function_space[compared, 0] - f_param[compared])
    error_lam = np.abs(function_space[compared, 1] - lam_param[compared])
    rel_sharp = np.abs(sharp_fn[compared] - sharp_param[compared]) / np.maximum(np.abs(sharp_param[compared]), 1e-300)
    result = {
        "model": "uv", "parameterization": parameterization, "width": width, "steps": steps, "seed": seed,
        "parameters": {n: float(v) for n, v in zip(names, params)},
        "initial": {"f": float(f_param[0]), "lam": float(lam_param[0])},
        "max_abs_error_f": float(error_f.max()), "max_abs_error_lam": float(error_lam.max()),
        "max_rel_error_sharpness": float(rel_sharp.max()),
        "final": {"f": float(f_param[-1]), "lam": float(lam_param[-1]), "sharpness": float(sharp_param[-1])},
        "outcome": {"name": "diverged", "step": diverged_at} if diverged_at is not None else {"name": "completed"},
        "errors": {"f": error_f.tolist(), "lam": error_lam.tolist(), "sharpness_rel": rel_sharp.tolist()},
    }
    result["compared_steps"] = len(error_f)
    result.update(_growth(compiled, function_space[compared], params, np.maximum(error_f, error_lam)))
    if use_torch and diverged_at is None:
        torch_result = torch_run(u, v, x, y, eta, parameterization, steps)
        if torch_result is not None:
            tf, tl, ts = torch_result
            result["torch"] = {"max_abs_error_f": float(np.abs(function_space[:, 0] - tf).max()),
                               "max_abs_error_lam": float(np.abs(function_space[:, 1] - tl).max()),
                               "max_rel_error_sharpness": float((np.abs(sharp_fn - ts) / np.abs(ts)).max())}
            result["torch_vs_numpy_max_abs_f"] = float(np.abs(tf - f_param).max())
    return result


def _growth(compiled, orbit, params, error) -> dict:
    """Error growth rate against the largest Lyapunov exponent, where the error grows over >= 10 steps."""
    scale = 1 + np.abs(orbit).max()
    window = np.nonzero((error > 1e-13 * scale) & (error < 1e-3 * scale))[0]
    if len(window) < 10 or error[window[-1]] < 1e3 * error[window[0]]:
        return {"error_growth_rate": None, "lyapunov": None}
    steps = np.arange(window[0], window[-1] + 1)
    slope = np.polyfit(steps, np.log(np.maximum(error[steps], 1e-300)), 1)[0]
    from .dynamics import largest_lyapunov

    return {"error_growth_rate": float(slope), "lyapunov": float(largest_lyapunov(compiled, orbit[steps], params)),
            "growth_window": [int(steps[0]), int(steps[-1])]}


def width_scan(compiled, values: dict, widths, steps: int, seed: int, progress=None) -> dict:
    """Cross-check at every width and summarise how the dynamics depend on it.

    For each width: the initial state drawn at that width, the cross-check errors, and the function-space run's
    outcome, regimes and final NTK (:func:`numerics.dynamics.run`). In SP the map carries x^2/n, so the time
    scales of a catapult or of sharpening grow with n; in muP the map has no n and the initial output shrinks as
    1/sqrt(n), so the runs converge to a width-independent limit.
    """
    from .dynamics import run

    rows = []
    for width in widths:
        check = crosscheck(compiled, values, width, steps, seed, use_torch=False)
        start = {compiled.state_symbols[0]: check["initial"]["f"], compiled.state_symbols[1]: check["initial"]["lam"]}
        at_width = dict(values)
        at_width[compiled.model.parameter("n").symbol] = width
        trajectory = run(compiled, at_width, start, steps)
        rows.append({"width": width, "initial": check["initial"], "outcome": trajectory["outcome"],
                     "regimes": trajectory["regimes"], "final_lam": trajectory["final"]["lam"],
                     "final_sharpness": trajectory["final"]["sharpness"],
                     "max_abs_error_f": check["max_abs_error_f"], "max_abs_error_lam": check["max_abs_error_lam"],
                     "max_rel_error_sharpness": check["max_rel_error_sharpness"],
                     "check_outcome": check["outcome"]["name"]})
        if progress:
            progress()
    return {"parameterization": compiled.derivation.parameterization, "steps": steps, "seed": seed, "rows": rows}
