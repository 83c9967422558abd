r"""Networks: the built-in architectures and the user's own PyTorch model.

``mlp`` (two tanh hidden layers of ``width``), ``cnn`` (two 3x3 tanh convolutions), ``linear`` (one affine layer),
``resnet`` (a tanh stem and two residual blocks, convolutional on images, dense on vectors); smooth activations, so
that the Hessian exists everywhere. A user's model is ``PATH.py:FACTORY``, a function ``FACTORY(input_shape,
outputs)`` returning a ``torch.nn.Module`` (``input_shape`` one example's shape, e.g. ``(64,)``; ``outputs`` the
target width), called after ``torch.manual_seed(seed)``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.user_code import users_code

from .backend import require_torch
from .data import torch_dtype

ARCHITECTURES = ("mlp", "cnn", "linear", "resnet")


def _image_shape(input_shape: tuple, arch: str) -> tuple:
    if len(input_shape) == 3:
        return tuple(input_shape)
    side = math.isqrt(input_shape[0])
    if len(input_shape) == 1 and side * side == input_shape[0]:
        return (1, side, side)
    raise UserInputError(f"the {arch} architecture needs images: X of shape N x C x H x W, or N x d with d a "
                         f"square (read as 1 x sqrt(d) x sqrt(d)); got examples of shape {input_shape}")


def build(arch: str, width: int, seed: int, input_shape: tuple = (64,), outputs: int = 10, dtype: str = "float64"):
    """A built-in network (PyTorch default initialisation after ``torch.manual_seed(seed)``), smooth (tanh)."""
    if arch not in ARCHITECTURES:
        raise UnknownNameError("architecture", arch, ARCHITECTURES)
    if not (isinstance(width, int) and width > 0):
        raise DomainError("width", width, "a positive integer")
    torch = require_torch()
    torch.manual_seed(seed)
    nn = torch.nn
    features = int(np.prod(input_shape))
    if arch == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, width), nn.Tanh(), nn.Linear(width, width),
                              nn.Tanh(), nn.Linear(width, outputs))
    elif arch == "linear":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, outputs))
    elif arch == "cnn":
        shape = _image_shape(input_shape, arch)
        channels = max(4, width // 8)
        model = nn.Sequential(nn.Flatten(), nn.Unflatten(1, shape), nn.Conv2d(shape[0], channels, 3, padding=1), nn.Tanh(),
                              nn.Conv2d(channels, channels, 3, padding=1), nn.Tanh(), nn.Flatten(),
                              nn.Linear(channels * shape[1] * shape[2], outputs))
    else:
        try:
            shape = _image_shape(input_shape, arch)
        except UserInputError:
            shape = None
        model = _ResNet(shape, features, width, outputs)
    return model.to(torch_dtype(dtype))


def _resnet_class():
    torch = require_torch()
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, make):
            super().__init__()
            self.first, self.second = make(), make()

        def forward(self, x):
            return x + self.second(torch.tanh(self.first(x)))

    class ResNet(nn.Module):
        r"""A small residual network: stem, two blocks :math:`x + g_2(\tanh g_1(x))` with a tanh after each, head.
        Images: 3x3 convolutions with ``max(4, width/8)`` channels, then global average pooling; vectors: dense
        layers of ``width``."""

        def __init__(self, image_shape, features, width, outputs):
            super().__init__()
            self.image_shape = image_shape
            if image_shape is not None:
                channels = max(4, width // 8)
                self.stem = nn.Conv2d(image_shape[0], channels, 3, padding=1)
                make = lambda: nn.Conv2d(channels, channels, 3, padding=1)  # noqa: E731
                self.head = nn.Linear(channels, outputs)
            else:
                self.stem = nn.Linear(features, width)
                make = lambda: nn.Linear(width, width)  # noqa: E731
                self.head = nn.Linear(width, outputs)
            self.blocks = nn.ModuleList([Block(make), Block(make)])

        def forward(self, x):
            if self.image_shape is not None:
                x = x.reshape(x.shape[0], *self.image_shape)
            else:
                x = x.reshape(x.shape[0], -1)
            x = torch.tanh(self.stem(x))
            for block in self.blocks:
                x = torch.tanh(block(x))
            if self.image_shape is not None:
                x = x.mean(dim=(2, 3))
            return self.head(x)

    return ResNet


def _ResNet(*args):  # noqa: N802 - a constructor
    return _resnet_class()(*args)


def load_factory(spec: str):
    """The function ``FACTORY`` of ``PATH.py:FACTORY`` (the file is executed: it is the user's own code)."""
    import importlib.util

    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UserInputError(f"--model must be PATH.py:FACTORY, got {spec!r}")
    target = Path(path)
    if target.suffix != ".py" or not target.is_file():
        raise UserInputError(f"--model {spec}: {path} is not a .py file")
    module_spec = importlib.util.spec_from_file_location(f"_sharpness_user_model_{target.stem}", target)
    module = importlib.util.module_from_spec(module_spec)
    with users_code(f"--model {spec}: importing {path}"):
        module_spec.loader.exec_module(module)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UserInputError(f"--model {spec}: {path} defines no function {name!r}")
    return factory


def model_from_factory(spec: str, input_shape: tuple, outputs: int, seed: int, dtype: str = "float64"):
    """``FACTORY(input_shape, outputs)`` of ``PATH.py:FACTORY`` (after ``torch.manual_seed(seed)``), checked to be a
    ``torch.nn.Module`` with trainable parameters, cast to ``dtype``."""
    torch = require_torch()
    factory = load_factory(spec)
    torch.manual_seed(seed)
    with users_code(f"--model {spec}: {spec.rpartition(':')[2]}{tuple(input_shape), int(outputs)}"):
        model = factory(tuple(input_shape), int(outputs))
    if not isinstance(model, torch.nn.Module):
        raise UserInputError(f"--model {spec}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise UserInputError(f"--model {spec}: the module has no trainable parameters")
    return model.to(torch_dtype(dtype))


def check_outputs(model, inputs, targets, name):
    """Refuse (one line naming ``name``) a model that cannot be trained on exactly these data: parameters holding
    NaN or inf, a forward pass over all N examples (not a sample: a module may hard-code a batch size) that
    raises, or outputs that are not a tensor of the targets' shape (N, m) or not finite."""
    torch = require_torch()
    for parameter_name, parameter in model.named_parameters():
        if not bool(torch.isfinite(parameter.detach()).all()):
            raise UserInputError(f"{name}: the model's parameter {parameter_name!r} holds NaN or infinite values")
    with users_code(f"{name}: the model's forward pass on inputs of shape {tuple(inputs.shape)}"), torch.no_grad():
        outputs = model(inputs)
    if not isinstance(outputs, torch.Tensor) or tuple(outputs.shape[1:]) != tuple(targets.shape[1:]):
        shape = tuple(outputs.shape[1:]) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise UserInputError(f"{name}: the model's output per example has shape {shape}, the targets "
                             f"{tuple(targets.shape[1:])}")
    if outputs.shape[0] != inputs.shape[0]:
        raise UserInputError(f"{name}: the model returns {outputs.shape[0]} outputs for the {inputs.shape[0]} "
                             "examples of the data")
    if not bool(torch.isfinite(outputs).all()):
        raise UserInputError(f"{name}: the model's outputs at its initial parameters hold NaN or infinite values")
