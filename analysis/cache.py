r"""A verified on-disk store of derived results.

The engine (:mod:`analysis.engine`) stores each derived result as one *entry*: a pickle of the result behind a
header that says what the entry is. A cache directory may be shared, copied between machines, half-written by an
interrupted run or simply corrupted, and unpickling runs code chosen by whoever wrote the bytes; so an entry is
trusted only after the checks below, and anything that fails them is a cache miss (the result is derived again
and the entry overwritten), never an error and never a wrong result.

Entry layout (``head -2`` shows the header)::

    sharpness-dynamics derivation cache\n                       magic string
    {"format": 3, "key": ..., "name": ..., "sha256": ..., "length": ..., "hmac": ...}\n    JSON header
    <length bytes of pickle payload>

:func:`load` reads an entry only if it is a regular file of at most :data:`MAX_ENTRY_BYTES` (not a FIFO, a device
or a symbolic link: :func:`analysis.signing.read_entry`), then checks magic, format version, the full cache key,
the result name, the payload length, its SHA-256 and its HMAC-SHA256 under the user's cache secret
(:mod:`analysis.signing`) *before* unpickling. The checksum catches corruption (a truncated file, a bit flip), the
key and name catch an entry copied from another model, parameterization or result, and the HMAC a crafted entry:
only a process that can read the secret, which lives outside the cache, can write an entry that verifies. As a
second line of defence the payload is then unpickled by :class:`RestrictedUnpickler`, which builds only the
classes derived results are made of, never hands a string to a SymPy constructor, and refuses everything else.

Writes are atomic (a temporary file renamed over the entry), so a reader sees the old entry or the new one,
and an unwritable cache directory only costs speed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import pickle
import sys
from pathlib import Path

import sympy as sp

from . import signing
from .atomic import write_atomic
from .errors import DerivationTimeout

MAGIC = b"sharpness-dynamics derivation cache\n"
# 2: typed results (analysis.derivations.results) replaced the generic Result (its fields in a dict); 3: the
# header carries an HMAC. An entry of an older format is a miss (re-derived and overwritten), never unpickled
# into a class that no longer fits it.
FORMAT_VERSION = 3
# The largest entry read (bytes): the largest real one, a product model's results, is ~0.2 MB; anything far beyond
# is not an entry and is skipped before it is read (a file of gigabytes must not exhaust memory).
MAX_ENTRY_BYTES = 64 * 1024 ** 2
MAC_KIND = "derivation-cache"
_MAX_HEADER = 4096  # bytes; a real header is ~250, so anything longer is not one

# The SymPy classes a derived result may be made of; ``find_class`` resolves nothing else from SymPy, whose other
# modules hold functions that run code (``sympify`` and ``parse_expr`` evaluate strings, ``lambdify`` executes
# generated source, ``preview`` spawns LaTeX), so the rule is not "anything from sympy".
#
# Expression classes: any subclass of ``sympy.Basic`` defined in one of these modules. Pickling every result of
# every registered model (and ``product`` at depth 3) needs Add, Mul, Pow, Symbol, Integer, Rational, Half, One,
# Zero, NegativeOne, StrictLessThan, StrictGreaterThan, BooleanFalse, Abs and Max; user losses (``product
# --loss``) add exp, log, sin, cos, tanh, pi and E, and solving for their fixed points brings in whatever SymPy's
# solvers return (LambertW, asin, acos, sinh, cosh, ...: an open set), hence modules rather than names.
SYMPY_EXPRESSION_MODULES = frozenset({
    "sympy.core.add", "sympy.core.mul", "sympy.core.power", "sympy.core.symbol", "sympy.core.numbers",
    "sympy.core.relational", "sympy.logic.boolalg",
    "sympy.functions.elementary.complexes", "sympy.functions.elementary.exponential",
    "sympy.functions.elementary.hyperbolic", "sympy.functions.elementary.integers",
    "sympy.functions.elementary.miscellaneous", "sympy.functions.elementary.piecewise",
    "sympy.functions.elementary.trigonometric",
})
# Not expressions, so named one by one: a dense matrix and its internal representation.
SYMPY_MATRIX_CLASSES = {
    "sympy.matrices.dense": {"MutableDenseMatrix"},
    "sympy.polys.matrices.domainmatrix": {"DomainMatrix"},
    "sympy.polys.domains.expressionrawdomain": {"ExpressionRawDomain"},
    "sympy.polys.domains.integerring": {"IntegerRing"},
}
# The expression classes the analysis package defines itself (results may hold them).
ANALYSIS_EXPRESSION_CLASSES = {"analysis.derivations.spectrum": {"PolynomialRoot"}}
# The analysis dataclasses a derived result is made of: the typed results, the records inside them and their
# displayed equations. Nothing else of the package is built by the unpickler.
ANALYSIS_RESULT_CLASSES = {
    "analysis.derivations.results": {"StateDefinitions", "ParameterUpdate", "FunctionMap", "Loss", "Jacobian",
                                     "HessianSpectrum", "Sharpness", "FixedPoints", "Stability", "EoSManifolds",
                                     "EoSMap", "Minima", "NormalForm", "GradSharpness", "CentralFlowField",
                                     "MeanSquare"},
    "analysis.derivations.records": {"FixedPointSolution", "StabilityBoundary", "FixedPointStability",
                                     "InvariantManifold", "MomentumInvariantManifold", "EoSReduction",
                                     "ZeroLossSet"},
    "analysis.derivations.normal_form": {"FlipCoefficient"},
    "analysis.derivations.graph": {"Equation"},
}


def cache_dir() -> Path:
    """``$SHARPNESS_CACHE_DIR``, else ``~/.cache/sharpness-dynamics``."""
    root = os.environ.get("SHARPNESS_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "sharpness-dynamics"


@functools.lru_cache(maxsize=None)
def source_fingerprint() -> str:
    """SHA-256 of the source of every ``.py`` file of the ``analysis`` package, SymPy's version and Python's
    ``major.minor``: a change to any of them may change a derived result (or its pickle), so it is part of every
    cache key. Files are hashed in sorted order of their relative paths, each framed by path and length, so that
    moving code between files changes the fingerprint too. Computed once per process."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    sources = sorted((path.relative_to(package).as_posix(), path) for path in package.rglob("*.py") if path.is_file())
    for relative, path in sources:
        data = path.read_bytes()
        digest.update(f"{relative}\0{len(data)}\0".encode())
        digest.update(data)
    digest.update(f"sympy {sp.__version__}\0python {sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def entry_path(directory: Path, name: str) -> Path:
    """Where the entry of result ``name`` lives in ``directory``."""
    return Path(directory) / f"{name}.pickle"


def store(directory: Path, key: str, name: str, payload: bytes) -> None:
    """Write ``payload`` (a pickle of result ``name``) as a verified entry for ``key``.

    Atomic: the entry is written to a temporary file in the same directory and renamed over the old one, so an
    interrupted run never leaves a half-written entry under the entry's name. Any ``OSError`` (a read-only or
    full disk, a file where the directory should be) skips the write: an unwritable cache only costs speed.
    """
    if not signing.persistent():
        return  # no stored secret: an entry written now could never be verified
    path = entry_path(directory, name)
    header = {"format": FORMAT_VERSION, "key": key, "name": name,
              "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload),
              "hmac": signing.mac(MAC_KIND, f"{key}/{name}", payload)}
    with contextlib.suppress(OSError):  # the entry is a pickle this package loads: private (mode 0600)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + payload, private=True)


def load(directory: Path, key: str, name: str):
    """The result ``name`` stored for ``key`` in ``directory``, or ``None`` on a miss. Raises nothing but a
    :class:`~analysis.errors.DerivationTimeout` of the caller's.

    A missing entry is a silent miss, and so is every entry when the user's cache secret is not stored
    (:func:`analysis.signing.persistent`). An entry that fails verification or unpickling for any reason (garbage,
    a truncated file, a foreign pickle, a flipped bit, an entry written for another key or result or signed with
    another key, a refused class, a FIFO, a device, a link, an oversized file) is a miss too, reported as one line
    on stderr and removed, so that the caller derives the result again and overwrites it.
    """
    if not signing.persistent():
        return None
    path = entry_path(directory, name)
    try:
        data = signing.read_entry(path, MAX_ENTRY_BYTES)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except signing.UntrustedEntry as error:
        return _reject(path, str(error))
    try:
        return RestrictedUnpickler(io.BytesIO(_verified_payload(data, key, name))).load()
    except DerivationTimeout:
        raise  # a caller's time budget ran out while reading; that says nothing about the entry
    except InvalidEntry as error:
        return _reject(path, str(error))
    except Exception as error:  # noqa: BLE001 - whatever a corrupt or crafted payload raises, it is a miss
        return _reject(path, f"unpickling failed: {type(error).__name__}: {error}")


class InvalidEntry(Exception):
    """An entry that fails a check; the message is the reason shown to the user."""


def _verified_payload(data: bytes, key: str, name: str) -> bytes:
    """The payload of entry ``data`` once its header matches ``key`` and ``name`` and its checksum matches."""
    if not data.startswith(MAGIC):
        raise InvalidEntry("not a cache entry")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    try:
        if end < 0:
            raise ValueError
        header = json.loads(data[len(MAGIC):end])
        version, written_key, written_name = header["format"], header["key"], header["name"]
        checksum, length, signature = header["sha256"], header["length"], header.get("hmac")
    except (ValueError, TypeError, KeyError):
        raise InvalidEntry("unreadable header") from None
    if version != FORMAT_VERSION:
        raise InvalidEntry(f"format {version!r}, expected {FORMAT_VERSION}")
    if written_key != key:
        raise InvalidEntry("written for another model, parameterization or source")
    if written_name != name:
        raise InvalidEntry(f"holds result {written_name!r}, expected {name!r}")
    payload = data[end + 1:]
    if len(payload) != length:
        raise InvalidEntry(f"payload is {len(payload)} bytes, header says {length}")
    if hashlib.sha256(payload).hexdigest() != checksum:
        raise InvalidEntry("checksum mismatch")
    try:
        signing.verify(MAC_KIND, f"{key}/{name}", payload, signature)
    except signing.UntrustedEntry as error:
        raise InvalidEntry(str(error)) from None
    return payload


def _reject(path: Path, reason: str) -> None:
    reason = " ".join(reason.split())[:200]  # one line, whatever the exception text
    with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr must not turn a miss into an error
        print(f"sharpness: cache entry {path} failed verification ({reason}); re-deriving", file=sys.stderr)
    _remove(path)
    return None


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickles derived results and nothing else.

    ``find_class`` resolves only SymPy expression classes (:data:`SYMPY_EXPRESSION_MODULES`), the matrix classes
    of :data:`SYMPY_MATRIX_CLASSES`, the expression classes of :data:`ANALYSIS_EXPRESSION_CLASSES`
    (:class:`~analysis.derivations.spectrum.PolynomialRoot`) and the result dataclasses of
    :data:`ANALYSIS_RESULT_CLASSES` (the typed results and the records inside them): no function, and no builtins, ``copyreg`` or ``collections`` name (results need none). So a payload that calls
    ``os.system``, ``builtins.eval``/``exec``, ``subprocess`` or anything else by name is refused.

    That alone is not enough: SymPy function classes such as ``Max`` and ``Abs`` (which results need) pass their
    arguments through the non-strict ``sympify``, which *evaluates a string as Python*, so ``Max("__import__('os')
    .system(...)")`` built by a crafted pickle would run code through an allowed class. Hence the second rule: a
    string never reaches a SymPy constructor, nor the state of a SymPy object, except as the name of a symbol.
    This needs to see each constructor call's arguments, which the C unpickler does not expose, so this is the
    pure-Python ``pickle._Unpickler`` with its constructing opcodes wrapped; opcodes that results never use are
    refused outright.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        if name in SYMPY_MATRIX_CLASSES.get(module, ()) or name in ANALYSIS_EXPRESSION_CLASSES.get(module, ()):
            return super().find_class(module, name)
        if name in ANALYSIS_RESULT_CLASSES.get(module, ()):
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == module and dataclasses.is_dataclass(found):
                return found
        # A class defined in the module itself (not one it imports) and reached by its plain name (protocol 4
        # resolves dotted names attribute by attribute).
        if module in SYMPY_EXPRESSION_MODULES and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == module and issubclass(found, sp.Basic):
                return found
        raise pickle.UnpicklingError(f"refused {module}.{name}")

    def _load_reduce(self):
        _check_construction(self.stack[-2], self.stack[-1], {})
        pickle._Unpickler.load_reduce(self)

    def _load_newobj(self):
        _check_construction(self.stack[-2], self.stack[-1], {})
        pickle._Unpickler.load_newobj(self)

    def _load_newobj_ex(self):
        _check_construction(self.stack[-3], self.stack[-2], self.stack[-1])
        pickle._Unpickler.load_newobj_ex(self)

    def _load_build(self):
        instance, state = self.stack[-2], self.stack[-1]
        if _is_sympy(type(instance)):
            what = f"the state of {type(instance).__name__}"
            for part in state if isinstance(state, tuple) else (state,):  # (dict state, slot state) or one state
                if isinstance(part, dict):
                    if any(not isinstance(k, str) or k.startswith("__") for k in part):
                        raise pickle.UnpicklingError(f"refused an attribute name in {what}")
                    part = list(part.values())
                _refuse_text(part, f"text in {what}")
        pickle._Unpickler.load_build(self)

    def _refuse_opcode(self):
        raise pickle.UnpicklingError("refused a protocol 0/1 constructor opcode")

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.INST[0]] = _refuse_opcode
    dispatch[pickle.OBJ[0]] = _refuse_opcode


def _is_sympy(cls) -> bool:
    return cls.__module__.split(".")[0] == "sympy"


def _check_construction(cls, args, kwargs) -> None:
    """Refuse a constructor call by the unpickler unless ``cls`` is a class and, for a SymPy class, no string is
    among its arguments (but the name of a symbol, which is never parsed); see :class:`RestrictedUnpickler`."""
    if not isinstance(cls, type):
        raise pickle.UnpicklingError(f"refused a call of a {type(cls).__name__} instance")
    if not _is_sympy(cls):
        return  # an analysis dataclass: plain data, strings included
    if issubclass(cls, sp.Symbol) and args and isinstance(args[0], str):  # Symbol, Dummy
        args = args[1:]
    _refuse_text([args, list(kwargs.values())], f"text in the arguments of {cls.__name__}")


def _refuse_text(value, what: str) -> None:
    """Raise if a string or bytes object is anywhere in ``value`` (through tuples, lists, sets and dicts)."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue  # a pickle can build self-referencing containers
        seen.add(id(item))
        if isinstance(item, (str, bytes, bytearray)):
            raise pickle.UnpicklingError(f"refused {what}")
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (tuple, list, set, frozenset)):
            pending.extend(item)
