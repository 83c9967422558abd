"""PyTorch, the optional dependency of real networks (``pip install -e .[torch]``), imported on first use."""
from __future__ import annotations

from analysis.errors import UserInputError


def require_torch():
    try:
        import torch
    except ImportError:
        raise UserInputError("real networks need PyTorch: pip install torch==2.13.0 && pip install -e .[torch]") from None
    return torch
