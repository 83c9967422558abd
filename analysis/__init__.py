"""Symbolic core of the sharpness-dynamics toolkit: model descriptions and what SymPy derives from them.

The public API::

    from analysis import load_model
    uv = load_model("uv", "mup")        # or a path to your own model file defining MODEL
    uv.map.images, uv.sharpness.expression, uv.fixed_points_at({"eta": 0.5, "y": 1, "n": 4}), uv.latex("uv.tex")

Describing a model: :class:`Model` (name, :class:`Parameter` s, :class:`StateVariable` s, parameterizations and a
``describe`` function returning a :class:`GramModel` or a :class:`CoordinateModel`; Gram models may declare
:class:`EoSManifold` s). Errors are the typed exceptions of :mod:`analysis.errors`.

>>> from analysis import model_names
>>> model_names()
['product', 'two-input', 'uv', 'uv-eos', 'xy-quartic']
"""
from .derived import DerivedModel, load_model
from .engine import Derivation
from .errors import (DerivationError, DerivationTimeout, DomainError, MissingValueError, ResourceLimitError,
                     ToolkitError, UnknownNameError, UserInputError)
from .model import CoordinateModel, EoSManifold, GramModel, Model, Parameter, StateVariable
from .registry import get_model, model_names

__all__ = ["CoordinateModel", "Derivation", "DerivationError", "DerivationTimeout", "DerivedModel", "DomainError",
           "EoSManifold", "GramModel", "MissingValueError", "Model", "Parameter", "ResourceLimitError",
           "StateVariable", "ToolkitError", "UnknownNameError", "UserInputError", "get_model", "load_model",
           "model_names"]
