"""Settings read from environment variables, parsed where they are used (not at import, so that a garbage value
fails only the command that needs it) and refused with one line that names the variable."""
from __future__ import annotations

import math
import os

from .errors import DomainError


def seconds(variable: str, default: float) -> float:
    """``$variable`` as a positive, finite number of seconds, else ``default`` when it is unset or empty."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DomainError(f"the environment variable {variable}", repr(text), "a positive number of seconds")
    return value
