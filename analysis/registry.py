"""The registry of models, and models from a user's own file.

Each built-in model module calls :func:`register` once at import. A user's model lives in their own Python file
that defines ``MODEL`` (an :class:`analysis.model.Model` built from the public description classes);
:func:`get_model` accepts its path wherever it accepts a registered name, so nothing in the package is edited.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import UnknownNameError, UserInputError, WrongTypeError
from .user_code import users_code

_MODELS: dict = {}
MAX_MODEL_FILE_BYTES = 1_000_000  # a model description is a page of code; /dev/zero is not one
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


def is_path(name: str) -> bool:
    """Whether ``name`` names a file rather than a registered model (it ends in ``.py`` or contains a ``/``)."""
    return str(name).endswith(".py") or "/" in str(name)


def load_file(path):
    """The ``MODEL`` defined by the Python file at ``path`` (imported once per process and content)."""
    from .model import Model

    target = Path(path).expanduser()
    try:
        if not target.is_file() or not str(target).endswith(".py"):
            raise UserInputError(f"model file {path} must be a Python file (*.py) defining MODEL")
        if target.stat().st_size > MAX_MODEL_FILE_BYTES:
            raise UserInputError(f"model file {path} is larger than {MAX_MODEL_FILE_BYTES:,} bytes")
        source = target.read_bytes()
    except OSError as error:
        raise UserInputError(f"cannot read model file {path}: {error.strerror or error}") from None
    # One module per file content: an edited file is imported afresh, an unchanged one is not re-executed.
    module_name = "sharpness_user_model_" + hashlib.sha256(str(target.resolve()).encode() + source).hexdigest()[:16]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, target)
        if spec is None or spec.loader is None:
            raise UserInputError(f"cannot import model file {path}")
        module = importlib.util.module_from_spec(spec)
        with users_code(f"model file {path}: importing it"):
            spec.loader.exec_module(module)
        sys.modules[module_name] = module
    model = getattr(module, "MODEL", None)
    if not isinstance(model, Model):
        raise UserInputError(f"model file {path} must define MODEL = analysis.Model(...), "
                             f"found {type(model).__name__}")
    checked = _CHECKED.get(module_name)
    if checked is None or checked[0] is not model:
        checked = _CHECKED[module_name] = (model, _users_model(model, path))
    return checked[1]


_CHECKED: dict = {}  # module name -> (the file's MODEL, the same with its describe checked): one object per file


def _users_model(model, path):
    """``model`` from the file ``path``, its ``describe`` run as the user's code (:func:`analysis.user_code.users_code`)
    and its result checked (:func:`analysis.model.check_description`): whatever it does wrong is one line naming
    the file, in every command."""
    import dataclasses

    from .model import check_description

    describe = model.describe

    def checked_describe(parameterization):
        where = f"model file {path}: describe({parameterization!r})"
        with users_code(where):
            spec = describe(parameterization)
        return check_description(model, spec, where)

    return dataclasses.replace(model, describe=checked_describe)
    return model


def get_model(name: str, **options):
    """The model called ``name``, or defined in the file ``name`` (see :func:`is_path`), in its variant for
    ``options`` (e.g. ``product``'s ``loss``); an unknown name raises :class:`UnknownNameError` listing all."""
    from .model import Model

    if isinstance(name, Model):
        return name.with_options(**options)
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise WrongTypeError("model", name, "a model name (sharpness models), the path of a model file or a Model")
    if is_path(name):
        return load_file(name).with_options(**options)
    _load_all()
    try:
        model = _MODELS[name]
    except KeyError:
        raise UnknownNameError("model", name, sorted(_MODELS)) from None
    return model.with_options(**options)
