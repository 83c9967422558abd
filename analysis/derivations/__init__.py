r"""The derived results, one function each, grouped by subject, and the graph of what each is derived from.

Every derivation takes a :class:`~analysis.derivations.graph.Context` (the model description and the results
it depends on) and returns its typed result (:mod:`.results`: :class:`~.results.Sharpness`, :class:`~.results.FixedPoints`, ...). Nothing model-specific lives here:
each works on any :class:`~analysis.model.GramModel` or :class:`~analysis.model.CoordinateModel`, and
:mod:`analysis.engine` evaluates them in the order of :func:`build_graph`.

Modules: :mod:`.parameter_space` (``state_definitions``, ``gd_update``), :mod:`.function_space`
(``function_map``, ``loss``, ``jacobian``), :mod:`.spectrum` (``hessian_spectrum``, ``sharpness``),
:mod:`.fixed_points` (``fixed_points``, ``stability``), :mod:`.eos` (``eos_manifold``, ``eos_map``),
:mod:`.minima` (``minima``), :mod:`.normal_form` (``normal_form``), :mod:`.mean_square` (``mean_square``, SGD only), :mod:`.central_flow` (``grad_sharpness``, ``central_flow``); the result classes in :mod:`.results`.

Equation numbers in the docstrings refer to Kalra, He & Barkeshli, arXiv 2311.02076 where the result appears
there; everything else is derived here from the parameter-space loss.
"""
from ..errors import DerivationError
from . import central_flow, eos, fixed_points, function_space, mean_square, minima, normal_form, parameter_space, spectrum  # noqa: F401 - registers nodes
from .common import control_parameter, roman, sample_points
from .graph import COORDINATE, GRAM, NODES, Context, Equation, Node, build_graph, kind_of
from .normal_form import FlipCoefficient
from .records import (EoSReduction, FixedPointSolution, FixedPointStability, InvariantManifold,
                      MomentumInvariantManifold, StabilityBoundary, ZeroLossSet)
from .results import (RESULT_CLASSES, CentralFlowField, DerivedResult, EoSManifolds, EoSMap, FixedPoints, FunctionMap,
                      GradSharpness, HessianSpectrum, Jacobian, Loss, MeanSquare, Minima, NormalForm, ParameterUpdate, Sharpness, Stability,
                      StateDefinitions)

__all__ = ["COORDINATE", "GRAM", "NODES", "RESULT_CLASSES", "CentralFlowField", "Context", "DerivationError", "DerivedResult",
           "EoSManifolds", "EoSMap", "EoSReduction", "Equation", "FixedPointSolution", "FixedPointStability",
           "FixedPoints", "FlipCoefficient", "FunctionMap", "GradSharpness", "HessianSpectrum", "InvariantManifold", "Jacobian", "Loss",
           "MeanSquare", "Minima", "MomentumInvariantManifold", "Node", "NormalForm", "ParameterUpdate", "Sharpness", "Stability",
           "StabilityBoundary", "StateDefinitions", "ZeroLossSet", "build_graph", "control_parameter", "kind_of",
           "roman", "sample_points"]
