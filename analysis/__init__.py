"""Symbolic core of the sharpness-dynamics toolkit: model descriptions and what SymPy derives from them.

>>> from analysis import Derivation, model_names
>>> model_names()
['product', 'two-input', 'uv', 'uv-eos', 'xy-quartic']
"""
from .engine import Derivation
from .errors import UserInputError
from .registry import get_model, model_names

__all__ = ["Derivation", "UserInputError", "get_model", "model_names"]
