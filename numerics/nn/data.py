r"""Data of a real network: the bundled digits or the user's own ``.npz``, as float tensors.

``digits``: scikit-learn's bundled 1,797 images of 8x8 pixels (nothing is downloaded), inputs scaled to [0, 1]. A
user's ``.npz`` (a zip archive of ``.npy`` arrays, as ``numpy.savez`` writes it) holds ``X`` (N x d, or N x C x H x W
for a CNN) and ``y``: integer class labels (N,) (non-negative class indices) become one-hot targets centred per
class (each column minus its mean); boolean labels (N,) are two classes (``False`` class 0, ``True`` class 1, two
columns even when one class is absent); float targets (N,) or (N, m) are regressed as given.
``samples``: the first N examples, in file order.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from analysis.errors import DomainError, UnknownNameError, UserInputError

from .backend import require_torch

DATASETS = ("digits",)
DTYPES = ("float64", "float32")


def torch_dtype(dtype: str):
    torch = require_torch()
    if dtype not in DTYPES:
        raise UnknownNameError("dtype", dtype, DTYPES)
    return getattr(torch, dtype)


def _targets(labels: np.ndarray, name: str) -> tuple:
    """Integer labels -> centred one-hot targets (``classification``); floats -> (N, m) as given."""
    if labels.dtype.kind == "b":  # two classes; as an index array (a boolean array indexes as a mask)
        if labels.ndim != 1:
            raise UserInputError(f"{name}: boolean labels y must have shape (N,), got {labels.shape}")
        return np.eye(2)[labels.astype(np.intp)], "classification"
    if labels.dtype.kind in "iu":
        if labels.ndim != 1:
            raise UserInputError(f"{name}: integer labels y must have shape (N,), got {labels.shape}")
        if labels.min() < 0:
            raise UserInputError(f"{name}: integer labels y must be non-negative class indices, got {labels.min()}")
        classes = int(labels.max()) + 1
        if classes > 10_000:
            raise UserInputError(f"{name}: {classes} classes from integer labels y; at most 10000")
        return np.eye(classes)[labels.astype(np.intp)], "classification"
    if labels.dtype.kind != "f":
        raise UserInputError(f"{name}: y must hold integer class labels or float targets, got dtype {labels.dtype}")
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise UserInputError(f"{name}: float targets y must have shape (N,) or (N, m), got {labels.shape}")
    if not np.isfinite(labels).all():
        raise UserInputError(f"{name}: y holds NaN or infinite values")
    return labels.astype(float), "regression"


def read_npz(path: str) -> tuple:
    """``(X, y, task)`` from a user's ``.npz`` (validated: keys, shapes, finite values, matching N), or a
    :class:`UserInputError` that says what is wrong."""
    target = Path(path)
    if not target.is_file():
        raise UserInputError(f"--data {path}: no such file")
    if not zipfile.is_zipfile(target):  # e.g. a .npy renamed .npz, which np.load would return as one array
        raise UserInputError(f"--data {path}: not a readable .npz (not a zip archive of arrays, as numpy.savez writes)")
    try:
        with np.load(target, allow_pickle=False) as archive:
            keys = set(archive.files)
            missing = [k for k in ("X", "y") if k not in keys]
            if missing:
                raise UserInputError(f"--data {path}: missing key(s) {', '.join(missing)}; the file must hold X "
                                     f"(N x d or N x C x H x W) and y (N class labels or N x m targets); "
                                     f"found: {', '.join(sorted(keys)) or 'none'}")
            inputs, labels = archive["X"], archive["y"]
    except UserInputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:  # truncated, corrupt,
        # object arrays (pickle refused)
        raise UserInputError(f"--data {path}: not a readable .npz of numeric arrays ({error})".splitlines()[0]) \
            from None
    if inputs.dtype.kind not in "iuf" or labels.dtype.kind not in "iufb":
        raise UserInputError(f"--data {path}: X and y must be numeric, got {inputs.dtype} and {labels.dtype}")
    if inputs.ndim not in (2, 4):
        raise UserInputError(f"--data {path}: X must have shape N x d or N x C x H x W, got {inputs.shape}")
    if labels.ndim == 0 or labels.shape[0] != inputs.shape[0]:
        raise UserInputError(f"--data {path}: X has {inputs.shape[0]} examples but y has "
                             f"{labels.shape[0] if labels.ndim else 'a scalar'}; they must match")
    if inputs.shape[0] == 0 or 0 in inputs.shape:
        raise UserInputError(f"--data {path}: X is empty ({inputs.shape})")
    inputs = inputs.astype(float)
    if not np.isfinite(inputs).all():
        raise UserInputError(f"--data {path}: X holds NaN or infinite values")
    targets, task = _targets(labels, f"--data {path}")
    return inputs, targets, task


def load_data(dataset: str = "digits", samples: int | None = None, dtype: str = "float64", data: str | None = None):
    """``(inputs, targets)`` tensors: the bundled ``dataset`` or the user's ``data`` file (module docstring),
    the first ``samples`` examples (all by default), in ``dtype``."""
    inputs, targets, task = load_arrays(dataset, data)
    kind = torch_dtype(dtype)
    torch = require_torch()
    if samples is not None:
        if samples <= 0:
            raise DomainError("samples", samples, "a positive integer")
        inputs, targets = inputs[:samples], targets[:samples]
    if task == "classification":  # one-hot, centred per class over the examples used
        targets = targets - targets.mean(axis=0)
    return torch.tensor(inputs, dtype=kind), torch.tensor(targets, dtype=kind)


def load_arrays(dataset, data):
    if data is not None:
        return read_npz(data)
    if dataset not in DATASETS:
        raise UnknownNameError("dataset", dataset, DATASETS)
    from sklearn.datasets import load_digits

    digits = load_digits()
    targets = np.eye(10)[digits.target]
    return digits.data / 16.0, targets, "classification"
