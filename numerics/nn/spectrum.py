r"""Top Hessian eigenvalues of a PyTorch model's loss: the largest *algebraic* ones, warm-started between steps.

The operator is the Hessian :math:`H = \nabla^2_\theta L(\theta)` of a scalar loss over every parameter that
requires a gradient, applied as exact Hessian-vector products (double backward: :math:`Hv = \nabla_\theta
(\nabla_\theta L \cdot v)`), never formed. The default loss is the toolkit's MSE
:math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2`.

The eigen-solver (:func:`top_eigenpairs`) is a block Krylov (Davidson without preconditioner, i.e. Lanczos with
full reorthogonalisation, blocked and thick-restarted) Rayleigh-Ritz iteration:

1. an orthonormal basis :math:`B` starts from the given vectors (the previous measurement's Ritz vectors: a warm
   start) completed with random vectors to a block of ``k + 1``;
2. Rayleigh-Ritz: the eigenpairs :math:`(\theta_j, y_j)` of :math:`B^T H B` give Ritz pairs
   :math:`x_j = B y_j`, and their residuals :math:`r_j = H x_j - \theta_j x_j` cost no product
   (:math:`HB` is kept);
3. the ``k`` largest *algebraic* Ritz values are accepted when every :math:`|r_j| \le` ``tol`` :math:`\cdot
   \max|\theta|`; otherwise the residuals of the unconverged pairs are orthogonalised against :math:`B`
   (twice, Gram-Schmidt) and appended (one product each). With :math:`B = [v]` this is Lanczos' Krylov space;
   with a block it resolves eigenvalues of multiplicity up to the block size;
4. a basis larger than ``max_basis`` is restarted on its top ``k + 1`` Ritz vectors (their products are linear
   combinations of the kept ones: no product spent).

For a Ritz value with residual :math:`r` the eigenvalue error is at most :math:`|r|` and, once separated from the
rest of the spectrum by a gap :math:`\delta`, at most :math:`|r|^2/\delta` (Kato-Temple), so ``tol = 1e-7``
gives round-off eigenvalues on a float64 Hessian. Largest *algebraic* is asked for on purpose: near the edge of
stability the Hessian can have a negative eigenvalue larger in magnitude than the top one, which power iteration
(PyHessian) and ``eigsh(which='LM')`` (Cohen et al.) would return instead.

Performance notes: one product costs about two backward passes; a warm start from the previous step's Ritz
vectors needs a handful of products when the spectrum moves little between steps (:attr:`HessianSpectrum.hvps`
counts them). Vectors are float64 numpy arrays; products are computed in the model's dtype.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.errors import DomainError, UserInputError

from .backend import require_torch


@dataclass
class HessianSpectrum:
    """The ``k`` largest algebraic eigenvalues (``values``, descending), their Ritz vectors (``vectors``, one per
    column, float64), the residual norms :math:`|Hx - \\theta x|`, the Hessian-vector products spent and whether
    every residual met the tolerance."""

    values: np.ndarray
    vectors: np.ndarray = field(repr=False)
    residuals: np.ndarray
    hvps: int
    converged: bool

    def to_dict(self) -> dict:
        return {"values": [float(v) for v in self.values], "residuals": [float(r) for r in self.residuals],
                "hvps": int(self.hvps), "converged": bool(self.converged)}


def _orthonormalise(candidates: np.ndarray, basis: np.ndarray, drop: float = 1e-10) -> np.ndarray:
    """Columns of ``candidates`` orthogonalised against ``basis`` and each other (classical Gram-Schmidt, twice:
    "twice is enough", Giraud et al. 2005); a column whose norm falls below ``drop`` times its own is dropped."""
    kept = []
    for column in candidates.T:
        norm0 = np.linalg.norm(column)
        if norm0 == 0 or not np.isfinite(norm0):
            continue
        vector = column / norm0
        for _ in range(2):
            if basis.shape[1]:
                vector = vector - basis @ (basis.T @ vector)
            if kept:
                block = np.stack(kept, axis=1)
                vector = vector - block @ (block.T @ vector)
        norm = np.linalg.norm(vector)
        if norm > drop:
            kept.append(vector / norm)
    return np.stack(kept, axis=1) if kept else np.zeros((candidates.shape[0], 0))


def top_eigenpairs(hvp, size: int, k: int = 1, start=None, tol: float = 1e-7, max_hvps: int | None = None,
                   max_basis: int | None = None, seed: int = 0) -> HessianSpectrum:
    r"""The ``k`` largest algebraic eigenpairs of the symmetric operator ``hvp`` (a function of a float64 vector of
    length ``size``) by the warm-started block Krylov iteration of the module docstring.

    ``start``: vectors (``size`` x j) to start from, e.g. the previous :attr:`HessianSpectrum.vectors`;
    ``tol``: residual tolerance relative to the largest Ritz value in magnitude; ``max_hvps``: budget of products
    (default ``max(300, 20 k)``, at most ``size``... plus the block), after which the best Ritz pairs are returned
    with ``converged=False``; ``max_basis``: restart size (default ``max(40, 4 k + 8)``).
    """
    if not (_is_integer(k) and 1 <= k <= size):
        raise DomainError("k", k, f"an integer from 1 to the number of parameters ({size})")
    if not (isinstance(tol, (int, float, np.floating)) and not isinstance(tol, bool) and tol > 0
            and np.isfinite(tol)):
        raise DomainError("tol", tol, "a positive number")
    if max_hvps is not None and not (_is_integer(max_hvps) and max_hvps >= 1):
        raise DomainError("max_hvps", max_hvps, "a positive integer (or None for the default)")
    rng = np.random.default_rng(seed)
    max_hvps = max(300, 20 * k) if max_hvps is None else int(max_hvps)
    max_basis = max(40, 4 * k + 8) if max_basis is None else max(int(max_basis), 2 * k + 2)
    block = min(size, k + 1)
    initial = np.zeros((size, 0)) if start is None else np.asarray(start, dtype=float).reshape(size, -1)[:, :block]
    initial = np.concatenate([initial, rng.standard_normal((size, block))], axis=1)
    basis = _orthonormalise(initial, np.zeros((size, 0)))[:, :block]
    images = np.stack([hvp(b) for b in basis.T], axis=1)
    hvps = basis.shape[1]
    while True:
        projected = basis.T @ images
        projected = (projected + projected.T) / 2
        theta, y = np.linalg.eigh(projected)
        order = np.argsort(theta)[::-1]
        theta, y = theta[order], y[:, order]
        take = min(k, len(theta))
        ritz, ritz_images = basis @ y, images @ y
        residual_vectors = ritz_images[:, :take] - ritz[:, :take] * theta[:take]
        residuals = np.linalg.norm(residual_vectors, axis=0)
        scale = max(np.abs(theta).max(), np.finfo(float).tiny)
        open_pairs = np.nonzero(residuals > tol * scale)[0]
        full = basis.shape[1] >= size
        if take == k and (not len(open_pairs) or full):
            return HessianSpectrum(theta[:k], ritz[:, :k], residuals, hvps, True)
        if hvps >= max_hvps:
            return HessianSpectrum(theta[:take], ritz[:, :take], residuals, hvps, False)
        if basis.shape[1] + len(open_pairs) > max_basis:  # thick restart on the top Ritz vectors
            keep = min(len(theta), k + 1)
            basis, images = ritz[:, :keep], ritz_images[:, :keep]
        new = _orthonormalise(residual_vectors[:, open_pairs], basis)
        if not new.shape[1]:  # residuals inside the basis (round-off): continue the Krylov space at random
            new = _orthonormalise(rng.standard_normal((size, 1)), basis)
        new = new[:, :max(1, min(new.shape[1], max_hvps - hvps))]
        basis = np.concatenate([basis, new], axis=1)
        images = np.concatenate([images, np.stack([hvp(b) for b in new.T], axis=1)], axis=1)
        hvps += new.shape[1]


def _is_integer(value) -> bool:
    """An int (numpy's included), not a bool (``k=True`` is a mistake, not 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_problem(model, inputs, targets, loss=None) -> None:
    """Refuse, with a :class:`UserInputError` that says what is wrong, what would give a silently wrong Hessian:
    ``inputs``/``targets`` that are not tensors, of different numbers of examples, holding NaN or inf; model
    parameters holding NaN or inf; and, for the default :func:`mse_loss`, targets not of the outputs' shape
    (``(N, 1)`` outputs against ``(N,)`` targets would broadcast to an N x N difference)."""
    torch = require_torch()
    for name, value in (("inputs", inputs), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise UserInputError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.dim() == 0 or value.shape[0] == 0:
            raise UserInputError(f"{name} must hold at least one example, got shape {tuple(value.shape)}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise UserInputError(f"{name} hold NaN or infinite values")
    if inputs.shape[0] != targets.shape[0]:
        raise UserInputError(f"inputs have {inputs.shape[0]} examples, targets {targets.shape[0]}; they must match")
    for name, parameter in model.named_parameters():
        if not bool(torch.isfinite(parameter.detach()).all()):
            raise UserInputError(f"the model's parameter {name!r} holds NaN or infinite values")
    if loss is None:
        with torch.no_grad():
            shape = tuple(model(inputs[:1]).shape[1:])
        if shape != tuple(targets.shape[1:]):
            raise UserInputError(f"targets have shape {tuple(targets.shape)}, the model's outputs "
                                 f"{(targets.shape[0],) + shape}; the mean squared error needs the same shape")


def mse_loss(outputs, targets):
    r""":math:`L = \frac{1}{2N}\sum_i |f(x_i) - y_i|^2` (targets of the outputs' shape)."""
    return 0.5 * ((outputs - targets) ** 2).reshape(outputs.shape[0], -1).sum(dim=1).mean()


class HessianOperator:
    """Exact Hessian-vector products of ``loss(model(inputs), targets)`` at the model's current parameters (the
    graph of the gradient is built once, at construction)."""

    def __init__(self, model, inputs, targets, loss=None):
        torch = require_torch()
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        if not self.parameters:
            raise UserInputError("the model has no parameters that require a gradient")
        self.loss = (loss or mse_loss)(model(inputs), targets)
        gradients = torch.autograd.grad(self.loss, self.parameters, create_graph=True)
        self.gradient = torch.cat([g.reshape(-1) for g in gradients])
        self.size = self.gradient.numel()
        self.dtype = self.gradient.dtype
        self._torch = torch

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        torch = self._torch
        product = torch.autograd.grad(self.gradient, self.parameters,
                                      torch.as_tensor(vector, dtype=self.dtype), retain_graph=True,
                                      allow_unused=True)
        return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                          for p, g in zip(self.parameters, product)]).detach().double().numpy()


def default_tolerance(dtype) -> float:
    """1e-7 in float64 (round-off eigenvalues); 1e-3 in float32, whose products carry relative errors ~1e-7
    amplified by the Hessian's conditioning."""
    return 1e-3 if str(dtype).endswith("float32") else 1e-7


def hessian_eigenvalues(model, inputs, targets, k: int = 1, loss=None, start=None, tol: float | None = None,
                        max_hvps: int | None = None, seed: int = 0) -> HessianSpectrum:
    r"""The ``k`` largest algebraic eigenvalues of the Hessian of ``loss(model(inputs), targets)`` over the
    model's trainable parameters (default loss :func:`mse_loss`), by :func:`top_eigenpairs` on autograd
    Hessian-vector products.

    Examples
    --------
    >>> import torch; from numerics.nn import hessian_eigenvalues
    >>> net = torch.nn.Linear(3, 1).double(); x = torch.eye(3, dtype=torch.float64); y = torch.zeros(3, 1)
    >>> [round(float(v), 6) for v in hessian_eigenvalues(net, x, y.double(), k=2).values]   # (1/3) X~^T X~
    [1.333333, 0.333333]

    ``start`` (vectors, e.g. a previous result's ``.vectors``) warm-starts the iteration; for tracking during
    training use :class:`SharpnessTracker`.
    """
    check_problem(model, inputs, targets, loss)
    operator = HessianOperator(model, inputs, targets, loss)
    tol = default_tolerance(operator.dtype) if tol is None else tol
    return top_eigenpairs(operator, operator.size, k, start=start, tol=tol, max_hvps=max_hvps, seed=seed)


class SharpnessTracker:
    r"""Tracks the top-``k`` Hessian eigenvalues during training: call it once per step (before the step's update),
    ``tracker(step)``; it measures every ``every`` steps, warm-started from the previous measurement's Ritz vectors.

    Results: ``steps``, ``values`` (one list of ``k`` descending eigenvalues per measurement), ``hvps`` (products
    per measurement), ``residuals``; :meth:`to_dict` is the ``top_eigenvalues`` JSON of ``sharpness nn``.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    >>> x, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64)
    >>> tracker, optimizer = SharpnessTracker(net, x, y, k=2), torch.optim.SGD(net.parameters(), lr=0.1)
    >>> for step in range(10):
    ...     _ = tracker(step)                                # measure, then take the step
    ...     optimizer.zero_grad(); mse_loss(net(x), y).backward(); optimizer.step()
    >>> len(tracker.values), len(tracker.values[-1]), tracker.steps[-1]   # two eigenvalues at each of 10 steps
    (10, 2, 9)
    """

    def __init__(self, model, inputs, targets, k: int = 1, every: int = 1, loss=None, tol: float | None = None,
                 max_hvps: int | None = None, seed: int = 0):
        if not (_is_integer(every) and every >= 1):
            raise DomainError("every", every, "a positive integer")
        if not (_is_integer(k) and k >= 1):
            raise DomainError("k", k, "a positive integer")
        if max_hvps is not None and not (_is_integer(max_hvps) and max_hvps >= 1):
            raise DomainError("max_hvps", max_hvps, "a positive integer (or None for the default)")
        check_problem(model, inputs, targets, loss)  # at construction: refused before any training
        self.model, self.inputs, self.targets, self.loss = model, inputs, targets, loss
        self.k, self.every, self.tol, self.max_hvps, self.seed = k, every, tol, max_hvps, seed
        self.steps, self.values, self.hvps, self.residuals, self.converged = [], [], [], [], []
        self._vectors = None
        self._calls = 0

    def __call__(self, step: int | None = None) -> HessianSpectrum | None:
        step = self._calls if step is None else int(step)
        self._calls += 1
        if step % self.every:
            return None
        spectrum = hessian_eigenvalues(self.model, self.inputs, self.targets, self.k, self.loss, self._vectors,
                                       self.tol, self.max_hvps, self.seed + len(self.steps))
        self._vectors = spectrum.vectors
        self.steps.append(step)
        self.values.append([float(v) for v in spectrum.values])
        self.hvps.append(int(spectrum.hvps))
        self.residuals.append([float(r) for r in spectrum.residuals])
        self.converged.append(bool(spectrum.converged))
        return spectrum

    @property
    def sharpness(self) -> list:
        """The top eigenvalue at each measurement."""
        return [v[0] for v in self.values]

    def to_dict(self) -> dict:
        return {"step": list(self.steps), "values": [list(v) for v in self.values], "hvps": list(self.hvps),
                "converged": list(self.converged)}


def batch_sharpness(model, inputs, targets, batches, loss=None) -> np.ndarray:
    r"""The curvature of each mini-batch loss along its own gradient, :math:`g_B^\top H_B g_B / |g_B|^2` with
    :math:`g_B = \nabla L_B`, :math:`H_B = \nabla^2 L_B` at the model's current parameters, for each batch of
    ``batches`` (index arrays into ``inputs``/``targets``); a batch whose gradient vanishes gives NaN (the ratio is
    undefined there). One gradient and one Hessian-vector product (:class:`HessianOperator`) per batch.

    Its mean over batches is the *batch sharpness* :math:`E_B[g_B^\top H_B g_B / |g_B|^2]` of Andreyev &
    Beneventano (*Edge of Stochastic Stability*, 2024), which mini-batch SGD drives to :math:`2/\eta` where
    full-batch GD drives the top Hessian eigenvalue (for the full batch it is the curvature along the gradient,
    at most the top eigenvalue).

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Linear(2, 1, bias=False).double(); _ = net.weight.data.fill_(0.0)
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64); y = torch.ones(2, 1, dtype=torch.float64)
    >>> batch_sharpness(net, x, y, [np.array([0]), np.array([1])])   # H_B = x_B x_B^T on one example
    array([1., 4.])
    """
    values = []
    for batch in batches:
        index = np.asarray(batch, dtype=np.int64)
        operator = HessianOperator(model, inputs[index], targets[index], loss)
        gradient = operator.gradient.detach().double().numpy()
        norm2 = float(gradient @ gradient)
        values.append(float(gradient @ operator(gradient)) / norm2 if norm2 > 0 else float("nan"))
    return np.array(values)


def preconditioned_eigenpairs(model, inputs, targets, preconditioner, k: int = 1, loss=None, start=None,
                              tol: float | None = None, max_hvps: int | None = None, seed: int = 0) -> HessianSpectrum:
    r"""The ``k`` largest algebraic eigenvalues of :math:`P^{-1} H` for a positive diagonal preconditioner
    :math:`P` (``preconditioner``: its diagonal, one entry per trainable parameter in ``model.parameters()``
    order), by :func:`top_eigenpairs` on the symmetric :math:`P^{-1/2} H P^{-1/2}`, whose products are
    :math:`D\,H(Dv)` with :math:`D = P^{-1/2}` (one Hessian-vector product each). The two matrices are similar
    (:math:`P^{-1}H = D\,(DHD)\,D^{-1}`), so the eigenvalues are the same; the vectors returned are those of
    :math:`DHD` (warm-start a next call with them).

    With Adam's :math:`P = \operatorname{diag}(\sqrt{\hat v} + \epsilon)` the top one is the *preconditioned
    sharpness* of Cohen et al. (*Adaptive gradient methods at the edge of stability*, 2022).

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Linear(2, 1, bias=False).double()
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64); y = torch.ones(2, 1, dtype=torch.float64)
    >>> [round(float(v), 9) for v in preconditioned_eigenpairs(net, x, y, np.array([0.25, 4.0]), k=2).values]
    [2.0, 0.5]
    """
    check_problem(model, inputs, targets, loss)
    operator = HessianOperator(model, inputs, targets, loss)
    diagonal = np.asarray(preconditioner, dtype=float).reshape(-1)
    if diagonal.shape != (operator.size,) or not (np.all(np.isfinite(diagonal)) and np.all(diagonal > 0)):
        raise UserInputError(f"the preconditioner must hold {operator.size} positive finite numbers (one per "
                             f"parameter), got shape {diagonal.shape}")
    scale = 1 / np.sqrt(diagonal)
    tol = default_tolerance(operator.dtype) if tol is None else tol
    return top_eigenpairs(lambda v: scale * operator(scale * v), operator.size, k, start=start, tol=tol,
                          max_hvps=max_hvps, seed=seed)


def sharpness(model, inputs, targets, max_hvps: int = 30) -> float:
    """The top (largest algebraic) eigenvalue of the MSE loss Hessian (:func:`hessian_eigenvalues`, ``k = 1``,
    at most ``max_hvps`` Hessian-vector products)."""
    return float(hessian_eigenvalues(model, inputs, targets, 1, max_hvps=max_hvps).values[0])


def top_eigenvalue(hvp, size: int, max_hvps: int, seed: int = 0) -> float:
    """Largest algebraic eigenvalue of the symmetric operator ``hvp`` with at most ``max_hvps`` products
    (:func:`top_eigenpairs`, residual tolerance 1e-12)."""
    return float(top_eigenpairs(hvp, size, 1, max_hvps=max_hvps, seed=seed, tol=1e-12).values[0])
