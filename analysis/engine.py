"""Evaluate derived results in the order of the derivation graph, with a disk cache.

The cache key of a result is a hash of the model's description (its SymPy objects), the parameterization, the
result's name and the source of the derivation code, so that a changed model or a changed derivation is never
served stale. Cache directory: ``$SHARPNESS_CACHE_DIR``, else ``~/.cache/sharpness-dynamics``.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import networkx as nx

from . import derivations
from .errors import UserInputError
from .registry import get_model

_CODE_FILES = ("derivations.py", "gram.py", "model.py", "engine.py")


def _code_hash() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    root = os.environ.get("SHARPNESS_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "sharpness-dynamics"


class Derivation:
    """All derived results of one model in one parameterization.

    Examples
    --------
    >>> from analysis import Derivation
    >>> d = Derivation("uv", "mup")
    >>> d.result("sharpness").data["sharpness"]
    lam/2 + sqrt(12*f**2*x**2 - 16*f*x**2*y + lam**2 + 4*x**2*y**2)/2

    Parameters
    ----------
    model:
        a registered model name (see ``sharpness models``) or a :class:`~analysis.model.Model` (e.g. a
        ``product`` variant from ``get_model("product", loss=...)``).
    parameterization:
        one of the model's parameterizations (``sp``/``mup`` for ``uv``); ``None`` takes the first.
    use_cache:
        read and write the disk cache (:func:`cache_dir`).
    """

    def __init__(self, model, parameterization: str | None = None, use_cache: bool = True):
        self.model = get_model(model) if isinstance(model, str) else model
        self.parameterization = self.model.check_parameterization(parameterization)
        self.spec = self.model.describe(self.parameterization)
        self.kind = derivations.kind_of(self.spec)
        self.use_cache = use_cache
        full = derivations.build_graph()
        self.graph = full.subgraph([n for n, kinds in full.nodes(data="kinds") if self.kind in kinds]).copy()
        self._results: dict = {}
        self.computed: list = []  # names derived (not read from cache) in this object's lifetime

    @property
    def available(self) -> list:
        """Result names for this model, in evaluation (topological) order."""
        return list(nx.lexicographical_topological_sort(self.graph))

    def requirements(self, name: str) -> list:
        """``name`` and everything it is derived from, in evaluation order."""
        self._check(name)
        needed = nx.ancestors(self.graph, name) | {name}
        return [n for n in self.available if n in needed]

    def _check(self, name: str):
        if name not in self.graph:
            allowed = ", ".join(self.available)
            raise UserInputError(f"unknown result {name!r} for model {self.model.name!r}; expected one of: {allowed}")

    @property
    def cache_key(self) -> str:
        """Hash of the model description, the parameterization and the derivation code."""
        text = f"{self.spec.fingerprint()}|{self.parameterization}|{_code_hash()}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def _cache_path(self, name: str) -> Path:
        return cache_dir() / f"{self.model.name}-{self.parameterization}-{self.cache_key}" / f"{name}.pickle"

    def result(self, name: str):
        """The result ``name``, derived (with what it needs) or read from the cache."""
        for step in self.requirements(name):
            if step not in self._results:
                self._results[step] = self._load(step) or self._derive(step)
        return self._results[name]

    def results(self, only: str | None = None) -> list:
        names = self.requirements(only) if only else self.available
        return [self.result(n) for n in names]

    def _derive(self, name: str):
        node = derivations.NODES[name]
        inputs = {d: self._results[d] for d in node.depends_on}
        context = derivations.Context(self.model, self.parameterization, self.spec, inputs)
        # Through pickle even when not caching: unpickling re-evaluates SymPy's automatic simplifications
        # (e.g. (a + b)/2 -> a/2 + b/2), so a cold and a cached run must both hand out the unpickled form.
        payload = pickle.dumps(node.derive(context), protocol=pickle.HIGHEST_PROTOCOL)
        self.computed.append(name)
        if self.use_cache:
            self._store(name, payload)
        return pickle.loads(payload)

    def _load(self, name: str):
        if not self.use_cache:
            return None
        path = self._cache_path(name)
        try:
            with path.open("rb") as handle:
                return pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            return None

    def _store(self, name: str, payload: bytes) -> None:
        path = self._cache_path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so an interrupted run never leaves a truncated entry behind.
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(payload)
            os.replace(handle.name, path)
        except OSError:
            pass  # an unwritable cache only costs speed
