r"""The UV model's prediction for a real network: its regimes at the network's :math:`\eta\lambda_0`."""
from __future__ import annotations

import functools

from analysis import load_model

from ..classify import characteristic_regime
from ..iterated_map import IteratedMap


def uv_parameterization(parameterization: str) -> str:
    r"""The UV model's parameterization that a network's (:data:`numerics.nn.PARAMETERIZATIONS`) is compared with:
    ``mup`` for ``mup``; ``sp`` for ``ntk``, ``sp`` and ``pytorch``. The UV model's SP (:math:`f = v\cdot u/\sqrt
    n`, unit-variance weights, one rate) is Yang & Hu's NTK parameterization, and ``ntk`` on the ``uv``
    architecture is its map exactly; ``sp`` and PyTorch's default differ from it by the learning rate of the output
    layer (:math:`\eta n` in the UV model's coordinates), so that their :math:`\lambda_0` grows with the width,
    but at a stable :math:`\eta \sim 1/\lambda_0 \sim 1/n` they too are in the kernel (lazy) regime as the width
    grows, where the UV model's SP is, and not in muP's feature-learning one."""
    from .architectures import PARAMETERIZATIONS

    if parameterization not in PARAMETERIZATIONS:
        from analysis.errors import UnknownNameError

        raise UnknownNameError("parameterization", parameterization, PARAMETERIZATIONS)
    return "mup" if parameterization == "mup" else "sp"


def uv_prediction(eta_lam0: float, width: int, steps: int = 2000, model: str = "uv", parameterization: str = "sp",
                  target: float = 1.0) -> dict:
    r"""A width-n model's regimes at the same :math:`\eta\lambda_0` (default: the UV model in SP, Kalra et al.'s
    comparison): unit step, the network's width, target ``target``, zero initial output and initial kernel
    :math:`\lambda_0 = \eta\lambda_0` (only the product matters for the linear stability threshold; the width sets
    how fast a catapult develops, the paper's Fig. 3 phase diagram). The names of the step, width, output and
    kernel come from the model's description."""
    derived = load_model(model, parameterization)
    spec = derived.description
    output, kernel = (s.name for s in spec.state)
    target_name = next(p.name for p in derived.model.parameters
                       if p.name not in (spec.step.name, spec.width.name) and p.default is None)
    values = {spec.step.name: 1, spec.width.name: width, target_name: target}
    result = IteratedMap(derived, values=values).run(steps, init={output: 0, kernel: float(eta_lam0)})
    return {"outcome": result.outcome.to_dict(), "regimes": [r.name for r in result.regimes],
            "parameters": {"model": model, "parameterization": parameterization, **values, output + "0": 0,
                           kernel + "0": float(eta_lam0)}}


@functools.lru_cache(maxsize=4096)
def uv_early_regime(eta_lam0: float, width: int, steps: int, parameterization: str = "sp") -> str:
    r"""The UV model's early regime at :math:`\eta\lambda_0` and ``width`` over ``steps`` steps (a network's run's
    own length), in its ``parameterization`` (``sp`` or ``mup``): the characteristic regime
    (:func:`numerics.classify.characteristic_regime`, as the cells of ``sharpness phase-diagram --measure regime``)
    of :func:`uv_prediction`'s run. Cached: a grid's table and its figure ask for the same cells."""
    prediction = uv_prediction(eta_lam0, width, steps=steps, parameterization=parameterization)
    return characteristic_regime(prediction["regimes"], prediction["outcome"]["name"] == "diverged")
