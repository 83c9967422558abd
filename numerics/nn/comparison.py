r"""The UV model's prediction for a real network: its regimes at the network's :math:`\eta\lambda_0`."""
from __future__ import annotations

from analysis import load_model

from ..iterated_map import IteratedMap


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
