"""The options of ``sharpness nn``: step sizes (``--set eta=E`` or ``--vary eta=A:B:N``) and the data, model and optimizer options, checked
together before any work."""
from __future__ import annotations

import math

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.optimizers import OPTIMIZERS, check_beta

from ..nn import ARCHITECTURES, DATASETS, DTYPES, load_factory, read_npz


def step_sizes(axis, one=None) -> list:
    """The step sizes of ``sharpness nn``: the values of ``axis`` (an :class:`~numerics.requests.Axis` of ``eta``,
    from ``--vary``) or the single ``one`` (``--set eta=E``), each positive and finite, rounded to 12 significant
    decimals (an evenly spaced grid's 0.30000000000000004 is 0.3)."""
    if (axis is None) == (one is None):
        raise UserInputError("give the step size: --set eta=E (one run) or --vary eta=A:B:N or eta=E1,E2,... "
                             "(a sweep), not both" if axis is not None else
                             "give the step size: --set eta=E (one run) or --vary eta=A:B:N or eta=E1,E2,... "
                             "(a sweep)")
    if axis is not None and axis.name != "eta":
        raise UnknownNameError("parameter", axis.name, ["eta"], " to vary in nn (the step size)")
    if axis is None:
        try:
            etas = [float(one)]
        except ValueError:
            raise DomainError("eta", one, "a positive number") from None
    else:
        etas = list(axis.values)
    for eta in etas:
        if not (math.isfinite(eta) and eta > 0):
            raise DomainError("eta", eta, "a positive number")
    return [float(round(e, 12)) for e in etas]


def cli_settings(dataset=None, data=None, arch=None, model=None, optimizer="gd", set_values=None,
                 dtype="float64") -> dict:
    """The data, model and optimizer options of ``sharpness nn``, checked together (one of ``--dataset`` and
    ``--data``, one of ``--arch`` and ``--model``; ``beta`` exactly for the momentum optimizers)."""
    if dataset is not None and data is not None:
        raise UserInputError("give --dataset or --data, not both")
    if arch is not None and model is not None:
        raise UserInputError("give --arch or --model, not both")
    if data is None and (dataset or "digits") not in DATASETS:
        raise UnknownNameError("dataset", dataset, DATASETS)
    if model is None and (arch or "mlp") not in ARCHITECTURES:
        raise UnknownNameError("architecture", arch, ARCHITECTURES)
    if optimizer not in OPTIMIZERS:
        raise UnknownNameError("optimizer", optimizer, OPTIMIZERS)
    if dtype not in DTYPES:
        raise UnknownNameError("dtype", dtype, DTYPES)
    values = {k: v for k, v in (set_values or {}).items() if k != "eta"}
    unknown = [name for name in values if name != "beta"]
    if unknown:
        raise UnknownNameError("parameter", unknown[0], ["eta", "beta"],
                               " of nn (the step size, and the momentum of heavy-ball and nesterov)")
    beta = 0.0
    if optimizer == "gd":
        if "beta" in values:
            raise UserInputError("--set beta applies to --optimizer heavy-ball or nesterov, not gd")
    else:
        if "beta" not in values:
            raise UserInputError(f"--optimizer {optimizer} needs the momentum: --set beta=VALUE (0 <= beta < 1)")
        try:
            beta = float(values["beta"])
        except ValueError:
            raise DomainError("beta", values["beta"], "a number in [0, 1)") from None
        beta = check_beta(beta)
    if data is not None:
        read_npz(data)  # refused before any work
    if model is not None:
        load_factory(model)
    return {"dataset": None if data else (dataset or "digits"), "data": data, "arch": None if model else (arch or "mlp"),
            "model": model, "optimizer": optimizer, "beta": beta, "dtype": dtype}
