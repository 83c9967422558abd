r"""Mini-batch SGD and Adam on a model with examples: the models they define, and SGD's mean-square stability.

**Mini-batch SGD** (``optimizer="sgd"``, ``batch_size=B``) on a :class:`~analysis.model.CoordinateModel` with
per-example losses :math:`L_1, \dots, L_m` (``examples``; a model without examples has one, its loss). Each step
draws a batch :math:`\mathcal B` of :math:`B` distinct examples, uniformly among the :math:`\binom mB` subsets and
independently of the earlier steps (Wu, Ma & E 2018's setting), and takes the GD step on the batch loss
:math:`L_{\mathcal B} = \frac1B \sum_{i\in\mathcal B} L_i`:

.. math:: \theta' = F_{\mathcal B}(\theta) = \theta - \eta s\, \nabla L_{\mathcal B}(\theta).

Any :math:`1 \le B \le m` is accepted: the draws are independent, so :math:`B` need not divide :math:`m` (an
epoch that visits every example once is *not* what is modelled; ``nn``'s loader is). Since
:math:`E_{\mathcal B}[\nabla L_{\mathcal B}] = \nabla L`, the *mean* map is GD's, whose fixed points, multipliers
and threshold :math:`2/\eta` the derivation graph reports as for GD.

At a point where every example's gradient vanishes (a common fixed point of all the batch maps: an
interpolating minimum), the linearised SGD is the random product of :math:`A_{\mathcal B} = I - \eta s
H_{\mathcal B}`, and its second moment :math:`X = E[\delta\delta^\top]` follows the *second-moment map*

.. math:: \mathcal T(X) = E_{\mathcal B}\big[(I - \eta s H_{\mathcal B})\, X\, (I - \eta s H_{\mathcal B})\big];

SGD is linearly stable in mean square iff the spectral radius :math:`\rho(\mathcal T) < 1` (Wu, Ma & E,
NeurIPS 2018, Sec. 3). :math:`\mathcal T` is completely positive, so its spectral radius is an eigenvalue with a
positive semidefinite eigenvector; with :math:`E[H_{\mathcal B}] = H`,
:math:`\mathcal T = I - \eta s (H\otimes I + I\otimes H) + \eta^2 s^2 E[H_{\mathcal B}\otimes H_{\mathcal B}]`, so
:math:`\rho(\mathcal T) = 1` first at the smallest positive :math:`\eta` with
:math:`\det(\eta s K - S) = 0`, :math:`S = H\otimes I + I\otimes H`, :math:`K = E[H_{\mathcal B}\otimes
H_{\mathcal B}]`: the *mean-square threshold* :math:`\eta^\ast`. Directions in which every :math:`H_i` vanishes
(along a set of minima) are neutral (:math:`A_{\mathcal B}` is the identity there) and left out. With one
transverse direction :math:`q` (e.g. one coordinate) this is the closed form

.. math:: \eta^\ast = \frac{2\, E[h_{\mathcal B}]}{s\, E[h_{\mathcal B}^2]}, \qquad h_{\mathcal B} = q^\top
          H_{\mathcal B}\, q,

below GD's :math:`2/(s\,h)` by Jensen's inequality (:math:`E[h^2] \ge E[h]^2`), equal to it when every batch has
the same curvature.

**Adam** (``optimizer="adam"``): :meth:`analysis.model.Model.with_optimizer`, the map :func:`analysis.optimizers.adam_update`.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Optional

import sympy as sp

from .errors import DomainError

# The mean-square map averages over every batch: at most this many (C(m, B)).
MAX_BATCHES = 10_000
# Gradients of every example below this (relative to the scale of the point, at 50 digits) vanish: the point is
# a fixed point of every batch map.
COMMON_FIXED_POINT_TOLERANCE = 1e-30
# Singular values of the stacked example Hessians below this fraction of the largest span the neutral directions.
NEUTRAL_TOLERANCE = 1e-12


def batches(example_count: int, batch_size: int) -> list:
    """Every batch: the ``batch_size``-subsets of ``range(example_count)`` in lexicographic order, each drawn with
    probability :math:`1/\\binom mB`."""
    return list(itertools.combinations(range(example_count), batch_size))


def check_batch_size(batch_size, example_count: int) -> int:
    """``batch_size`` as an int in ``[1, example_count]``, else a :class:`~analysis.errors.DomainError`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        try:
            text = str(batch_size).strip()
            batch_size = int(text) if text.lstrip("+").isdigit() else None
        except (TypeError, ValueError):
            batch_size = None
        if batch_size is None:
            raise DomainError("the batch size", repr(batch_size), f"an integer between 1 and {example_count} (the "
                              "number of examples)")
    if not 1 <= batch_size <= example_count:
        raise DomainError("the batch size", batch_size, f"between 1 and {example_count} (the number of examples of "
                          "the model)")
    return batch_size


# ---------------------------------------------------------------------------------------------- mean square
def batch_losses(spec) -> list:
    """``[(batch, L_B)]``: every batch of ``spec.batch_size`` examples (all examples if none) and its mean loss."""
    examples = spec.example_losses
    size = spec.batch_size or len(examples)
    return [(batch, sp.Add(*[examples[i] for i in batch]) / size) for batch in batches(len(examples), size)]


def mean_square_operator(batch_hessians, step: float):
    r"""The matrix of :math:`\mathcal T(X) = E_{\mathcal B}[A_{\mathcal B} X A_{\mathcal B}]`,
    :math:`A_{\mathcal B} = I - \text{step}\, H_{\mathcal B}`, on :math:`\operatorname{vec} X` (numpy, equal
    weights): :math:`E[A_{\mathcal B} \otimes A_{\mathcal B}]`."""
    import numpy as np

    hessians = np.asarray(batch_hessians, dtype=float)
    identity = np.eye(hessians.shape[-1])
    return np.mean([np.kron(identity - step * h, identity - step * h) for h in hessians], axis=0)


def mean_square_threshold(batch_hessians) -> Optional[float]:
    r"""The smallest positive step :math:`\tau` (the step :math:`\eta s` in the metric of the Hessians) with
    :math:`\rho(\mathcal T) = 1`: the smallest positive root of :math:`\det(\tau K - S)`, i.e. :math:`1/\lambda` for
    the largest positive generalized eigenvalue :math:`\lambda` of :math:`(K, S)` (module docstring). ``None``
    where the mean Hessian is not positive definite (no step is mean-square stable) or no root is positive."""
    import numpy as np
    import scipy.linalg

    hessians = np.asarray(batch_hessians, dtype=float)
    d = hessians.shape[-1]
    mean = hessians.mean(axis=0)
    if np.linalg.eigvalsh((mean + mean.T) / 2)[0] <= 0:
        return None
    identity = np.eye(d)
    sum_operator = np.kron(mean, identity) + np.kron(identity, mean)
    product_moment = np.mean([np.kron(h, h) for h in hessians], axis=0)
    values = scipy.linalg.eigvals(product_moment, sum_operator)
    real = [v.real for v in values if np.isfinite(v) and abs(v.imag) <= 1e-9 * max(1.0, abs(v)) and v.real > 0]
    return 1.0 / max(real) if real else None


@dataclasses.dataclass
class MeanSquareStability:
    r"""Mean-square stability of mini-batch SGD at one point (:func:`mean_square_at`); ``to_dict()`` is the JSON
    key ``mean_square_threshold`` of ``sharpness fixed-points --optimizer sgd``.

    ``eta`` is the mean-square threshold on the step parameter (``None`` where none exists or the point is not a
    fixed point of every batch map; ``reason`` says why), ``gd_eta`` GD's threshold :math:`2/(s h_{\max})` on the
    same parameter, ``spectral_radius`` :math:`\rho(\mathcal T)` at the given step (``stable``: below 1),
    ``closed_form`` the one-direction formula's value where it applies, ``neutral`` the number of neutral
    directions left out."""

    batch_size: int
    examples: int
    eta: Optional[float]
    gd_eta: Optional[float]
    spectral_radius: Optional[float]
    stable: Optional[bool]
    closed_form: Optional[float] = None
    neutral: int = 0
    reason: Optional[str] = None

    def __post_init__(self):
        for name in ("eta", "gd_eta", "spectral_radius", "closed_form"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else float(value))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        if self.reason is not None:
            return f"mean square (SGD, batch {self.batch_size} of {self.examples}): {self.reason}"
        eta = "none" if self.eta is None else f"{self.eta:.6g}"
        gd = "none" if self.gd_eta is None else f"{self.gd_eta:.6g}"
        verdict = {True: "stable", False: "unstable", None: "undetermined"}[self.stable]
        neutral = f", {self.neutral} neutral direction{'s' * (self.neutral != 1)} left out" if self.neutral else ""
        return (f"mean square (SGD, batch {self.batch_size} of {self.examples}): threshold {eta} (GD {gd}), "
                f"spectral radius {self.spectral_radius:.6g} here: {verdict}{neutral}")


def mean_square_at(spec, values: dict, point: dict, step_parameter) -> MeanSquareStability:
    r"""Mean-square stability of SGD (``spec.batch_size``) at the state ``point`` (``{symbol: number}``) and
    parameter ``values`` (``{symbol: exact number}``): per-example gradients and batch Hessians evaluated at 50
    digits, the neutral directions (the common null space of the example Hessians) left out, then
    :func:`mean_square_operator` and :func:`mean_square_threshold` in float64. Thresholds are on
    ``step_parameter`` (the step's symbol; the step is :math:`\eta s`)."""
    import numpy as np

    examples = spec.example_losses
    size = spec.batch_size or len(examples)
    coordinates = [c.symbol for c in spec.coordinates]
    at = {**values, **point}
    base = dict(batch_size=size, examples=len(examples))
    scale = 1 + max((abs(float(sp.N(v, 30))) for v in point.values()), default=0)
    for i, example in enumerate(examples):
        gradient = [sp.N(sp.diff(example, c).subs(at), 50) for c in coordinates]
        if any(not g.is_number or abs(g) > COMMON_FIXED_POINT_TOLERANCE * scale for g in gradient):
            return MeanSquareStability(**base, eta=None, gd_eta=None, spectral_radius=None, stable=None,
                                       reason=f"not a fixed point of every batch map (example {i + 1} has a nonzero "
                                              "gradient): SGD does not stay here")
    lr_scale = float(sp.N(sp.sympify(spec.lr_scale).subs(at), 30))
    step = float(sp.N(sp.sympify(spec.step).subs(at), 30)) * lr_scale

    def hessian(loss):
        return np.array(sp.N(sp.hessian(loss, coordinates).subs(at), 50).tolist(), dtype=float)

    example_hessians = [hessian(e) for e in examples]
    stacked = np.vstack(example_hessians)
    _, singular, right = np.linalg.svd(stacked)
    rank = int(np.sum(singular > NEUTRAL_TOLERANCE * max(singular.max(initial=0.0), 1e-300)))
    basis = right[:rank].T  # orthonormal basis of the transverse directions
    neutral = len(coordinates) - rank
    if rank == 0:
        return MeanSquareStability(**base, eta=None, gd_eta=None, spectral_radius=1.0, stable=None, neutral=neutral,
                                   reason="every example Hessian vanishes here: the linearisation decides nothing")
    batch_hessians = [basis.T @ np.mean([example_hessians[i] for i in batch], axis=0) @ basis
                      for batch in batches(len(examples), size)]
    operator = mean_square_operator(batch_hessians, step)
    radius = float(np.max(np.abs(np.linalg.eigvals(operator))))
    threshold = mean_square_threshold(batch_hessians)
    top = float(np.linalg.eigvalsh(np.mean(batch_hessians, axis=0))[-1])
    # thresholds on the step parameter: the step is (step parameter) * (its coefficient) * s
    coefficient = step / float(sp.N(sp.sympify(step_parameter).subs(at), 30))
    closed = None
    if rank == 1:
        h = np.array([b[0, 0] for b in batch_hessians])
        closed = 2 * h.mean() / (h ** 2).mean() / coefficient if h.mean() > 0 else None
    stable = None if math.isclose(radius, 1.0, rel_tol=1e-9) else radius < 1
    return MeanSquareStability(**base, eta=None if threshold is None else threshold / coefficient,
                               gd_eta=2 / top / coefficient if top > 0 else None, spectral_radius=radius,
                               stable=stable, closed_form=closed, neutral=neutral)
