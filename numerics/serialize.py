"""JSON-ready values: what the command line prints, the report records and a sweep file stores."""
from __future__ import annotations

import math


def finite(obj):
    """JSON cannot hold inf/NaN: non-finite numbers become null (the outcome field says why)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        return finite(obj.item())
    return obj
