r"""A range as a value: an :class:`Axis` of parameter (or initial state) values, parsed from text once.

A range is a value, parsed from text once, at the edge (as BifurcationKit's ``ContinuationPar`` holds what a
continuation is asked apart from the problem): the library takes :class:`Axis` objects (or sequences of floats,
which it turns into one), never range strings.

>>> Axis.parse("k=0.5:1.3:5")
Axis('k=0.5:1.3:5')
>>> Axis.parse("k=0.5:1.3:5").values
(0.5, 0.7, 0.9, 1.1, 1.3)
>>> Axis("eta", [0.05, 0.1, 0.3]).to_text()
'eta=0.05,0.1,0.3'
>>> Axis("eta", [0.05, 0.1, 0.15]).to_text()           # evenly spaced values are written as a range
'eta=0.05:0.15:3'

The grammar (the only place it is parsed): ``NAME=A:B:N`` (N evenly spaced values from A to B, ends included),
``NAME=A:B:N:log`` (geometric, A and B > 0), ``NAME=A:B`` (the interval from A towards B: a continuation's
range), ``NAME=V1,V2,...`` (listed values) and ``NAME=V`` (one value).

A value within a few ulps of 0, relative to the axis's largest magnitude, is 0 (:data:`ROUND_OFF_ULPS`):

>>> Axis.parse("y=-0.3:0.5:9").values[3]
0.0
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.errors import UserInputError

MAX_AXIS_POINTS = 1_000_000  # per axis; a grid's total size is checked against the memory budget by the measure
GRAMMAR = "NAME=A:B:N (N values from A to B), NAME=A:B:N:log, NAME=A:B or NAME=V1,V2,..."


# A value this many units in the last place of the axis's largest magnitude, or fewer, from 0 is 0: what
# ``linspace(-0.3, 0.5, 9)`` computes for the 0 between them (5.55e-17) is round-off, not a value below the smallest
# magnitude a value may have (analysis.values.MAX_MAGNITUDE).
ROUND_OFF_ULPS = 4


def _round_off_to_zero(array: np.ndarray) -> np.ndarray:
    """``array`` with every value within :data:`ROUND_OFF_ULPS` ulps (of the largest magnitude) of 0 set to 0. An
    axis of one value, or of values all that small, is left alone: there is no span to compare with."""
    scale = float(np.max(np.abs(array))) if array.size else 0.0
    tiny = np.abs(array) <= ROUND_OFF_ULPS * np.finfo(float).eps * scale
    if array.size > 1 and not tiny.all():
        array = np.where(tiny, 0.0, array)
    return array


def _number_text(value: float) -> str:
    """The shortest text that reads back as ``value`` (``repr``), without a trailing ``.0``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


class AxisError(UserInputError):
    """A malformed or out-of-bounds axis; ``text`` is what was given."""

    def __init__(self, text, why: str):
        self.text, self.why = text, why
        super().__init__(f"axis {text!r}: {why}")


def split_name(text: str) -> tuple:
    """``"NAME=SPEC"`` -> ``(NAME, SPEC)``; ``"NAME"`` -> ``(NAME, None)``. The name must be an identifier."""
    name, sep, spec = str(text).partition("=")
    name = name.strip()
    if not name.isidentifier():
        raise AxisError(text, f"expected {GRAMMAR}, e.g. k=0.5:1.3:64")
    return name, (spec.strip() if sep else None)


def _checked_name(name, what: str) -> str:
    """An axis's name, stripped; anything but an identifier is an :class:`AxisError` saying it must be ``what``."""
    stripped = name.strip() if isinstance(name, str) else ""
    if not stripped.isidentifier():
        raise AxisError(name, f"the name must be {what}")
    return stripped


@dataclass(frozen=True)
class Axis:
    r"""A named, non-empty sequence of finite values: the values a measure gives one parameter or state variable.

    ``Axis(name, values)`` takes any sequence of real numbers (stored as a tuple of floats, at most
    :data:`MAX_AXIS_POINTS`); :meth:`parse` reads the text grammar of the module docstring; :meth:`to_text` writes
    it back (``Axis.parse(a.to_text()) == a``). Whether a measure accepts an axis (ascending values, a positive
    domain, two ends) is the measure's check.
    """

    name: str
    values: tuple

    def __post_init__(self):
        name = _checked_name(self.name, "a parameter or state variable name")
        try:
            array = np.asarray(self.values, dtype=float)
        except (TypeError, ValueError):
            raise AxisError(name, f"values must be real numbers, got {self.values!r}"[:200]) from None
        array = np.atleast_1d(array)
        if array.ndim != 1 or array.size == 0:
            raise AxisError(name, "give a non-empty 1-D sequence of values")
        if array.size > MAX_AXIS_POINTS:
            raise AxisError(name, f"at most {MAX_AXIS_POINTS:,} values per axis, got {array.size:,}")
        if not np.isfinite(array).all():
            raise AxisError(name, "values must be finite")
        array = _round_off_to_zero(array)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", tuple(array.tolist()))

    @classmethod
    def parse(cls, text: str, *, counted=None) -> "Axis":
        """The axis written ``text`` (module docstring). ``counted=True``: the number of points must be given
        (a grid: ``A:B:N`` or a list); ``counted=False``: an interval ``A:B`` of two different ends."""
        name, spec = split_name(text)
        if spec is None or not spec:
            raise AxisError(text, f"expected {GRAMMAR}, e.g. {name}=0.5:1.3:64")
        parts = spec.split(":")
        try:
            if len(parts) == 1:
                values = [float(v) for v in spec.split(",")]
            elif len(parts) == 2:
                values = [float(parts[0]), float(parts[1])]
            elif len(parts) in (3, 4) and (len(parts) == 3 or parts[3].strip() == "log"):
                low, high, count = float(parts[0]), float(parts[1]), int(parts[2])
            else:
                raise ValueError
        except ValueError:
            raise AxisError(text, f"expected {GRAMMAR}, e.g. {name}=0.5:1.3:64") from None
        if len(parts) == 2:
            if counted:
                raise AxisError(text, f"give the number of points: {name}={parts[0]}:{parts[1]}:N")
            if not all(math.isfinite(v) for v in values) or values[0] == values[1]:
                raise AxisError(text, "an interval A:B needs two different finite numbers")
            return cls(name, values)
        if counted is False:
            raise AxisError(text, f"expected an interval A:B (from A towards B), e.g. {name}=0.5:1.3")
        if len(parts) == 1:
            return cls(name, values)
        if not (math.isfinite(low) and math.isfinite(high)) or count < 1 or (count > 1 and low == high):
            raise AxisError(text, "A:B:N needs finite A and B, N >= 1, and A != B when N > 1")
        if count > MAX_AXIS_POINTS:
            raise AxisError(text, f"at most {MAX_AXIS_POINTS:,} points per axis")
        if len(parts) == 4:
            if low <= 0 or high <= 0:
                raise AxisError(text, "a log axis needs A > 0 and B > 0")
            return cls(name, np.geomspace(low, high, count))
        return cls(name, np.linspace(low, high, count))

    @classmethod
    def of(cls, value) -> "Axis":
        """``value`` as an axis: an :class:`Axis` or a pair ``(name, values)``. Text is refused: it is parsed once,
        at the edge (``Axis.parse("k=0.5:1.3")``)."""
        if isinstance(value, Axis):
            return value
        if isinstance(value, str):
            raise AxisError(value, f"pass Axis.parse({value!r}) (or Axis(name, values)), not the text")
        if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
            return cls(*value)
        raise AxisError(value, "expected an Axis, its text or a pair (name, values)")

    @property
    def array(self) -> np.ndarray:
        return np.array(self.values, dtype=float)

    def __len__(self) -> int:
        return len(self.values)

    def to_text(self, counted=None) -> str:
        """``NAME=...`` that :meth:`parse` reads back as this axis: ``A:B:N`` (or ``A:B:N:log``) for evenly (or
        geometrically) spaced values, ``A:B`` for two values unless ``counted``, else the list."""
        values, count = self.values, len(self.values)
        ends = f"{_number_text(values[0])}:{_number_text(values[-1])}"
        if count == 2 and not counted:
            return f"{self.name}={ends}"
        if count >= 2 or counted:
            if tuple(_round_off_to_zero(np.linspace(values[0], values[-1], count)).tolist()) == values:
                return f"{self.name}={ends}:{count}"
            if values[0] > 0 and values[-1] > 0 and tuple(np.geomspace(values[0], values[-1],
                                                                       count).tolist()) == values:
                return f"{self.name}={ends}:{count}:log"
        return f"{self.name}=" + ",".join(_number_text(v) for v in values)

    def __repr__(self) -> str:
        return f"Axis({self.to_text()!r})"


@dataclass(frozen=True)
class Categories:
    """A named, non-empty sequence of distinct names: the values of a setting that is not a number (a network's
    ``parameterization``), e.g. ``Categories("parameterization", ("ntk", "mup"))``; written ``NAME=A,B,...``
    (:meth:`parse`, :meth:`to_text`). Which names a setting accepts is the setting's check.

    >>> Categories.parse("parameterization=ntk,mup").values
    ('ntk', 'mup')
    """

    name: str
    values: tuple

    def __post_init__(self):
        name = _checked_name(self.name, "a setting's name")
        values = (self.values,) if isinstance(self.values, str) else tuple(self.values)
        if not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise AxisError(name, f"give a non-empty list of names, got {self.values!r}"[:200])
        values = tuple(v.strip() for v in values)
        if len(set(values)) != len(values):
            raise AxisError(name, f"each value once, got {', '.join(values)}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "values", values)

    @classmethod
    def parse(cls, text: str) -> "Categories":
        """``NAME=A,B,...``."""
        name, spec = split_name(text)
        if not spec:
            raise AxisError(text, f"expected {name}=A,B,... (names)")
        return cls(name, tuple(spec.split(",")))

    def __len__(self) -> int:
        return len(self.values)

    def to_text(self, counted=None) -> str:
        """``NAME=A,B,...`` (``counted`` is accepted for the interface of :meth:`Axis.to_text`)."""
        return f"{self.name}=" + ",".join(self.values)

    def __repr__(self) -> str:
        return f"Categories({self.to_text()!r})"
