r"""The typed results of the derivation graph: one frozen dataclass per node of :mod:`analysis.derivations.graph`.

Every result has its own fields (listed by ``help()`` and :func:`dataclasses.fields`), and the members all results
share: ``equations`` (the displayed :class:`~analysis.derivations.graph.Equation` s, labelled as ``sharpness
derive`` prints them), ``notes``, ``title`` (the node's title) and ``to_dict()`` (the result in ``sharpness derive
--json``: ``{"title", "notes", "equations"}``). ``repr`` is one line; ``str`` lists the equations.

The classes are what the derivation cache (:mod:`analysis.cache`) stores; its unpickler builds these and the records
of :mod:`analysis.derivations.records`, nothing else of this package.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar, Optional

import sympy as sp

MAX_REPR_FIELD = 60  # characters of one field's value in a result's one-line repr
MAX_STR_EQUATIONS = 12  # equations listed by str() of a result


@dataclass(frozen=True)
class DerivedResult:
    """What every derived result has: ``equations``, ``notes``, ``title`` and ``to_dict()``.

    Attributes
    ----------
    equations : list of Equation
        The displayed equations of the result (``sharpness derive`` prints them with their labels).
    notes : str
        What the result means or where its method stops.
    """

    name: ClassVar[str] = ""  # the node of the derivation graph (``sharpness derive --only NAME``)
    equations: list = field(default_factory=list, kw_only=True, repr=False)
    notes: str = field(default="", kw_only=True, repr=False)

    @property
    def title(self) -> str:
        """The title of the derivation node (``sharpness derive`` prints it as the section heading)."""
        from .graph import NODES

        return NODES[self.name].title

    def to_dict(self) -> dict:
        """``{"title", "notes", "equations"}``: this result in ``sharpness derive --json``."""
        return {"title": self.title, "notes": self.notes, "equations": [e.to_dict() for e in self.equations]}

    def __repr__(self) -> str:
        shown = [f"{f.name}={_short(getattr(self, f.name))}" for f in fields(self) if f.repr]
        count = len(self.equations)
        return f"{type(self).__name__}({', '.join(shown)}; {count} equation{'' if count == 1 else 's'})"

    def __str__(self) -> str:
        lines = [f"<{self.name}: {self.title}>"] + [f"  {e}" for e in self.equations[:MAX_STR_EQUATIONS]]
        if len(self.equations) > MAX_STR_EQUATIONS:
            lines.append(f"  ... ({len(self.equations) - MAX_STR_EQUATIONS} more equations)")
        return "\n".join(lines)


def _short(value) -> str:
    """A field's value in at most :data:`MAX_REPR_FIELD` characters: a matrix by its shape, a container by its
    length (and the labels of the records it holds), an expression by its text, cut."""
    if isinstance(value, sp.MatrixBase):
        return f"<{value.rows}x{value.cols} matrix>"
    if isinstance(value, dict):
        return f"<{len(value)} entries: {', '.join(str(k) for k in value)}>"[:MAX_REPR_FIELD]
    if isinstance(value, (list, tuple)):
        labels = [getattr(v, "label", None) or getattr(v, "name", None) for v in value]
        if value and all(isinstance(label, str) for label in labels):
            return f"[{', '.join(labels)}]"[:MAX_REPR_FIELD]
        return f"<{len(value)} items>"
    text = str(value)
    return text if len(text) <= MAX_REPR_FIELD else text[:MAX_REPR_FIELD - 3] + "..."


@dataclass(frozen=True, repr=False)
class StateDefinitions(DerivedResult):
    r"""The state as functions of the parameters, and the substitution that proves closure
    (:func:`analysis.derivations.parameter_space.state_definitions`).

    Gram models: :math:`f = f(G)` and :math:`\lambda = s \sum_i |\nabla_{w_i} f|^2` (equations ``def-f``,
    ``def-lam``; arXiv 2311.02076, Eq. 2), solved for as many Gram entries as there are state variables.
    Coordinate models: the state is the parameter vector (:math:`s \mapsto s`).

    Attributes
    ----------
    definitions : dict
        ``{state symbol: expression in the Gram entries}`` (the identity for a coordinate model).
    inverse : dict
        ``{Gram entry: expression in the state and the leftovers}``, the solution of the definitions.
    leftovers : tuple
        The Gram entries not solved for; every function-space result is proved free of them.
    """

    name: ClassVar[str] = "state_definitions"
    definitions: dict
    inverse: dict
    leftovers: tuple


@dataclass(frozen=True, repr=False)
class ParameterUpdate(DerivedResult):
    r"""One step of the optimizer in parameter space (:func:`analysis.derivations.parameter_space.gd_update`).

    Gram models: :math:`w_i' = \sum_j A_{ij} w_j` with :math:`A = I - \eta s C_L`, hence :math:`G' = A G A^\top`
    (equations ``gd-u``, ...); with momentum :math:`(w, p)' = M (w, p)`. Coordinate models:
    :math:`\theta' = \theta - \eta s \nabla L` (equations ``gd-<state>``), or the momentum step of
    :mod:`analysis.optimizers`.

    Attributes
    ----------
    image : dict or None
        Coordinate models: ``{state symbol: its image}`` after one step; ``None`` for a Gram model.
    coefficients : sympy.Matrix or None
        Gram models: the matrix :math:`A` (or :math:`M` with momentum) acting on the vectors; else ``None``.
    gram_image : dict or None
        Gram models: ``{Gram entry G_ij: its image}`` (upper triangle); else ``None``.
    """

    name: ClassVar[str] = "gd_update"
    image: Optional[dict] = None
    coefficients: Optional[sp.Matrix] = None
    gram_image: Optional[dict] = None


@dataclass(frozen=True, repr=False)
class FunctionMap(DerivedResult):
    r"""The exact map on the state, closure proved (:func:`analysis.derivations.function_space.function_map`).

    For a Gram model the image of each state definition under :math:`G \mapsto G'` is rewritten in the state,
    and closure is the identity :math:`\partial(\cdot)/\partial G_{\mathrm{leftover}} \equiv 0` (arXiv
    2311.02076, Eq. 3); equations ``map-<state>``.

    Attributes
    ----------
    images : dict
        ``{state symbol: its image}`` after one step, in the state and the parameters, collected in powers of
        the step.
    closure : str
        Why the map closes on the state (the proof that was checked).
    """

    name: ClassVar[str] = "function_map"
    images: dict
    closure: str


@dataclass(frozen=True, repr=False)
class Loss(DerivedResult):
    r"""The loss :math:`L` in the state variables (equation ``loss``).

    Attributes
    ----------
    expression : sympy.Expr
        :math:`L` in the state and the parameters (a coordinate model's loss as written).
    """

    name: ClassVar[str] = "loss"
    expression: sp.Expr


@dataclass(frozen=True, repr=False)
class Jacobian(DerivedResult):
    r"""The Jacobian :math:`J_{ij} = \partial F_i / \partial s_j` of the function-space map
    (equations ``jac-ij``).

    Attributes
    ----------
    matrix : sympy.Matrix
        :math:`J` in the state and the parameters, rows and columns in the model's state order.
    """

    name: ClassVar[str] = "jacobian"
    matrix: sp.Matrix


@dataclass(frozen=True, repr=False)
class HessianSpectrum(DerivedResult):
    r"""The eigenvalues of :math:`s\nabla^2 L` with multiplicities, in the state variables
    (:func:`analysis.derivations.spectrum.hessian_spectrum`; equations ``hessian-eig-i``).

    Gram models (width :math:`n \ge k`): the roots of the in-span block once each and those of the complement
    block :math:`s C_L` :math:`n - k` times each; :math:`nk` in total.

    Attributes
    ----------
    eigenvalues : list of (sympy.Expr, multiplicity)
        The closed-form eigenvalue branches (factors of degree at most 2 of the characteristic polynomial).
    unresolved : list of (sympy.Expr, multiplicity)
        Irreducible factors of degree >= 3 in :math:`t` (equations ``hessian-charpoly-i``), whose roots are
        evaluated numerically; ``[(None, 1)]`` when no closed form was attempted (dimension above 3).
    hessian : sympy.Matrix or None
        A coordinate model's Hessian :math:`s\nabla^2 L` over its coordinates; ``None`` for a Gram model.
    """

    name: ClassVar[str] = "hessian_spectrum"
    eigenvalues: list
    unresolved: list
    hessian: Optional[sp.Matrix] = None


@dataclass(frozen=True, repr=False)
class Sharpness(DerivedResult):
    r"""The sharpness :math:`S = \lambda_{\max}(s\nabla^2 L)`, the top branch of the Hessian spectrum
    (:func:`analysis.derivations.spectrum.sharpness`; equation ``sharpness``).

    The branch is selected as the largest at 24 random realizable points (``Max`` of the winners if they differ).

    Attributes
    ----------
    expression : sympy.Expr or None
        :math:`S` in closed form in the state and the parameters; ``None`` where part of the spectrum has no
        closed form (then ``hessian`` holds the matrix whose top eigenvalue numerics computes).
    hessian : sympy.Matrix or None
        The Hessian when ``expression`` is ``None`` (equations ``hessian-ij``); else ``None``.
    """

    name: ClassVar[str] = "sharpness"
    expression: Optional[sp.Expr]
    hessian: Optional[sp.Matrix] = None


@dataclass(frozen=True, repr=False)
class FixedPoints(DerivedResult):
    r"""The closed-form solutions of :math:`F(s) = s` SymPy finds, the parameters free
    (:func:`analysis.derivations.fixed_points.fixed_points`; equations ``fp-<label>-<state>``).

    They need not be all: :meth:`analysis.DerivedModel.fixed_points_at` finds every real fixed point at given
    parameter values, or says that its list is not complete.

    Attributes
    ----------
    solutions : list of FixedPointSolution
        Isolated points and sets (lines) of fixed points, labelled I, II, ... (points first); an isolated point
        on a set is folded into the set.
    """

    name: ClassVar[str] = "fixed_points"
    solutions: list


@dataclass(frozen=True, repr=False)
class Stability(DerivedResult):
    r"""Linear stability of every closed-form fixed point (:func:`analysis.derivations.fixed_points.stability`).

    The eigenvalues :math:`\mu_i` of the Jacobian (equations ``eig-<label>-i``), the attracting region
    :math:`|\mu_i| < 1` as inequalities (``stab-<label>-i``) and the flip (:math:`\mu = -1`) and fold
    (:math:`\mu = 1`) boundaries solved for the control parameter (``flip-<label>-i``, ``fold-<label>-i``);
    Kuznetsov & Meijer, *Numerical Bifurcation Analysis of Maps* (2019), Sec. 1.5.

    Attributes
    ----------
    points : list of FixedPointStability
        One record per solution of :class:`FixedPoints`, in the same order and with the same labels.
    """

    name: ClassVar[str] = "stability"
    points: list


@dataclass(frozen=True, repr=False)
class EoSManifolds(DerivedResult):
    r"""The edge-of-stability manifolds :math:`w_i = \sigma_i w` of a Gram model: invariance, the relation
    :math:`R(f, \lambda) = 0` (equation ``eos-<name>``) and the transverse multiplier :math:`R'/R`
    (``eos-transverse-<name>``) (:func:`analysis.derivations.eos.eos_manifold`; arXiv 2311.02076, Sec. 5).

    Attributes
    ----------
    manifolds : list of InvariantManifold or MomentumInvariantManifold
        One record per manifold the model declares (:class:`~analysis.derivations.records.InvariantManifold`
        under GD; :class:`~analysis.derivations.records.MomentumInvariantManifold`, the reduced 2-D map, under a
        momentum optimizer).
    """

    name: ClassVar[str] = "eos_manifold"
    manifolds: list


@dataclass(frozen=True, repr=False)
class EoSMap(DerivedResult):
    r"""GD on each EoS manifold reduced to the cubic normal form :math:`z' = (1 + k) z - k z^3`
    (:func:`analysis.derivations.eos.eos_map`; equations ``eos-k-<name>``, ``eos-zsq-<name>``,
    ``eos-fmap-<name>``, ``eos-flip-<name>-i``; arXiv 2311.02076, Sec. 6). Empty under a momentum optimizer (the
    map on a manifold is 2-D there; the notes say so).

    Attributes
    ----------
    reductions : list of EoSReduction
        One :class:`~analysis.derivations.records.EoSReduction` per manifold: :math:`k`, the chart scale
        :math:`s^2`, the output map, :math:`z^2` and the step of the first flip (:math:`k = 1`).
    """

    name: ClassVar[str] = "eos_map"
    reductions: list


@dataclass(frozen=True, repr=False)
class Minima(DerivedResult):
    r"""The zero-loss sets, the sharpness on them and the self-stabilisation drift along them
    (:func:`analysis.derivations.minima.minima`; equations ``min-i-<state>``, ``min-i-sharpness``,
    ``min-i-drift``; Damian, Nichani & Lee, ICLR 2023; Zhu et al., ICLR 2023).

    Attributes
    ----------
    sets : list of ZeroLossSet
        One :class:`~analysis.derivations.records.ZeroLossSet` per fixed-point solution on which :math:`L \equiv
        0`: coordinates, sharpness on the set, the optimizer's threshold and, on a curve, the drift
        :math:`\Delta S/\varepsilon^2` per squared oscillation amplitude.
    """

    name: ClassVar[str] = "minima"
    sets: list


@dataclass(frozen=True, repr=False)
class NormalForm(DerivedResult):
    r"""Derivative tensors of the map and the flip normal-form coefficient :math:`b` of its fixed points
    (:func:`analysis.derivations.normal_form.normal_form`; equations ``flip-b-<label>-i``, ``flip-b-1d``).

    :math:`b = \tfrac16 \langle p, C(q, q, q) + 3 B(q, (I - A)^{-1} B(q, q)) \rangle / \langle q, q\rangle`
    (Kuznetsov & Meijer 2019, Sec. 4.4; MatContM ``nf_PDm.m``); :math:`b > 0` supercritical.

    Attributes
    ----------
    second_derivatives : list
        :math:`\partial^2 F_k / \partial x_i \partial x_j` as ``[k][i][j]``.
    third_derivatives : list
        :math:`\partial^3 F_k / \partial x_i \partial x_j \partial x_l` as ``[k][i][j][l]``.
    parameter_jacobian : list
        :math:`\partial F_k / \partial p_a` as ``[k][a]`` (parameters in model order).
    mixed_derivatives : list
        :math:`\partial^2 F_k / \partial x_i \partial p_a` as ``[k][i][a]``.
    flip_coefficients : list of FlipCoefficient
        :math:`b` at every isolated fixed point that flips, on its flip surface
        (:class:`~analysis.derivations.normal_form.FlipCoefficient`).
    one_dimensional_coefficient : sympy.Expr or None
        For a one-dimensional coordinate model, :math:`b = (3L'''^2 - L''L'''')/(3L''^2)` in the loss derivatives
        (:func:`~analysis.derivations.normal_form.one_dimensional_flip_coefficient`); else ``None``.
    """

    name: ClassVar[str] = "normal_form"
    second_derivatives: list
    third_derivatives: list
    parameter_jacobian: list
    mixed_derivatives: list
    flip_coefficients: list
    one_dimensional_coefficient: Optional[sp.Expr] = None


@dataclass(frozen=True, repr=False)
class GradSharpness(DerivedResult):
    r"""The gradient of the sharpness, :math:`\nabla S = D^3L[u, u, \cdot]` (:math:`u` the unit top eigenvector)
    (:func:`analysis.derivations.central_flow.grad_sharpness`; equations ``grad-S-<state>`` or ``d3L-ijk``).

    Attributes
    ----------
    gradient : dict or None
        ``{state symbol: dS/dstate}`` where the sharpness has a closed form (over the coordinates of a coordinate
        model, over :math:`(f, \lambda)` for a Gram model); else ``None``.
    third_derivatives : list or None
        Where it has none (coordinate models): :math:`T_{ijk} = s\,\partial^3 L/\partial\theta_i\partial\theta_j
        \partial\theta_k` as ``[i][j][k]``, contracted numerically with the top eigenvector; else ``None``.
    """

    name: ClassVar[str] = "grad_sharpness"
    gradient: Optional[dict]
    third_derivatives: Optional[list]


@dataclass(frozen=True, repr=False)
class CentralFlowField(DerivedResult):
    r"""The central flow :math:`\dot z = g + \sigma^2 h` in the state, time in GD steps
    (:func:`analysis.derivations.central_flow.central_flow`; Cohen et al., ICLR 2025, Sec. 3; equations
    ``flow-metric-ab``, ``flow-<state>``, ``flow-sigma2``).

    All fields are ``None`` (and the notes say why) under a momentum optimizer, or for a Gram model whose flow
    does not close on the state.

    Attributes
    ----------
    gradient_field : dict or None
        :math:`g = -\eta K \nabla L`, the gradient flow, ``{state symbol: expression}``.
    sharpness_field : dict or None
        :math:`h = -\tfrac{\eta}{2} K \nabla S`, the field per unit :math:`\sigma^2` (``None`` where
        :math:`\nabla S` has no closed form: numerics contracts the tensor of :class:`GradSharpness`).
    multiplier : sympy.Expr or None
        :math:`\sigma^2 = -2\,\nabla L^\top K\nabla S / \nabla S^\top K \nabla S`, the multiplier on
        :math:`S = 2/\eta` (``None`` where :math:`\nabla S` has no closed form).
    metric : sympy.Matrix or None
        :math:`K` in the state: :math:`sI` for a coordinate model, :math:`s\langle\nabla_w z_b, \nabla_w z_a
        \rangle` for a Gram model.
    loss_gradient : dict or None
        :math:`\partial L/\partial z`.
    states : tuple or None
        The state symbols the field is over, in order.
    closure : str
        Why the flow closes on the state (the proof that was checked).
    """

    name: ClassVar[str] = "central_flow"
    gradient_field: Optional[dict]
    sharpness_field: Optional[dict]
    multiplier: Optional[sp.Expr]
    metric: Optional[sp.Matrix]
    loss_gradient: Optional[dict]
    states: Optional[tuple]
    closure: str


@dataclass(frozen=True, repr=False)
class MeanSquare(DerivedResult):
    r"""Mini-batch SGD (:func:`analysis.derivations.mean_square.mean_square`, :mod:`analysis.stochastic`).

    Attributes
    ----------
    batches : list of tuple
        Every batch (indices of its examples, from 0), each drawn with equal probability.
    batch_maps : list of dict
        The SGD step on each batch, ``{state symbol: image}``.
    batch_hessians : list of Matrix
        :math:`s\nabla^2 L_{\mathcal B}` of each batch over the coordinates.
    threshold : Expr or None
        One coordinate: the closed form :math:`\eta^\ast = 2E[h_{\mathcal B}]/(s\,E[h_{\mathcal B}^2])` (on the
        step's parameter), valid at a fixed point of every batch map; ``None`` otherwise (the threshold is then the
        smallest positive root of :math:`\det(\eta s K - S)`, evaluated at given values).
    at_fixed_points : dict
        ``{label: closed-form threshold}`` at each closed-form fixed point where every example's gradient
        vanishes identically.
    """

    name: ClassVar[str] = "mean_square"
    batches: list
    batch_maps: list
    batch_hessians: list
    threshold: Optional[sp.Expr]
    at_fixed_points: dict


RESULT_CLASSES = (StateDefinitions, ParameterUpdate, FunctionMap, Loss, Jacobian, HessianSpectrum, Sharpness,
                  FixedPoints, Stability, EoSManifolds, EoSMap, Minima, NormalForm, GradSharpness, CentralFlowField,
                  MeanSquare)
