"""The options of ``sharpness nn``: step sizes (``--eta``) and the data, model and optimizer options, checked
together before any work."""
from __future__ import annotations

import math

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError
from analysis.optimizers import OPTIMIZERS, check_beta

from ..nn import ARCHITECTURES, DATASETS, DTYPES, load_factory, read_npz


def parse_etas(text: str) -> list:
    """``--eta``: ``E``, ``E1,E2,...`` or ``A:B:N`` (``N`` values from ``A`` to ``B``, ends included)."""
    try:
        if ":" in text:
            first, last, count = text.split(":")
            count = int(count)
            if count < 1:
                raise ValueError
            etas = list(np.linspace(float(first), float(last), count))
        else:
            etas = [float(e) for e in text.split(",")]
    except ValueError:
        raise UserInputError(f"--eta must be a number, a comma-separated list or A:B:N, got {text!r}") from None
    for eta in etas:
        if not (math.isfinite(eta) and eta > 0):
            raise DomainError("--eta", eta, "a positive number")
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
    values = dict(set_values or {})
    unknown = [name for name in values if name != "beta"]
    if unknown:
        raise UnknownNameError("parameter", unknown[0], ["beta"], " of nn (the momentum of heavy-ball and nesterov)")
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
