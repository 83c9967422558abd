r"""Memory and time budgets: a request is checked against an estimate of what it needs before any work.

The memory budget is a quarter of the machine's physical memory, or ``$SHARPNESS_MAX_MEMORY`` (bytes, or with a
suffix ``K``, ``M``, ``G``), or the ``max_memory`` argument of a measure (``--max-memory`` on the command line).
Work is estimated at :data:`STEPS_PER_SECOND` map steps per second (a conservative figure for the compiled
kernels, ``benchmarks/bench_orbit.py`` measures 10-100x more); work estimated to take longer than
:data:`MAX_SECONDS` is refused with the estimate unless ``force=True`` (``--force``).
"""
from __future__ import annotations

import os

from analysis.errors import DomainError, ResourceLimitError

STEPS_PER_SECOND = 3e7
MAX_SECONDS = 24 * 3600.0
_SUFFIXES = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_bytes(text, name: str = "max_memory") -> int:
    """``"2G"``, ``"512M"``, ``"1000000"`` -> bytes (a positive amount); errors name ``name``."""
    raw = str(text).strip().upper().removesuffix("B").removesuffix("I")
    suffix = raw[-1] if raw and raw[-1] in _SUFFIXES else ""
    try:
        value = float(raw[: len(raw) - len(suffix)]) * _SUFFIXES[suffix]
    except ValueError:
        raise DomainError(name, repr(text), "an amount of memory such as 2G, 512M or 1000000") from None
    if not 1 <= value < 2 ** 60:
        raise DomainError(name, text, "a positive amount of memory")
    return int(value)


def memory_budget(max_memory=None) -> int:
    """Bytes a single request may allocate (module docstring)."""
    if max_memory is not None:
        return parse_bytes(max_memory)
    if os.environ.get("SHARPNESS_MAX_MEMORY"):
        return parse_bytes(os.environ["SHARPNESS_MAX_MEMORY"], "the environment variable SHARPNESS_MAX_MEMORY")
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (OSError, ValueError, AttributeError):  # pragma: no cover - non-POSIX
        return 2 * 1024 ** 3


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"


def check_memory(needed_bytes: float, what: str, fits: str, max_memory=None, **arguments) -> None:
    """Refuse (``ResourceLimitError``) a request needing ``needed_bytes`` beyond the budget; ``fits`` says what
    would fit (e.g. "at most 2,000,000 points"), a template naming arguments as ``{every}`` with ``arguments``
    giving the value it suggests (:class:`~analysis.errors.KeywordError`)."""
    budget = memory_budget(max_memory)
    what = what.replace("{", "{{").replace("}", "}}")  # plain text inside the template
    if needed_bytes > budget:
        raise ResourceLimitError(f"{what} would need {_size(needed_bytes)}, above the memory budget of "
                                 f"{_size(budget)}; {fits} (or raise the budget with {{max_memory}})",
                                 max_memory=None, **arguments)


def check_work(steps: float, what: str, force: bool = False, per_second: float = STEPS_PER_SECOND,
               unit: str = "map steps") -> float:
    """Estimated seconds for ``steps`` steps (``unit``) at ``per_second``; refused beyond :data:`MAX_SECONDS`
    unless ``force``."""
    seconds = float(steps) / per_second
    what = what.replace("{", "{{").replace("}", "}}")  # plain text inside the template
    if seconds > MAX_SECONDS and not force:
        raise ResourceLimitError(f"{what} is estimated at {seconds / 86400:.1f} days ({float(steps):.2g} {unit} "
                                 f"at about {per_second:.0e} per second); reduce it, or pass {{force}} "
                                 "to run it anyway", force=True)
    return seconds
