r"""Networks: the built-in architectures and the user's own PyTorch model.

``mlp`` (two tanh hidden layers of ``width``), ``cnn`` (two 3x3 tanh convolutions), ``linear`` (one affine layer),
``resnet`` (a tanh stem and two residual blocks, convolutional on images, dense on vectors), ``uv`` (two linear
layers without biases, :math:`f(x) = V U x` with :math:`U` of ``width`` rows: on one example of one input and one
output it is the UV model of Kalra, He & Barkeshli); smooth activations, so that the Hessian exists everywhere. A
user's model is ``PATH.py:FACTORY``, a function ``FACTORY(input_shape, outputs)`` returning a ``torch.nn.Module``
(``input_shape`` one example's shape, e.g. ``(64,)``; ``outputs`` the target width), called after
``torch.manual_seed(seed)``; it keeps its own initialization.

**Parameterizations** of the built-in architectures (:data:`PARAMETERIZATIONS`, :func:`layer_scales`): ``pytorch``
(PyTorch's default initialization, as built), and the abc-parameterizations ``sp``, ``ntk`` and ``mup`` of Yang &
Hu (2021, *Tensor Programs IV*, Sec. 3 and Table 3, SGD), written in their one-learning-rate form: each layer's
weight is :math:`W = m\,w` with a fixed multiplier :math:`m` and a trainable :math:`w \sim \mathcal N(0, s^2 v)`
(:math:`s` the ``init_scale``), every :math:`w` trained with the one step size :math:`\eta`. A per-layer learning
rate :math:`\eta r` on :math:`W` with initial variance :math:`\sigma^2` (Yang et al. 2022, *Tensor Programs V*,
Table 3) is the same training in function space as :math:`m = \sqrt r`, :math:`v = \sigma^2/r` at the one rate
:math:`\eta` (:math:`\Delta W = m\,\Delta w = -\eta m^2 \partial L/\partial W`), so the sharpness of the loss in
:math:`w` is the sharpness in the metric of the learning rates, and :math:`2/\eta` its threshold. The table is
in docs/networks.md.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.user_code import users_code

from .backend import require_torch
from .data import torch_dtype

ARCHITECTURES = ("mlp", "cnn", "linear", "resnet", "uv")
# pytorch: PyTorch's default initialization (each layer's own reset_parameters), the built-in architectures as they
# always were; sp, ntk, mup: Yang & Hu's abc-parameterizations in their one-learning-rate form (layer_scales).
PARAMETERIZATIONS = ("pytorch", "sp", "ntk", "mup")
# The roles of a layer in an abc-parameterization: ``input`` (finite fan-in, fan-out the width), ``hidden`` (both
# the width), ``output`` (fan-in the width, finite fan-out); ``only`` is a layer that is both the first and the last
# (the linear architecture: no width, every parameterization alike up to constants).
ROLES = ("input", "hidden", "output", "only")


def layer_scales(parameterization: str, role: str, fan_in: int, fan_out: int) -> dict:
    r"""``{"weight": (m2, v), "bias": (m2, v)}``: the squared multiplier :math:`m^2` and the initial variance
    :math:`v` of the trainable :math:`w` (before the ``init_scale`` :math:`s^2`) of a layer of ``role``
    (:data:`ROLES`) with ``fan_in`` inputs (a convolution: in-channels x kernel area) and ``fan_out`` outputs
    (out-channels), in ``parameterization`` (``sp``, ``ntk``, ``mup``; module docstring). With :math:`k` the fan-in
    and :math:`n` the fan-out of an input layer:

    ======  ==================  ==================  ==================  ===========================
    param.  input weight        hidden weight       output weight       biases (input, hidden; out)
    ======  ==================  ==================  ==================  ===========================
    sp      1, 1/k              1, 1/k              1, 1/k              1, 0; 1, 0
    ntk     1/k, 1              1/k, 1              1/k, 1              1, 0; 1, 0
    mup     n, 1/(k n)          1, 1/k              1/k, 1/k            n, 0; 1, 0
    ======  ==================  ==================  ==================  ===========================

    (biases start at zero; their multiplier is the learning-rate scale of Tensor Programs V's "all biases":
    fan-out for the hidden ones, 1 for the output's, whose fan-out is finite.) An ``only`` layer is a hidden one."""
    if parameterization not in PARAMETERIZATIONS[1:]:
        raise UnknownNameError("parameterization", parameterization, PARAMETERIZATIONS[1:])
    if role not in ROLES:
        raise UnknownNameError("layer role", role, ROLES)
    role = "hidden" if role == "only" else role
    k, n = float(fan_in), float(fan_out)
    if parameterization == "sp":
        weight = (1.0, 1 / k)
    elif parameterization == "ntk":
        weight = (1 / k, 1.0)
    else:
        weight = {"input": (n, 1 / (k * n)), "hidden": (1.0, 1 / k), "output": (1 / k, 1 / k)}[role]
    bias = (n if parameterization == "mup" and role != "output" else 1.0, 0.0)
    return {"weight": weight, "bias": bias}


def _image_shape(input_shape: tuple, arch: str) -> tuple:
    if len(input_shape) == 3:
        return tuple(input_shape)
    side = math.isqrt(input_shape[0])
    if len(input_shape) == 1 and side * side == input_shape[0]:
        return (1, side, side)
    raise UserInputError(f"the {arch} architecture needs images: X of shape N x C x H x W, or N x d with d a "
                         f"square (read as 1 x sqrt(d) x sqrt(d)); got examples of shape {input_shape}")


def build(arch: str, width: int, seed: int, input_shape: tuple = (64,), outputs: int = 10, dtype: str = "float64",
          parameterization: str = "pytorch", init_scale: float = 1.0):
    """A built-in network, smooth (tanh), after ``torch.manual_seed(seed)``: PyTorch's default initialisation
    (``parameterization="pytorch"``, every initial parameter times ``init_scale``), or ``sp``, ``ntk``, ``mup``
    (module docstring, :func:`layer_scales`): each weight ``m * w`` with ``w`` drawn from ``N(0, init_scale**2 v)``
    by a generator seeded with ``seed`` (in float64, layer by layer from input to output), biases from zero.

    >>> net = build("uv", 4, seed=0, input_shape=(1,), outputs=1, parameterization="mup")
    >>> [name for name, _ in net.named_parameters()]
    ['1.parametrizations.weight.original', '2.parametrizations.weight.original']
    """
    if arch not in ARCHITECTURES:
        raise UnknownNameError("architecture", arch, ARCHITECTURES)
    if not (isinstance(width, int) and width > 0):
        raise DomainError("width", width, "a positive integer")
    check_parameterization(parameterization, init_scale)
    torch = require_torch()
    torch.manual_seed(seed)
    nn = torch.nn
    features = int(np.prod(input_shape))
    if arch == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, width), nn.Tanh(), nn.Linear(width, width),
                              nn.Tanh(), nn.Linear(width, outputs))
    elif arch == "linear":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, outputs))
    elif arch == "uv":
        model = nn.Sequential(nn.Flatten(), nn.Linear(features, width, bias=False),
                              nn.Linear(width, outputs, bias=False))
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
    model = model.to(torch_dtype(dtype))
    if parameterization != "pytorch":
        _reparameterize(model, parameterization, float(init_scale), seed)
    elif init_scale != 1:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(float(init_scale))
    return model


def check_parameterization(parameterization, init_scale, model=None) -> None:
    """Refuse a parameterization not in :data:`PARAMETERIZATIONS`, an ``init_scale`` that is not a positive
    finite number, and either set away from its default with a user's ``model`` factory (which keeps its own
    initialization)."""
    if model is not None and (parameterization != "pytorch" or init_scale != 1):
        raise UserInputError("--parameterization and --init-scale apply to the built-in architectures (--arch); "
                             "a --model keeps its own initialization")
    if parameterization not in PARAMETERIZATIONS:
        raise UnknownNameError("parameterization", parameterization, PARAMETERIZATIONS)
    if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float, np.floating, np.integer)) \
            or not (math.isfinite(init_scale) and init_scale > 0):
        raise DomainError("--init-scale", init_scale, "a positive number")


def layers(model) -> list:
    """The weight layers (``Linear``, ``Conv2d``) of a built-in network from input to output, each with its role
    (:data:`ROLES`): ``[(layer, role), ...]``."""
    torch = require_torch()
    kinds = (torch.nn.Linear, torch.nn.Conv2d)
    if hasattr(model, "ordered_layers"):
        found = model.ordered_layers()
    else:
        found = [m for m in model.modules() if isinstance(m, kinds)]
    if len(found) == 1:
        return [(found[0], "only")]
    return [(layer, "input" if i == 0 else "output" if i == len(found) - 1 else "hidden")
            for i, layer in enumerate(found)]


def _fans(layer) -> tuple:
    """``(fan_in, fan_out)`` of a Linear or a Conv2d (in-channels times the kernel's area; out-channels)."""
    weight = layer.weight
    return int(np.prod(weight.shape[1:])), int(weight.shape[0])


def _reparameterize(model, parameterization: str, scale: float, seed: int) -> None:
    """Each layer's weight and bias as ``m * w`` (a ``torch.nn.utils.parametrize`` multiplication, registered where
    ``m != 1``), ``w`` drawn afresh (:func:`build`)."""
    torch = require_torch()
    from torch.nn.utils import parametrize

    generator = torch.Generator().manual_seed(seed)
    for layer, role in layers(model):
        fan_in, fan_out = _fans(layer)
        scales = layer_scales(parameterization, role, fan_in, fan_out)
        for name in ("weight", "bias"):
            parameter = getattr(layer, name)
            if parameter is None:
                continue
            squared, variance = scales[name]
            with torch.no_grad():
                draw = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
                parameter.copy_(draw * (scale * math.sqrt(variance)))
            if squared != 1:
                parametrize.register_parametrization(layer, name, _multiplier(math.sqrt(squared)),
                                                     unsafe=True)


def _multiplier(value: float):
    torch = require_torch()

    class Multiplier(torch.nn.Module):
        """``W = m * w``: a fixed multiplier on a trainable tensor."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, w):
            return self.m * w

        def extra_repr(self) -> str:
            return f"m={self.m:.6g}"

    return Multiplier(value)


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

        def ordered_layers(self):
            """The weight layers from input to output: stem, the blocks' two each, head."""
            return [self.stem, *(layer for block in self.blocks for layer in (block.first, block.second)),
                    self.head]

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
