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


def dumps_json(obj) -> str:
    """``json.dumps(finite(obj), indent=2, allow_nan=False)`` where ``obj`` may also hold numpy arrays (written as
    their ``tolist()``), byte for byte, with the arrays of numbers formatted in bulk: ``json``'s indenting encoder
    is pure Python, about a microsecond per number, which is seconds for an orbit diagram's states."""
    import json

    import numpy as np

    arrays = []

    def extract(value):  # finite(value), with each array of numbers replaced by a token
        if isinstance(value, np.ndarray):
            if value.ndim and value.size and value.dtype.kind in "fiub":
                arrays.append(value)
                return f"\x00array {len(arrays) - 1}\x00"
            return finite(value.tolist())
        if isinstance(value, dict):
            return {k: extract(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [extract(v) for v in value]
        return finite(value)

    text = json.dumps(extract(obj), indent=2, allow_nan=False)
    for index, array in enumerate(arrays):
        token = json.dumps(f"\x00array {index}\x00")
        at = text.find(token)
        if at < 0 or text.find(token, at + 1) >= 0:  # a string of the payload looks like the token: no bulk path
            return json.dumps(finite(_as_lists(obj)), indent=2, allow_nan=False)
        line_start = text.rfind("\n", 0, at) + 1
        level = (len(text[line_start:at]) - len(text[line_start:at].lstrip(" "))) // 2
        text = text[:at] + _array_text(array, level) + text[at + len(token):]
    return text


def _as_lists(obj):
    if isinstance(obj, dict):
        return {k: _as_lists(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_as_lists(v) for v in obj]
    return obj.tolist() if hasattr(obj, "tolist") and hasattr(obj, "ndim") else obj


def _array_text(array, level: int) -> str:
    """``array.tolist()`` as ``json.dumps(..., indent=2)`` writes it at indentation ``level``: the numbers' texts
    (``float.__repr__``, ``null`` where not finite, ``int``'s, ``true``/``false``) interleaved with the separators,
    which depend only on how many dimensions end after each number."""
    import numpy as np

    shape, depth = array.shape, array.ndim
    flat = array.ravel()
    kind = array.dtype.kind
    if kind == "f":
        values = flat.astype(float).tolist()
        tokens = list(map(float.__repr__, values))
        for index in np.flatnonzero(~np.isfinite(flat)).tolist():
            tokens[index] = "null"
    elif kind == "b":
        tokens = ["true" if v else "false" for v in flat.tolist()]
    else:
        tokens = list(map(int.__repr__, flat.tolist()))

    def indent(n):
        return "\n" + "  " * n

    def separator(ends):  # after a number where `ends` lists end (0: the next number is a sibling)
        closing = "".join(indent(level + depth - 1 - i) + "]" for i in range(ends))
        opening = "".join("[" + indent(level + depth - ends + 1 + i) for i in range(ends))
        return closing + "," + indent(level + depth - ends) + opening

    separators = [separator(0)] * (len(tokens) - 1)
    period = 1
    for ends in range(1, depth):
        period *= shape[depth - ends]
        separators[period - 1::period] = [separator(ends)] * len(separators[period - 1::period])
    pieces = [""] * (2 * len(tokens) - 1)
    pieces[0::2] = tokens
    pieces[1::2] = separators
    opening = "".join("[" + indent(level + 1 + i) for i in range(depth))
    closing = "".join(indent(level + depth - 1 - i) + "]" for i in range(depth))
    return opening + "".join(pieces) + closing
