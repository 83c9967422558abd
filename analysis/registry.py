"""The registry of models: each model module calls :func:`register` once at import."""
from __future__ import annotations

import importlib

_MODELS: dict = {}
# Modules that register a model; importing them fills the registry (one module per model).
MODEL_MODULES = ("analysis.uv", "analysis.uv_eos", "analysis.xy_quartic", "analysis.two_input", "analysis.product")


def register(model):
    if model.name in _MODELS and _MODELS[model.name] is not model:
        raise ValueError(f"model {model.name!r} registered twice")
    _MODELS[model.name] = model
    return model


def _load_all():
    for module in MODEL_MODULES:
        importlib.import_module(module)


def model_names() -> list:
    """Registered model names, sorted (the order does not depend on which module was imported first)."""
    _load_all()
    return sorted(_MODELS)


def get_model(name: str, **options):
    """The registered model called ``name`` (its variant for ``options``, e.g. ``product``'s ``loss``); an unknown
    name raises a :class:`UserInputError` listing all."""
    from .errors import UserInputError

    _load_all()
    try:
        model = _MODELS[name]
    except KeyError:
        raise UserInputError(f"unknown model {name!r}; expected one of: {', '.join(sorted(_MODELS))}") from None
    return model.with_options(**options)
