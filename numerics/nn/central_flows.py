r"""The central flow of a real network on its data, on the CPU: GD's time-averaged dynamics at the edge of stability.

Cohen, Damian, Talwalkar, Kolter & Lee, *Understanding Optimization in Deep Learning with Central Flows*, ICLR 2025
(Sec. 3 and App. B). With the Hessian :math:`H(w)` of the loss, step :math:`\eta` and time :math:`t` in GD steps,

.. math::

    \frac{dw}{dt} = -\eta\Big[\nabla L(w) + \tfrac12 \sum_{ij} \Sigma_{ij}\, g_{ij}(w)\Big],
    \qquad g_{ij} = \nabla_w\big(u_i^\top H(w)\, u_j\big),

with :math:`u_1..u_m` the orthonormal eigenvectors of the *critical* Hessian eigenvalues (those at
:math:`2/\eta`) and :math:`\Sigma \succeq 0` (:math:`m \times m`, the covariance of GD's oscillation in that
subspace) the solution of the semidefinite complementarity problem (SDCP)

.. math::

    \Sigma \succeq 0, \qquad M(\Sigma) = C + \mathcal B(\Sigma) \succeq 0, \qquad \langle \Sigma, M(\Sigma)\rangle = 0,

:math:`C_{ij} = \langle g_{ij}, \nabla L\rangle`, :math:`\mathcal B(\Sigma)_{ij} = \tfrac12 \sum_{kl} \langle
g_{ij}, g_{kl}\rangle \Sigma_{kl}`: :math:`-\eta M` is the rate of change of :math:`U^\top H U`, so the SDCP
says that the critical eigenvalues do not rise above :math:`2/\eta` and that :math:`\Sigma` acts only where they
would. :math:`\mathcal B` is positive semidefinite, so the SDCP is the optimality condition of the convex problem
:math:`\min_{\Sigma \succeq 0} \tfrac12\langle\Sigma, \mathcal B\Sigma\rangle + \langle C, \Sigma\rangle =
\min_{\Sigma\succeq 0} \tfrac14 |\nabla L + \tfrac12\sum \Sigma_{ij} g_{ij}|^2 + \text{const}` (the paper's
"projection of the gradient"), solved by :func:`solve_sdcp`. With one critical eigenvalue :math:`S`,
:math:`g = \nabla S` and :math:`\Sigma = \sigma^2 = \max(0, -2\langle\nabla L,\nabla S\rangle/|\nabla S|^2)`.

The predicted time-averaged loss is :math:`L + \tfrac12\langle\Sigma, U^\top H U\rangle = L +
\operatorname{tr}\Sigma/\eta` (``sigma2`` is :math:`\operatorname{tr}\Sigma`).

Integration (the authors' discretisation): explicit Euler substeps of :math:`\Delta t = 1/`\ ``substeps`` GD
steps in which the constraint is imposed on the *linearised* eigenvalues after the substep,
:math:`U^\top H U - \eta\Delta t\, M(\Sigma) \preceq 2/\eta`: the SDCP with :math:`C` replaced by
:math:`C + (2/\eta - \Lambda)/(\eta\Delta t)` (:math:`\Lambda` the Ritz values). Eigenvalues well below
:math:`2/\eta` then get :math:`\Sigma = 0` (gradient flow), one above it is brought back onto :math:`2/\eta` in one
substep (a start above the threshold is projected, the limit of the substeps), and a drift off the constraint is
corrected at every substep. The scheme is first order in :math:`\Delta t`; :attr:`NetworkCentralFlow` records
``substeps`` and the tests check convergence by halving :math:`\Delta t`.

Per substep: one gradient, the top-``k`` eigenpairs by the warm-started block Lanczos of
:func:`~numerics.nn.spectrum.top_eigenpairs`, and for the :math:`m` candidate eigenvalues (Ritz values within
:data:`CANDIDATE_MARGIN` of :math:`2/\eta`) :math:`m` Hessian-vector products kept on the graph and
:math:`m(m+1)/2` backward passes through them (third derivatives: "HVPs of HVPs").
"""
from __future__ import annotations

import copy
import math
import time as clock
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from analysis.errors import DomainError, UserInputError

from ..central_flows import FlowEvent
from .backend import require_torch
from .spectrum import HessianOperator, check_problem, default_tolerance, top_eigenpairs
from .training import TRACKING_TOLERANCE

MAX_K = 8
# A Ritz value above (1 - CANDIDATE_MARGIN) 2/eta enters the SDCP (its third derivatives are computed); below it,
# its gap term (2/eta - lambda)/(eta dt) >= 0.02 * 2/(eta^2 dt) outweighs any rate the flow has on these networks,
# so its Sigma is 0 without solving. An eigenvalue that jumps the margin in one substep is caught at the next, above
# 2/eta, and projected back.
CANDIDATE_MARGIN = 0.02
# The SDCP's stopping rule: the fixed-point residual |Sigma - P(Sigma - t grad)| relative to the scale of Sigma.
SDCP_TOLERANCE = 1e-12
SDCP_MAX_ITERATIONS = 20_000
DEFAULT_SUBSTEPS = 4


# ------------------------------------------------------------------------------------------------------ the SDCP
@dataclass(frozen=True)
class SDCPSolution:
    r"""The solution :math:`\Sigma` of :func:`solve_sdcp`, the complementary matrix :math:`M(\Sigma)`, the
    iterations spent and the KKT residual :math:`\max(|\Sigma_-|, |M_-|, |\langle\Sigma, M\rangle|)` (scaled)."""

    sigma: np.ndarray
    complementary: np.ndarray
    iterations: int
    residual: float
    converged: bool


def _psd_part(matrix: np.ndarray) -> np.ndarray:
    """The projection onto the positive semidefinite cone (Frobenius norm): the eigenvalues clipped at 0."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.maximum(values, 0)) @ vectors.T


def solve_sdcp(gram: np.ndarray, linear: np.ndarray, start: Optional[np.ndarray] = None,
               tol: float = SDCP_TOLERANCE, max_iterations: int = SDCP_MAX_ITERATIONS) -> SDCPSolution:
    r"""The semidefinite complementarity problem of the module docstring: :math:`\Sigma \succeq 0`,
    :math:`M = C + \mathcal B(\Sigma) \succeq 0`, :math:`\langle\Sigma, M\rangle = 0`, with
    :math:`\mathcal B(\Sigma)_{ij} = \tfrac12\sum_{kl} G_{ij,kl}\Sigma_{kl}`.

    ``gram``: :math:`G_{ij,kl} = \langle g_{ij}, g_{kl}\rangle`, an ``(m, m, m, m)`` array (symmetric in
    :math:`i \leftrightarrow j`, :math:`k \leftrightarrow l` and :math:`(ij) \leftrightarrow (kl)`, positive
    semidefinite as a matrix on symmetric matrices); ``linear``: :math:`C`, symmetric ``(m, m)``.

    Method: :math:`\mathcal B \succeq 0`, so the SDCP is the KKT system of the convex quadratic program
    :math:`\min_{\Sigma\succeq 0} \tfrac12\langle\Sigma,\mathcal B\Sigma\rangle + \langle C,\Sigma\rangle`,
    solved by accelerated projected gradient (FISTA, Beck & Teboulle 2009, with adaptive restart, O'Donoghue &
    Candes 2015), step :math:`1/\|\mathcal B\|`, projecting onto the PSD cone by clipping eigenvalues at 0; no
    external solver. ``m = 1`` is the closed form :math:`\max(0, -C/\mathcal B)`. Stops when
    :math:`|\Sigma - P_{\succeq 0}(\Sigma - (C + \mathcal B\Sigma)/\|\mathcal B\|)| \le` ``tol``
    :math:`\cdot \max(1, |\Sigma|)`; ``converged`` says whether it did within ``max_iterations``.
    """
    linear = np.asarray(linear, dtype=float)
    size = linear.shape[0]
    operator = np.asarray(gram, dtype=float).reshape(size * size, size * size) / 2
    linear = (linear + linear.T) / 2
    if size == 1:
        curvature = operator[0, 0]
        value = max(0.0, -linear[0, 0] / curvature) if curvature > 0 else (0.0 if linear[0, 0] >= 0 else math.inf)
        sigma = np.array([[value]])
        complementary = linear + curvature * sigma
        return SDCPSolution(sigma, complementary, 0, 0.0, bool(np.isfinite(value)))
    apply = lambda s: linear + (operator @ s.reshape(-1)).reshape(size, size)  # noqa: E731
    lipschitz = float(np.linalg.eigvalsh((operator + operator.T) / 2)[-1])
    if not lipschitz > 0:  # no curvature: Sigma = 0 if C >= 0, else unbounded (no central flow)
        feasible = np.linalg.eigvalsh(linear)[0] >= 0
        return SDCPSolution(np.zeros((size, size)), linear, 0, 0.0 if feasible else math.inf, bool(feasible))
    step = 1 / lipschitz
    sigma = _psd_part(np.zeros((size, size)) if start is None else np.asarray(start, dtype=float))
    if sigma.shape != (size, size):
        sigma = np.zeros((size, size))
    momentum_point, previous, theta = sigma, sigma, 1.0
    iterations, residual = 0, math.inf
    for iterations in range(1, max_iterations + 1):
        sigma = _psd_part(momentum_point - step * apply(momentum_point))
        residual = np.linalg.norm(sigma - _psd_part(sigma - step * apply(sigma))) / max(1.0, np.linalg.norm(sigma))
        if residual <= tol:
            break
        if np.sum((momentum_point - sigma) * (sigma - previous)) > 0:  # restart: the momentum points uphill
            theta = 1.0
        theta_next = (1 + math.sqrt(1 + 4 * theta * theta)) / 2
        momentum_point = sigma + (theta - 1) / theta_next * (sigma - previous)
        previous, theta = sigma, theta_next
    return SDCPSolution(sigma, apply(sigma), iterations, float(residual), bool(residual <= tol))


# ------------------------------------------------------------------------------------------------------ the flow
@dataclass
class NetworkCentralFlow:
    r"""The central flow of a network (:func:`central_flow`); ``to_dict()`` is the flow's part of ``sharpness nn
    --central-flow --json`` (keys as in ``sharpness central-flow --json``).

    Attributes
    ----------
    eta, threshold : float
        :math:`\eta` and :math:`2/\eta`.
    time : float
        The horizon in GD steps.
    substeps : int
        Euler substeps per GD step (:math:`\Delta t = 1/` ``substeps``).
    k : int
        Eigenpairs computed per substep (the largest critical subspace that can be resolved).
    parameters : int
        Trainable parameters.
    events : list of FlowEvent
        ``enter-eos`` (the critical subspace becomes non-empty) and ``leave-eos`` (it empties), at the substep
        where it happened (time resolution :math:`\Delta t`); ``state`` holds ``loss``, ``sharpness``,
        ``sigma2``, ``critical``.
    final : dict
        ``sharpness``, ``sigma2`` (:math:`\operatorname{tr}\Sigma`), ``loss``, ``predicted_loss``, ``critical``
        (the rank of :math:`\Sigma`'s support), ``phase`` (``eos`` or ``gradient``), ``time``.
    trajectory : dict
        Columns ``time`` (every half GD step), ``sharpness``, ``sigma2``, ``loss``, ``predicted_loss``,
        ``critical``.
    complete : bool
        Integrated up to ``time`` with every eigen-solve and SDCP converged and fewer than ``k`` critical
        eigenvalues; ``reason`` says why not.
    hvps : int
        Hessian-vector products of the eigen-solver (third-derivative passes not counted: ``third_derivatives``).
    elapsed : float
        Wall-clock seconds (not reproducible).
    gd_comparison : dict or None
        Set by :meth:`compare_with` (a :class:`~numerics.nn.Training` of GD from the same start).
    weights : numpy.ndarray
        The flow's parameters at the end (float64, in ``model.parameters()`` order; not in ``to_dict()``).

    A start above :math:`2/\eta` is projected in the first substep: it shows as ``enter-eos`` at ``t = 0``, with the
    sharpness before the projection in the event's state.
    """

    eta: float
    threshold: float
    time: float
    substeps: int
    k: int
    parameters: int
    events: list
    final: dict
    trajectory: dict
    complete: bool
    reason: str
    hvps: int
    third_derivatives: int
    elapsed: float
    gd_comparison: Optional[dict] = None
    weights: Optional[np.ndarray] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        out = {"eta": self.eta, "threshold": self.threshold, "time": self.time, "substeps": self.substeps,
               "k": self.k, "parameters": self.parameters, "complete": self.complete, "reason": self.reason,
               "events": [e.to_dict() for e in self.events], "final": self.final, "hvps": self.hvps,
               "third_derivatives": self.third_derivatives, "elapsed": self.elapsed, "trajectory": self.trajectory}
        if self.gd_comparison is not None:
            out["gd_comparison"] = self.gd_comparison
        return out

    def compare_with(self, training, window=None) -> dict:
        """GD's two-step averages (``training``: :func:`numerics.nn.train` from the same start, same ``eta``)
        against the flow at :math:`t + 1/2` over the GD steps ``window = (A, B)`` (default the second half):
        the loss :math:`(L_t + L_{t+1})/2` against the predicted loss and against the flow's :math:`L`, and the
        sharpness :math:`(S_t + S_{t+1})/2` where both steps were measured (``--measure-every 1``). Sets and
        returns :attr:`gd_comparison`."""
        self.gd_comparison = compare_with_gd(self.to_dict(), training.to_dict(), window)
        return self.gd_comparison

    def plot(self, path=None, training=None):
        """Sharpness and loss against time: the flow, its predicted loss, and GD (``training``) beside them;
        written to ``path`` if given, else returned (a matplotlib figure)."""
        from ..plots import network_flow_figure

        return network_flow_figure(self.to_dict(), None if training is None else training.to_dict(), path)

    def __repr__(self) -> str:
        events = ", ".join(f"{e.type}@{e.time:.4g}" for e in self.events) or "no events"
        return (f"NetworkCentralFlow({self.parameters} parameters, eta={self.eta:g}, t = {self.final['time']:g}: "
                f"{events}; final sharpness {self.final['sharpness']:.6g}, sigma2 {self.final['sigma2']:.3g})")


def _flat(tensors, torch):
    return torch.cat([t.reshape(-1) for t in tensors])


def _third_derivatives(operator, vectors: np.ndarray, torch) -> list:
    r""":math:`g_{ij} = \nabla_w (u_i^\top H u_j)` for the columns :math:`u_i` of ``vectors``, ``i <= j``, as float64
    arrays ``{(i, j): g_ij}``: :math:`Hu_j` by a double backward kept on the graph, then one more backward."""
    parameters = operator.parameters
    columns = [torch.as_tensor(v, dtype=operator.dtype) for v in vectors.T]
    out = {}
    for j, column in enumerate(columns):
        product = torch.autograd.grad(operator.gradient, parameters, column, retain_graph=True, create_graph=True,
                                      allow_unused=True)
        product = _flat([torch.zeros_like(p) if g is None else g for p, g in zip(parameters, product)], torch)
        for i in range(j + 1):
            third = torch.autograd.grad(product @ columns[i], parameters, retain_graph=True, allow_unused=True)
            out[i, j] = out[j, i] = _flat([torch.zeros_like(p) if g is None else g
                                           for p, g in zip(parameters, third)], torch).detach().double().numpy()
    return out


def central_flow(model, inputs, targets, eta: float, time: float, *, k: int = 2, substeps: int = DEFAULT_SUBSTEPS,
                 loss=None, tol: Optional[float] = None, max_hvps: Optional[int] = None, seed: int = 0,
                 progress=None, threads: Optional[int] = 1) -> NetworkCentralFlow:
    r"""The central flow of ``model`` on ``(inputs, targets)`` for ``time`` GD steps of size ``eta`` (module
    docstring), from the model's current parameters (the model is copied, not changed).

    Parameters
    ----------
    model:
        a ``torch.nn.Module``, or a function of no arguments returning one.
    inputs, targets:
        tensors, full batch; the loss is ``loss(model(inputs), targets)`` (default :func:`~numerics.nn.mse_loss`).
    eta, time:
        the step size and the horizon in GD steps.
    k:
        eigenpairs per substep, 1 to :data:`MAX_K`: the largest number of eigenvalues that can be critical at
        once (``complete`` is ``False`` where all ``k`` were).
    substeps:
        Euler substeps per GD step, even (the trajectory is kept at every half step); the error is
        :math:`O(1/\text{substeps})`.
    tol, max_hvps, seed:
        of the eigen-solver (:func:`~numerics.nn.spectrum.top_eigenpairs`); ``tol`` (residual relative to the top
        eigenvalue) defaults to the tracking tolerance of :func:`~numerics.nn.train` (1e-5; float32 1e-3): the
        eigenvectors then carry errors ~1e-5 S/gap, far below the O(1/substeps) error of the scheme.
    progress:
        called once per GD step of flow time.
    threads:
        PyTorch and BLAS threads (1 by default, as for :func:`~numerics.nn.train`; ``None`` leaves them).

    Returns
    -------
    NetworkCentralFlow
    """
    torch = require_torch()
    if not (isinstance(eta, (int, float)) and not isinstance(eta, bool) and math.isfinite(eta) and eta > 0):
        raise DomainError("eta", eta, "a positive number")
    if not (isinstance(time, (int, float)) and not isinstance(time, bool) and math.isfinite(time) and time > 0):
        raise DomainError("time", time, "a positive number of GD steps")
    if not (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= MAX_K):
        raise DomainError("k", k, f"an integer from 1 to {MAX_K}")
    if not (isinstance(substeps, int) and not isinstance(substeps, bool) and substeps >= 2 and substeps % 2 == 0):
        raise DomainError("substeps", substeps, "an even integer >= 2")
    if not isinstance(model, torch.nn.Module):
        if not callable(model):
            raise UserInputError(f"model must be a torch.nn.Module or a function returning one, got "
                                 f"{type(model).__name__}")
        model = model()
        if not isinstance(model, torch.nn.Module):
            raise UserInputError(f"the model factory returned {type(model).__name__}, not a torch.nn.Module")
    model = copy.deepcopy(model)
    check_problem(model, inputs, targets, loss)
    if threads is None:
        return _integrate(**locals())
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            return _integrate(**locals())
    finally:
        torch.set_num_threads(previous)


def _integrate(model, inputs, targets, eta, time, k, substeps, loss, tol, max_hvps, seed, progress, torch,
               **_ignored) -> NetworkCentralFlow:
    parameters = [p for p in model.parameters() if p.requires_grad]
    size = int(sum(p.numel() for p in parameters))
    if k > size:
        raise DomainError("k", k, f"at most the number of parameters ({size})")
    dtype = parameters[0].dtype
    tol = max(TRACKING_TOLERANCE, default_tolerance(dtype)) if tol is None else tol
    threshold = 2.0 / eta
    dt = 1.0 / substeps
    total = int(math.ceil(time * substeps - 1e-9))
    record_every = substeps // 2
    rows = {"time": [], "sharpness": [], "sigma2": [], "loss": [], "predicted_loss": [], "critical": []}
    events, vectors, sigma_previous = [], None, None
    hvps = thirds = 0
    complete, reason, phase = True, "", "gradient"
    began = clock.perf_counter()
    state = {}
    for index in range(total + 1):
        now = min(index * dt, time)
        operator = HessianOperator(model, inputs, targets, loss)
        spectrum = top_eigenpairs(operator, size, k, start=vectors, tol=tol, max_hvps=max_hvps, seed=seed + index)
        hvps += spectrum.hvps
        vectors = spectrum.vectors
        values = np.asarray(spectrum.values, dtype=float)
        current_loss = float(operator.loss.detach())
        gradient = operator.gradient.detach().double().numpy()
        if not (np.isfinite(current_loss) and np.isfinite(values).all() and np.isfinite(gradient).all()):
            complete, reason = False, f"the flow diverged (non-finite loss or Hessian) at t = {now:g}"
            break
        if not spectrum.converged and complete:
            complete, reason = False, f"the eigen-solver did not converge at t = {now:g} (raise --max-hvps)"
        candidates = np.nonzero(values >= threshold * (1 - CANDIDATE_MARGIN))[0]
        sigma = np.zeros((0, 0))
        direction = gradient
        if candidates.size:
            basis = vectors[:, candidates]
            thirds_by_pair = _third_derivatives(operator, basis, torch)
            m = candidates.size
            thirds += m * (m + 1) // 2
            stacked = np.stack([thirds_by_pair[i, j] for i in range(m) for j in range(m)])  # (m*m, size)
            gram = (stacked @ stacked.T).reshape(m, m, m, m)
            rates = (stacked @ gradient).reshape(m, m)
            gap = np.diag((threshold - values[candidates]) / (eta * dt))
            start = sigma_previous if sigma_previous is not None and sigma_previous.shape == (m, m) else None
            solution = solve_sdcp(gram, rates + gap, start=start)
            if not solution.converged and complete:
                complete, reason = False, f"the SDCP did not converge at t = {now:g} (residual {solution.residual:.2g})"
            sigma = solution.sigma
            direction = gradient + 0.5 * (sigma.reshape(-1) @ stacked)
        sigma_previous = sigma
        trace = float(np.trace(sigma)) if sigma.size else 0.0
        critical = int(np.sum(np.linalg.eigvalsh(sigma) > 1e-12 * max(1.0, trace))) if sigma.size else 0
        if critical == k and complete:
            complete, reason = False, (f"all k = {k} computed eigenvalues were critical at t = {now:g}: the critical "
                                       f"subspace may be larger; rerun with a larger k (at most {MAX_K})")
        state = {"loss": current_loss, "sharpness": float(values[0]), "sigma2": trace,
                 "predicted_loss": current_loss + trace / eta, "critical": critical}
        now_phase = "eos" if critical else "gradient"
        if now_phase != phase:
            events.append(FlowEvent("enter-eos" if critical else "leave-eos", now,
                                    {k_: state[k_] for k_ in ("loss", "sharpness", "sigma2", "critical")}))
            phase = now_phase
        if index % record_every == 0 or index == total:
            rows["time"].append(now)
            for key in ("sharpness", "sigma2", "loss", "predicted_loss", "critical"):
                rows[key].append(state[key])
        if index == total:
            break
        with torch.no_grad():
            step = torch.as_tensor(-eta * min(dt, time - now) * direction, dtype=dtype)
            offset = 0
            for p in parameters:
                p.add_(step[offset:offset + p.numel()].reshape(p.shape))
                offset += p.numel()
        if progress and (index + 1) % substeps == 0:
            progress()
    final = {**state, "time": rows["time"][-1] if rows["time"] else 0.0, "phase": phase}
    weights = torch.nn.utils.parameters_to_vector(parameters).detach().double().numpy()
    return NetworkCentralFlow(float(eta), threshold, float(time), substeps, k, size, events, final, rows, complete,
                              reason, int(hvps), int(thirds), clock.perf_counter() - began, weights=weights)


# ------------------------------------------------------------------------------------------------- against GD
def compare_with_gd(flow: dict, training: dict, window=None) -> dict:
    """The comparison of :meth:`NetworkCentralFlow.compare_with`, on the two ``to_dict()`` payloads."""
    losses = np.asarray(training["loss"], dtype=float)
    steps = len(losses) - 1
    if training["eta"] != flow["eta"]:
        raise UserInputError(f"GD ran at eta = {training['eta']:g}, the flow at {flow['eta']:g}")
    end = min(steps, int(math.floor(flow["final"]["time"])))
    low, high = (end / 2, end) if window is None else (float(window[0]), float(window[1]))
    if not (0 <= low < high <= end):
        raise DomainError("window", f"{low:g}:{high:g}", f"A:B with 0 <= A < B <= {end}")
    times = np.asarray(flow["trajectory"]["time"])
    steps_compared = np.arange(int(math.ceil(low)), int(math.floor(high)))
    lookup = {round(t * 2): i for i, t in enumerate(times)}
    rows = [lookup.get(2 * int(t) + 1) for t in steps_compared]
    keep = np.array([r is not None for r in rows], dtype=bool)
    steps_compared, rows = steps_compared[keep], np.array([r for r in rows if r is not None], dtype=int)
    out = {"window": [low, high], "steps_compared": int(steps_compared.size)}
    if training["outcome"]["name"] == "diverged" or not steps_compared.size:
        out["note"] = "GD diverged: no comparison" if training["outcome"]["name"] == "diverged" else \
            "no whole two-step pair in the window"
        return out
    predicted = np.asarray(flow["trajectory"]["predicted_loss"])[rows]
    flow_loss = np.asarray(flow["trajectory"]["loss"])[rows]
    averaged = (losses[steps_compared] + losses[steps_compared + 1]) / 2
    measured = dict(zip(training["sharpness"]["step"], training["sharpness"]["value"]))
    pairs = [(i, t) for i, t in enumerate(steps_compared) if t in measured and t + 1 in measured]
    flow_sharpness = np.asarray(flow["trajectory"]["sharpness"])[rows]
    errors = {"loss": np.abs(averaged - predicted) / predicted, "flow_loss": np.abs(averaged - flow_loss) / flow_loss,
              "sharpness": np.array([abs((measured[t] + measured[t + 1]) / 2 - flow_sharpness[i]) / flow_sharpness[i]
                                     for i, t in pairs])}
    out["sharpness_steps_compared"] = len(pairs)
    for name, values in errors.items():
        out[f"max_rel_error_{name}"] = float(np.max(values)) if values.size else None
        out[f"median_rel_error_{name}"] = float(np.median(values)) if values.size else None
    out["median_loss_ratio"] = float(np.median(averaged / predicted))
    out["note"] = ("flow at t + 1/2 against GD's two-step averages over the window: loss (L_t + L_{t+1})/2 against "
                   "the predicted loss L + tr(Sigma)/eta (flow_loss: against L); sharpness (S_t + S_{t+1})/2 where "
                   "both steps were measured (sharpness_steps_compared; none: null, measure every step)")
    return out


def flow_of_training(training, *, k: Optional[int] = None, substeps: int = DEFAULT_SUBSTEPS, window=None,
                     progress=None) -> NetworkCentralFlow:
    """The central flow of the network of ``training`` (a :class:`~numerics.nn.Training` of GD) from the same
    initial parameters, on the same examples, at the same ``eta``, for its ``steps``, compared with it
    (:meth:`NetworkCentralFlow.compare_with`): ``sharpness nn --central-flow``. ``k`` defaults to the run's
    ``top_k``."""
    from .architectures import build, model_from_factory
    from .data import load_arrays, load_data

    if training.optimizer != "gd":
        raise UserInputError(f"central flows are derived for GD only, not {training.optimizer}")
    if training.batch_size not in (None, training.samples):
        raise UserInputError(f"central flows are derived for full-batch GD only, not batches of {training.batch_size}")
    inputs, targets = load_data(training.dataset or "digits", training.samples, training.dtype, training.data)
    _, all_targets, _ = load_arrays(training.dataset or "digits", training.data)
    shape, outputs = tuple(inputs.shape[1:]), all_targets.shape[1]
    if training.model is not None:
        network = model_from_factory(training.model, shape, outputs, training.seed, training.dtype)
    else:
        network = build(training.arch, training.width, training.seed, shape, outputs, training.dtype)
    flow = central_flow(network, inputs, targets, training.eta, float(training.steps),
                        k=training.top_k if k is None else k, substeps=substeps, seed=training.seed, progress=progress)
    flow.compare_with(training, window)
    return flow
