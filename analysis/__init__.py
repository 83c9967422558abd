"""Symbolic core of the sharpness-dynamics toolkit: model descriptions and what SymPy derives from them.

>>> from analysis import Derivation, model_names
>>> model_names()
['uv', 'uv-eos', 'xy-quartic']
"""
from .engine import Derivation
from .errors import NotDerivedError, UserInputError
from .registry import get_model, model_names

__all__ = ["Derivation", "UserInputError", "NotDerivedError", "get_model", "model_names"]
